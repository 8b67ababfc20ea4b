"""Booking, rescheduling and status forms."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from clinic.forms.fields import DayField, physician_field

# The largest id an integer primary key holds on PostgreSQL; a larger number names no record.
MAX_RECORD_ID = 2**31 - 1


class RecordIdField(HiddenField):
    """A hidden link to another record: empty, or the id of one (a whole number), never a 500.

    A value that is not a record id (typed into the page by hand) is refused with ``message``;
    whether the record exists and is the right one is the booking service's to say.
    """

    def __init__(self, label=None, validators=None, message="This link is not valid.", **kwargs):
        super().__init__(label, validators, **kwargs)
        self.message = message

    def process_formdata(self, valuelist):
        text = valuelist[0].strip() if valuelist else ""
        self.data = None
        if not text:
            return
        digits = text.isascii() and text.isdigit() and len(text) <= len(str(MAX_RECORD_ID))
        if not (digits and 0 < int(text) <= MAX_RECORD_ID):
            raise ValueError(self.message)
        self.data = int(text)

    def _value(self):
        return "" if self.data is None else str(self.data)


class SlotForm(FlaskForm):
    """When and with whom: the physician, room, date, start (clinic time) and duration."""

    physician_id = physician_field()
    room_id = SelectField(
        "Room",
        coerce=int,
        validators=[InputRequired()],
        invalid_choice_message="Choose a room from the list: that one is not offered "
        "(no longer in use, or unknown).",
    )
    day = DayField("Date", validators=[DataRequired(message="Enter the date as YYYY-MM-DD.")])
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
    # Shown once a time outside the physician's sessions or the room's hours was refused.
    book_anyway = BooleanField("Book anyway, outside the usual sessions or hours")


class BookingForm(SlotForm):
    # Left empty, the booking lasts the procedure's or visit's default length.
    duration_minutes = IntegerField(
        "Duration (minutes)",
        validators=[
            Optional(),
            NumberRange(min=1, max=720, message="Between 1 and 720 minutes."),
        ],
    )
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
    # Set when booking from a referral or as the follow-up of a procedure.
    referral_id = RecordIdField(
        message="This booking's link to its referral is not valid: open the referral and book from it again."
    )
    follows_intervention_id = RecordIdField(
        message="This visit's link to the procedure it follows up is not valid: "
        "book the follow-up from the patient's procedure again."
    )


class RescheduleForm(SlotForm):
    version = HiddenField()


class StatusForm(FlaskForm):
    status = HiddenField(validators=[DataRequired()])
    reason = StringField("Reason", validators=[Optional(), Length(max=500)])
    version = HiddenField()
