"""Staff accounts, kept by administrators."""

from datetime import time

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from clinic.extensions import db
from clinic.forms.admin import (
    EditStaffForm,
    EligibilityRuleForm,
    NewStaffForm,
    ProcedureTypeForm,
    RoomForm,
)
from clinic.forms.sessions import RemoveSessionForm, SessionForm, VisitLengthsForm
from clinic.models import (
    PhysicianSession,
    ProcedureType,
    RepeatEligibilityRule,
    Room,
    SessionException,
    StaffUser,
    VisitKindLength,
)
from clinic.models.scheduling import DEFAULT_FOLLOWUP_SCHEDULE, VISIT_KINDS
from clinic.models.sessions import SESSION_KIND_LABELS, VISIT_DEFAULT_MINUTES, WEEKDAY_NAMES
from clinic.security import role_required
from clinic.services import DomainError
from clinic.services.followup.schedules import parse_schedule
from clinic.services.identity import accounts
from clinic.services.relief.eligibility import parse_codes
from clinic.services.scheduling import sessions as session_rules
from clinic.views import admin_drugs
from clinic.views.common import (
    clinic_today,
    clinic_zone,
    physician_choices,
    room_choices,
    saving,
)
from clinic.views.params import text_arg

bp = Blueprint("admin", __name__, url_prefix="/admin")
admin_drugs.register(bp)  # the drug catalogue and corticosteroid limits


def get_user_or_404(user_id: int) -> StaffUser:
    user = db.session.get(StaffUser, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users")
@role_required("admin")
def users():
    """Every staff account with its role, state and last sign-in."""
    staff = (
        db.session.execute(select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.full_name))
        .scalars()
        .all()
    )
    return render_template("admin/users.html", staff=staff)


@bp.route("/users/new", methods=["GET", "POST"])
@role_required("admin")
def new_user():
    """Create a staff account with a first password the person changes later."""
    form = NewStaffForm()
    if form.validate_on_submit():
        with saving(form, "username") as saved:
            user = accounts.create_user(
                db.session,
                form.username.data,
                form.full_name.data,
                form.role.data,
                form.password.data,
            )
        if saved:
            flash(f"Account {user.username} created for {user.full_name}.", "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@role_required("admin")
def edit_user(user_id: int):
    """Change a person's name, role, active flag or password (ends their other sessions)."""
    user = get_user_or_404(user_id)
    form = EditStaffForm(obj=user)
    if form.validate_on_submit():
        with saving(form, "password") as saved:
            user.full_name = form.full_name.data.strip()
            if form.role.data != user.role:
                accounts.set_role(db.session, user, form.role.data)
            if form.active.data != user.active:
                accounts.set_active(db.session, user, form.active.data)
            if form.password.data:
                accounts.set_password(db.session, user, form.password.data)
        if saved:
            flash(f"Account {user.username} saved.", "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=user)


def minutes_of(value: time) -> int:
    return value.hour * 60 + value.minute


def time_of(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


@bp.route("/rooms")
@role_required("admin")
def rooms():
    """Rooms that can be booked, with their opening hours."""
    all_rooms = (
        db.session.execute(select(Room).order_by(Room.active.desc(), Room.name)).scalars().all()
    )
    return render_template("admin/rooms.html", rooms=all_rooms, time_of=time_of)


@bp.route("/rooms/new", methods=["GET", "POST"])
@bp.route("/rooms/<int:room_id>", methods=["GET", "POST"])
@role_required("admin")
def edit_room(room_id: int | None = None):
    """Add a room or change its name, opening hours or whether it is in use."""
    room = db.session.get(Room, room_id) if room_id else Room()
    if room is None:
        abort(404)
    form = RoomForm()
    if request.method == "GET" and room_id:
        form.name.data = room.name
        form.opens_at.data = time_of(room.opens_at_minute)
        form.closes_at.data = time_of(room.closes_at_minute)
        form.active.data = room.active
    elif request.method == "GET":
        form.opens_at.data, form.closes_at.data = time(7), time(19)
    if form.validate_on_submit():
        name = form.name.data.strip()
        taken = db.session.execute(
            select(Room).where(Room.name == name, Room.id != (room.id or 0))
        ).scalar_one_or_none()
        if taken:
            form.name.errors.append(f"There is already a room called {name}.")
        else:
            room.name = name
            room.opens_at_minute = minutes_of(form.opens_at.data)
            room.closes_at_minute = minutes_of(form.closes_at.data)
            room.active = form.active.data
            db.session.add(room)
            db.session.commit()
            flash(f"Room {room.name} saved.", "success")
            return redirect(url_for("admin.rooms"))
    return render_template("admin/room_form.html", form=form, room=room if room_id else None)


@bp.route("/procedures")
@role_required("admin")
def procedures():
    """The procedure catalogue: codes, CPT codes and follow-up schedules."""
    catalogue = (
        db.session.execute(
            select(ProcedureType).order_by(
                ProcedureType.active.desc(), ProcedureType.category, ProcedureType.code
            )
        )
        .scalars()
        .all()
    )
    return render_template("admin/procedures.html", catalogue=catalogue)


@bp.route("/procedures/new", methods=["GET", "POST"])
@bp.route("/procedures/<int:procedure_type_id>", methods=["GET", "POST"])
@role_required("admin")
def edit_procedure(procedure_type_id: int | None = None):
    """Add a procedure type or change one; the follow-up schedule must be readable."""
    procedure_type = (
        db.session.get(ProcedureType, procedure_type_id) if procedure_type_id else ProcedureType()
    )
    if procedure_type is None:
        abort(404)
    form = ProcedureTypeForm(
        obj=procedure_type if procedure_type_id and request.method == "GET" else None
    )
    if request.method == "GET" and not procedure_type_id:
        form.followup_schedule.data = DEFAULT_FOLLOWUP_SCHEDULE
    if form.validate_on_submit():
        code = form.code.data.strip().upper()
        taken = db.session.execute(
            select(ProcedureType).where(
                ProcedureType.code == code, ProcedureType.id != (procedure_type.id or 0)
            )
        ).scalar_one_or_none()
        with saving(form, "followup_schedule") as saved:
            parse_schedule(form.followup_schedule.data)
            if taken:
                raise DomainError(f"The code {code} is already used by {taken.name}.", "code")
            kept_minutes = procedure_type.default_minutes or 30
            form.populate_obj(procedure_type)
            procedure_type.default_minutes = form.default_minutes.data or kept_minutes
            procedure_type.code = code
            procedure_type.cpt_code = (form.cpt_code.data or "").strip() or None
            db.session.add(procedure_type)
        if saved:
            flash(f"Procedure {procedure_type.code} saved.", "success")
            return redirect(url_for("admin.procedures"))
    return render_template(
        "admin/procedure_form.html",
        form=form,
        procedure_type=procedure_type if procedure_type_id else None,
    )


@bp.route("/eligibility-rules")
@role_required("admin")
def eligibility_rules():
    """The payers' repeat-eligibility rules, as data the patient page applies."""
    rules = (
        db.session.execute(select(RepeatEligibilityRule).order_by(RepeatEligibilityRule.code))
        .scalars()
        .all()
    )
    return render_template("admin/eligibility_rules.html", rules=rules)


@bp.route("/eligibility-rules/<int:rule_id>", methods=["GET", "POST"])
@role_required("admin")
def edit_eligibility_rule(rule_id: int):
    """Change a rule's thresholds, procedures or session limit."""
    rule = db.session.get(RepeatEligibilityRule, rule_id)
    if rule is None:
        abort(404)
    form = EligibilityRuleForm(obj=rule if request.method == "GET" else None)
    form.known_codes = frozenset(db.session.execute(select(ProcedureType.code)).scalars())
    if form.validate_on_submit():
        form.populate_obj(rule)
        rule.target_codes = " ".join(sorted(parse_codes(form.target_codes.data)))
        rule.prior_codes = " ".join(sorted(parse_codes(form.prior_codes.data)))
        db.session.commit()
        flash(f"Rule “{rule.description}” saved.", "success")
        return redirect(url_for("admin.eligibility_rules"))
    return render_template("admin/eligibility_rule_form.html", form=form, rule=rule)


@bp.route("/visit-lengths", methods=["GET", "POST"])
@role_required("admin")
def visit_lengths():
    """How long each kind of visit lasts by default (the booking form and slot finder use it)."""
    rows = {row.visit_kind: row for row in db.session.execute(select(VisitKindLength)).scalars()}
    form = VisitLengthsForm()
    if request.method == "GET":
        for kind in VISIT_KINDS:
            form[kind].data = (
                rows[kind].default_minutes if kind in rows else VISIT_DEFAULT_MINUTES[kind]
            )
    if form.validate_on_submit():
        with saving(form) as saved:
            for kind in VISIT_KINDS:
                row = rows.get(kind) or VisitKindLength(visit_kind=kind)
                row.default_minutes = form[kind].data
                db.session.add(row)
        if saved:
            flash("Visit lengths saved.", "success")
            return redirect(url_for("admin.procedures"))
    return render_template("admin/visit_lengths.html", form=form)


SESSION_KEEPERS = ("admin", "front_desk")
# Upcoming exceptions shown at once; the count says how many there are in all.
EXCEPTIONS_SHOWN = 50
# Weekly sessions shown for everyone at once (a large practice has hundreds): the rest by physician.
WEEKLY_SHOWN = 80


@bp.route("/sessions", methods=["GET", "POST"])
@role_required(*SESSION_KEEPERS)
def sessions():
    """Physicians' weekly sessions and dated exceptions: list them, add one."""
    zone = clinic_zone()
    physician = None
    username = text_arg("physician")
    if username:
        physician = db.session.execute(
            select(StaffUser).where(StaffUser.username == username, StaffUser.role == "physician")
        ).scalar_one_or_none()
        if physician is None:
            abort(400, f"No physician has the username {username}: choose one from the list.")
    form = SessionForm()
    form.physician_id.choices = physician_choices()
    form.room_id.choices = room_choices()
    if request.method == "GET" and physician is not None:
        form.physician_id.data = physician.id
    if form.validate_on_submit():
        with saving(form) as saved:
            added = session_rules.add_session(db.session, _session_request(form), zone)
        if saved:
            flash(f"Saved: {added}.", "success")
            return redirect(url_for("admin.sessions", physician=username or None))
    weekly = select(PhysicianSession).options(
        joinedload(PhysicianSession.physician), joinedload(PhysicianSession.room)
    )
    upcoming = select(SessionException).where(SessionException.day >= clinic_today())
    if physician is not None:
        weekly = weekly.where(PhysicianSession.physician_id == physician.id)
        upcoming = upcoming.where(SessionException.physician_id == physician.id)
    weekly = weekly.join(PhysicianSession.physician).order_by(
        StaffUser.full_name, PhysicianSession.weekday, PhysicianSession.start_minute
    )
    weekly_count = db.session.execute(
        select(func.count()).select_from(weekly.subquery())
    ).scalar_one()
    upcoming_count = db.session.execute(
        select(func.count()).select_from(upcoming.subquery())
    ).scalar_one()
    exceptions = db.session.execute(
        upcoming.options(joinedload(SessionException.physician), joinedload(SessionException.room))
        .order_by(SessionException.day, SessionException.start_minute, SessionException.id)
        .limit(EXCEPTIONS_SHOWN)
    ).scalars()
    return render_template(
        "admin/sessions.html",
        form=form,
        physician=physician,
        physicians=form.physician_id.choices,
        usernames=_physician_usernames(),
        # One physician's week is shown whole; everyone's, in part.
        weekly=list(
            db.session.execute(weekly if physician else weekly.limit(WEEKLY_SHOWN)).scalars()
        ),
        weekly_count=weekly_count,
        exceptions=list(exceptions),
        upcoming_count=upcoming_count,
        remove_form=RemoveSessionForm(),
        weekdays=WEEKDAY_NAMES,
        kinds=SESSION_KIND_LABELS,
        minutes_label=session_rules.minutes_label,
    )


def _physician_usernames() -> list[tuple[str, str]]:
    rows = db.session.execute(
        select(StaffUser.username, StaffUser.full_name)
        .where(StaffUser.role == "physician", StaffUser.active.is_(True))
        .order_by(StaffUser.full_name)
    ).all()
    return [(username, name) for username, name in rows]


def _session_request(form: SessionForm) -> session_rules.SessionRequest:
    """The form as a request; a day off without times is the whole day."""
    change = form.change.data
    start, end = form.start_time.data, form.end_time.data
    if change == "off" and start is None and end is None:
        start_minute, end_minute = 0, session_rules.MINUTES_IN_DAY
    else:
        if start is None:
            raise DomainError("Enter the start as HH:MM.", "start_time")
        if end is None:
            raise DomainError("Enter the end as HH:MM.", "end_time")
        start_minute = minutes_of(start)
        # An end of 00:00 is the midnight that closes the day.
        end_minute = minutes_of(end) or session_rules.MINUTES_IN_DAY
    return session_rules.SessionRequest(
        physician_id=form.physician_id.data,
        start_minute=start_minute,
        end_minute=end_minute,
        kind=form.kind.data,
        room_id=form.room_id.data or None,
        weekday=form.weekday.data if change == "weekly" else None,
        day=form.day.data if change != "weekly" else None,
        change=change,
        note=form.note.data,
    )


@bp.route("/sessions/remove", methods=["POST"])
@role_required(*SESSION_KEEPERS)
def remove_session():
    """Remove one weekly session or one dated exception."""
    form = RemoveSessionForm()
    if not form.validate_on_submit():
        abort(400, "Choose a session to remove.")
    table, _, row_id = form.row.data.partition(":")
    model = {"weekly": PhysicianSession, "exception": SessionException}.get(table)
    if model is None or not row_id.isascii() or not row_id.isdigit() or len(row_id) > 9:
        abort(400, "Choose a session to remove.")
    row = db.session.get(model, int(row_id))
    if row is None:
        abort(404)
    with saving() as saved:
        removed = (
            session_rules.remove_template(db.session, row)
            if model is PhysicianSession
            else session_rules.remove_exception(db.session, row)
        )
    if saved:
        flash(f"Removed: {removed}.", "success")
    return redirect(url_for("admin.sessions"))
