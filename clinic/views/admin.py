"""Staff accounts, kept by administrators."""

from datetime import time

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from clinic.extensions import db
from clinic.forms.admin import EditStaffForm, NewStaffForm, RoomForm
from clinic.models import Room, StaffUser
from clinic.security import role_required
from clinic.services import DomainError, accounts

bp = Blueprint("admin", __name__, url_prefix="/admin")


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
        try:
            user = accounts.create_user(
                db.session,
                form.username.data,
                form.full_name.data,
                form.role.data,
                form.password.data,
            )
        except DomainError as error:
            getattr(form, error.field or "username").errors.append(error.message)
        else:
            db.session.commit()
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
        try:
            user.full_name = form.full_name.data.strip()
            if form.role.data != user.role:
                accounts.set_role(db.session, user, form.role.data)
            if form.active.data != user.active:
                accounts.set_active(db.session, user, form.active.data)
            if form.password.data:
                accounts.set_password(db.session, user, form.password.data)
        except DomainError as error:
            db.session.rollback()
            getattr(form, error.field or "password").errors.append(error.message)
        else:
            db.session.commit()
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
