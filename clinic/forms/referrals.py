"""Referral intake and pipeline-move forms."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from clinic.forms.fields import DayField
from clinic.models import CONDITION_LABELS
from clinic.services.referrals import URGENCY_LABELS

SAME_AS_PATIENT = ""


class ReferralForm(FlaskForm):
    patient_mrn = StringField(
        "Patient MRN",
        validators=[DataRequired(message="Enter the patient's MRN."), Length(max=20)],
    )
    referring_clinician = StringField(
        "Referring clinician",
        validators=[
            DataRequired(message="Enter the referring clinician's name."),
            Length(max=120, message="Shorten the name to 120 characters."),
        ],
    )
    referring_practice = StringField(
        "Practice",
        validators=[Optional(), Length(max=160, message="Shorten the name to 160 characters.")],
    )
    received_on = DayField(
        "Received on",
        validators=[DataRequired(message="Enter the date the referral arrived, as YYYY-MM-DD.")],
    )
    reason = TextAreaField(
        "Reason for referral",
        validators=[
            DataRequired(message="Enter the reason for referral."),
            Length(max=2000, message="Shorten the reason to 2000 characters."),
        ],
        render_kw={"rows": 3},
    )
    condition = SelectField(
        "Condition",
        choices=[(SAME_AS_PATIENT, "The patient's primary condition"), *CONDITION_LABELS.items()],
        validators=[Optional()],
    )
    urgency = SelectField(
        "Urgency",
        choices=list(URGENCY_LABELS.items()),
        default="routine",
        validators=[DataRequired(message="Choose routine or urgent.")],
    )


class MoveForm(FlaskForm):
    """One step along the pipeline; a reason is needed to decline or cancel."""

    status = HiddenField(validators=[DataRequired(message="Choose what to do with the referral.")])
    reason = StringField(
        "Reason (needed to decline or cancel)",
        validators=[Optional(), Length(max=500, message="Shorten the reason to 500 characters.")],
    )
    version = HiddenField()
    return_to = HiddenField()
