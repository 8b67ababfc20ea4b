"""The drug catalogue and the corticosteroid limits, kept by administrators (/admin/drugs,
routes of the admin blueprint: ``register`` adds them to it)."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from clinic.extensions import db
from clinic.forms.medications import DrugForm, SteroidLimitForm
from clinic.models import Drug, SteroidLimit
from clinic.security import role_required
from clinic.services import DomainError
from clinic.views.common import saving


@role_required("admin")
def drugs():
    """The drugs a physician records at completion, and the clinic's corticosteroid limits."""
    catalogue = db.session.execute(select(Drug).order_by(Drug.active.desc(), Drug.name)).scalars()
    limits = db.session.execute(select(SteroidLimit).order_by(SteroidLimit.window_months)).scalars()
    return render_template("admin/drugs.html", catalogue=list(catalogue), limits=list(limits))


@role_required("admin")
def edit_drug(drug_id: int | None = None):
    """Add a drug or change one: its unit, corticosteroid equivalence and usual largest dose."""
    drug = db.session.get(Drug, drug_id) if drug_id else Drug()
    if drug is None:
        abort(404)
    form = DrugForm(obj=drug if drug_id and request.method == "GET" else None)
    if form.validate_on_submit():
        name = form.name.data.strip().lower()
        taken = db.session.execute(
            select(Drug).where(Drug.name == name, Drug.id != (drug.id or 0))
        ).scalar_one_or_none()
        with saving(form) as saved:
            if taken:
                raise DomainError(f"There is already a drug called {name}.", "name")
            if form.equivalent_mg.data is not None and form.unit.data != "mg":
                raise DomainError(
                    "A corticosteroid is recorded in mg: choose “Dose in mg” or leave the "
                    "equivalence empty.",
                    "equivalent_mg",
                )
            form.populate_obj(drug)
            drug.name = name
            db.session.add(drug)
        if saved:
            flash(f"Drug {drug.name} saved.", "success")
            return redirect(url_for("admin.drugs"))
    return render_template("admin/drug_form.html", form=form, drug=drug if drug_id else None)


@role_required("admin")
def edit_drug_limit(limit_id: int):
    """Change a corticosteroid limit: its rolling window and its methylprednisolone-equivalent mg."""
    limit = db.session.get(SteroidLimit, limit_id)
    if limit is None:
        abort(404)
    form = SteroidLimitForm(obj=limit if request.method == "GET" else None)
    if form.validate_on_submit():
        taken = db.session.execute(
            select(SteroidLimit).where(
                SteroidLimit.window_months == form.window_months.data, SteroidLimit.id != limit.id
            )
        ).scalar_one_or_none()
        with saving(form) as saved:
            if taken:
                raise DomainError(
                    f"There is already a limit over {form.window_months.data} months.",
                    "window_months",
                )
            form.populate_obj(limit)
        if saved:
            flash("Corticosteroid limit saved.", "success")
            return redirect(url_for("admin.drugs"))
    return render_template("admin/steroid_limit_form.html", form=form, limit=limit)


def register(bp: Blueprint) -> None:
    """Add the drug catalogue's pages to the admin blueprint."""
    both = ["GET", "POST"]
    bp.add_url_rule("/drugs", view_func=drugs)
    bp.add_url_rule("/drugs/new", view_func=edit_drug, methods=both)
    bp.add_url_rule("/drugs/<int:drug_id>", view_func=edit_drug, methods=both)
    bp.add_url_rule("/drugs/limits/<int:limit_id>", view_func=edit_drug_limit, methods=both)
