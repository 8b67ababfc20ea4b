"""Booking, rescheduling and status forms."""

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional


class SlotForm(FlaskForm):
    """When and with whom: the physician, room, date, start (clinic time) and duration."""

    physician_id = SelectField(
        "Physician", coerce=int, validators=[InputRequired(message="Choose a physician.")]
    )
    room_id = SelectField("Room", coerce=int, validators=[InputRequired()])
    day = DateField("Date", validators=[DataRequired(message="Enter the date as YYYY-MM-DD.")])
    start_time = TimeField(
        "Start", validators=[DataRequired(message="Enter the start time as HH:MM.")]
    )
    duration_minutes = IntegerField(
        "Duration (minutes)",
        default=30,
        validators=[
            InputRequired(message="Enter the duration in minutes."),
            NumberRange(min=1, max=720, message="Between 1 and 720 minutes."),
        ],
    )


class BookingForm(SlotForm):
    patient_mrn = StringField(
        "Patient MRN", validators=[DataRequired(message="Enter the patient's MRN.")]
    )
    what = SelectField(
        "Procedure or visit",
        validators=[DataRequired(message="Choose a procedure or a kind of visit.")],
    )
    # The front desk's note, kept apart from the physician's clinical notes.
    desk_note = TextAreaField(
        "Notes for the day", validators=[Optional(), Length(max=2000)], render_kw={"rows": 2}
    )
    referral_id = HiddenField()
    follows_intervention_id = HiddenField()


class RescheduleForm(SlotForm):
    version = HiddenField()


class StatusForm(FlaskForm):
    status = HiddenField(validators=[DataRequired()])
    reason = StringField("Reason", validators=[Optional(), Length(max=500)])
    version = HiddenField()
