"""Relief per procedure: the Kaplan–Meier report (the relief rules of docs/rules.md)."""

from flask import Blueprint, Response, abort, render_template, request, url_for
from sqlalchemy import select

from clinic.extensions import db
from clinic.forms.relief import ALL, COMMON_THRESHOLDS, ReliefFilterForm
from clinic.models import CONDITION_LABELS, Drug, ProcedureType, StaffUser
from clinic.security import LARGEST_RECORD_ID, role_required
from clinic.services.filters import NO_STEROID, ReportFilters
from clinic.services.relief import blocks, charts, reports
from clinic.services.relief.rules import format_percent

bp = Blueprint("relief", __name__, url_prefix="/reports")

READERS = ("physician", "manager", "admin")


def filter_form(with_choices: bool = True) -> ReliefFilterForm:
    """The filter form read from the query string, its choices from the catalogue and staff."""
    form = ReliefFilterForm(formdata=request.args if request.args else None)
    physicians = procedures = []
    if with_choices:
        physicians = db.session.execute(
            select(StaffUser.id, StaffUser.full_name, StaffUser.active)
            .where(StaffUser.role == "physician")
            .order_by(StaffUser.full_name)
        ).all()
        procedures = db.session.execute(
            select(ProcedureType.code, ProcedureType.name).order_by(ProcedureType.code)
        ).all()
    form.physician_id.choices = [(0, "All physicians")] + [
        (id_, name if active else f"{name} (inactive)") for id_, name, active in physicians
    ]
    form.procedure_code.choices = [(ALL, "All procedures")] + [
        (code, f"{code} — {name}") for code, name in procedures
    ]
    form.steroid.choices = steroid_choices()
    if not with_choices:
        # The chart only needs the values checked, not the names: accept what was asked for.
        if form.physician_id.data and 0 < form.physician_id.data <= LARGEST_RECORD_ID:
            form.physician_id.choices.append((form.physician_id.data, ""))
        if form.procedure_code.data:
            form.procedure_code.choices.append((form.procedure_code.data, ""))
    return form


def steroid_choices() -> list[tuple[str, str]]:
    """Any drug, each corticosteroid of the catalogue, or none: to compare relief by drug."""
    steroids = db.session.execute(
        select(Drug.name).where(Drug.equivalent_mg.is_not(None)).order_by(Drug.name)
    ).scalars()
    return (
        [(ALL, "Any or none")]
        + [(name, name.capitalize()) for name in steroids]
        + [(NO_STEROID, "No corticosteroid")]
    )


def report_filters(form: ReliefFilterForm) -> ReportFilters:
    return ReportFilters(
        date_from=form.date_from.data,
        date_to=form.date_to.data,
        threshold=float(form.threshold.data),
        physician_id=form.physician_id.data or None,
        condition=form.condition.data or None,
        procedure_code=form.procedure_code.data or None,
        steroid=form.steroid.data or None,
    )


def threshold_arg(value: float) -> str:
    """The threshold exactly as asked ("50", "33.35"), so the chart draws what the page shows."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def query_args(form: ReliefFilterForm) -> dict[str, str]:
    """The form's values as query arguments, leaving out what is at its default."""
    args = {
        "date_from": form.date_from.data.isoformat() if form.date_from.data else None,
        "date_to": form.date_to.data.isoformat() if form.date_to.data else None,
        "physician_id": str(form.physician_id.data) if form.physician_id.data else None,
        "condition": form.condition.data or None,
        "procedure_code": form.procedure_code.data or None,
        "steroid": form.steroid.data or None,
        "threshold": threshold_arg(form.threshold.data),
        "group_by": form.group_by.data,
    }
    return {key: value for key, value in args.items() if value}


def filter_words(form: ReliefFilterForm) -> str:
    """The selection in words, for the page heading and for print."""
    parts = []
    if form.date_from.data and form.date_to.data:
        parts.append(
            f"performed {form.date_from.data.isoformat()} to {form.date_to.data.isoformat()}"
        )
    elif form.date_from.data:
        parts.append(f"performed on or after {form.date_from.data.isoformat()}")
    elif form.date_to.data:
        parts.append(f"performed on or before {form.date_to.data.isoformat()}")
    else:
        parts.append("performed at any date")
    choices = {
        "physician_id": dict(form.physician_id.choices),
        "procedure_code": dict(form.procedure_code.choices),
    }
    if form.physician_id.data:
        parts.append(f"by {choices['physician_id'].get(form.physician_id.data, 'one physician')}")
    if form.procedure_code.data:
        parts.append(f"procedure {form.procedure_code.data}")
    if form.condition.data:
        parts.append(f"patients with {CONDITION_LABELS[form.condition.data].lower()}")
    if form.steroid.data == NO_STEROID:
        parts.append("given no corticosteroid")
    elif form.steroid.data:
        parts.append(f"given {form.steroid.data}")
    return "Completed interventions " + ", ".join(parts)


@bp.route("/relief")
@role_required(*READERS)
def relief():
    """Relief per procedure type (or physician, or condition): figures, words, chart, log-rank."""
    form = filter_form()
    if request.args and not form.validate():
        return render_template(
            "relief/relief.html",
            form=form,
            invalid=True,
            thresholds=COMMON_THRESHOLDS,
        )
    report = reports.relief_report(db.session, report_filters(form), form.group_by.data)
    diagnostic_blocks = blocks.diagnostic_blocks(db.session, report_filters(form))
    db.session.commit()  # keeps the figures for the chart and the next reader (reports.cache)
    summaries = report.summaries
    charted = [s for s in summaries if s.km is not None]
    args = query_args(form)
    width, height = charts.chart_size(len(charted))
    return render_template(
        "relief/relief.html",
        form=form,
        invalid=False,
        summaries=summaries,
        charted=charted,
        comparison=report.comparison,
        diagnostic_blocks=diagnostic_blocks,
        threshold=format_percent(form.threshold.data),
        grouped_by=reports.GROUPINGS[form.group_by.data],
        selection=filter_words(form),
        chart_url=url_for("relief.relief_chart", **args),
        chart_width=round(width * charts.CHART_DPI),
        chart_height=round(height * charts.CHART_DPI),
        thresholds=COMMON_THRESHOLDS,
        threshold_links={
            t: url_for("relief.relief", **{**args, "threshold": str(t)}) for t in COMMON_THRESHOLDS
        },
    )


@bp.route("/relief/chart.svg")
@role_required(*READERS)
def relief_chart():
    """The report's Kaplan–Meier chart as an SVG image (the page shows it in an <img>)."""
    form = filter_form(with_choices=False)
    if request.args and not form.validate():
        unread = ", ".join(form[name].label.text for name in sorted(form.errors))
        abort(
            400,
            description=f"The chart’s filters could not be read ({unread}): "
            "choose them on the report page.",
        )
    # The figures the page computed and kept, read back (computed here only if the data changed).
    summaries = reports.relief_summary(db.session, report_filters(form), form.group_by.data)
    db.session.commit()
    svg = charts.relief_chart_svg(summaries, float(form.threshold.data), form.group_by.data)
    response = Response(svg, mimetype="image/svg+xml")
    # An image document: its own styles are inline (matplotlib), and it may run nothing.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
