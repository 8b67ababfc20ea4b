"""The visits' default lengths and the physicians' sessions (weekly template and exceptions)."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, StringField, TimeField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from clinic.forms.fields import DayField, physician_field
from clinic.models.scheduling import VISIT_KIND_LABELS
from clinic.models.sessions import SESSION_KIND_LABELS, WEEKDAY_NAMES

MINUTES = [
    InputRequired(message="Enter the length in minutes."),
    NumberRange(min=5, max=720, message="Between 5 and 720 minutes."),
]


class VisitLengthsForm(FlaskForm):
    """One length per kind of visit."""

    consult = IntegerField(f"{VISIT_KIND_LABELS['consult']} (minutes)", validators=MINUTES)
    follow_up = IntegerField(f"{VISIT_KIND_LABELS['follow_up']} (minutes)", validators=MINUTES)
    post_procedure_check = IntegerField(
        f"{VISIT_KIND_LABELS['post_procedure_check']} (minutes)", validators=MINUTES
    )
    stimulator_adjustment = IntegerField(
        f"{VISIT_KIND_LABELS['stimulator_adjustment']} (minutes)", validators=MINUTES
    )


SESSION_CHANGES = [
    ("weekly", "Every week (template)"),
    ("off", "Time off on a date"),
    ("extra", "Extra session on a date"),
]


class SessionForm(FlaskForm):
    """A weekly session, a day or part-day off, or an extra session on a date."""

    change = SelectField("What", choices=SESSION_CHANGES, validators=[DataRequired()])
    physician_id = physician_field()
    weekday = SelectField(
        "Weekday (every week)",
        coerce=int,
        choices=list(enumerate(WEEKDAY_NAMES)),
        validators=[Optional()],
    )
    day = DayField("Date (time off or extra)", validators=[Optional()])
    start_time = TimeField("Start", validators=[Optional()])
    end_time = TimeField("End", validators=[Optional()])
    kind = SelectField("Kind", choices=list(SESSION_KIND_LABELS.items()), validators=[Optional()])
    room_id = SelectField("Room", coerce=int, validators=[Optional()])
    note = StringField("Note", validators=[Optional(), Length(max=200)])


class RemoveSessionForm(FlaskForm):
    """The remove button of one weekly session or one exception."""

    row = HiddenField(validators=[DataRequired()])
