"""Forms for the physician's record: completing procedures and visits, recording pain scores."""

from flask_wtf import FlaskForm
from wtforms import (
    DecimalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from clinic.forms.fields import DayField
from clinic.models.medications import GUIDANCE_LABELS, SEDATION_LABELS

LATERALITY_CHOICES = [
    ("", "— not applicable —"),
    ("left", "Left"),
    ("right", "Right"),
    ("bilateral", "Bilateral"),
    ("midline", "Midline"),
]
SOURCE_CHOICES = [("visit", "At a visit"), ("phone", "By phone"), ("self_report", "Self-report")]
NRS_HELP = "0 = no pain, 10 = worst pain imaginable"
GUIDANCE_CHOICES = [("", "— not recorded —"), *GUIDANCE_LABELS.items()]
SEDATION_CHOICES = [("", "— not recorded —"), *SEDATION_LABELS.items()]
# Empty lines of medications on the completion form, below those already recorded.
BLANK_MEDICATION_ROWS = 3


class MedicationRowForm(Form):
    """One line of the medications given: drug, amount in its unit, route/site."""

    drug_id = SelectField("Drug", validators=[Optional()])
    amount = DecimalField(
        "Dose (mg) or volume (mL)",
        places=None,
        validators=[Optional()],
        render_kw={"inputmode": "decimal"},
    )
    route_site = StringField("Route / site", validators=[Optional(), Length(max=120)])


class CompletionForm(FlaskForm):
    performed_on = DayField(
        "Performed on", validators=[DataRequired(message="Enter the date as YYYY-MM-DD.")]
    )
    baseline_nrs = IntegerField(
        "Baseline pain before the procedure (NRS 0–10)",
        validators=[
            InputRequired(message="Enter the baseline pain, a whole number from 0 to 10."),
            NumberRange(min=0, max=10, message="The baseline pain is a whole number from 0 to 10."),
        ],
    )
    spinal_level = TextAreaField(
        "Spinal level(s)", validators=[Optional(), Length(max=40)], render_kw={"rows": 1}
    )
    laterality = SelectField("Laterality", choices=LATERALITY_CHOICES, validators=[Optional()])
    complications = TextAreaField(
        "Complications", validators=[Optional(), Length(max=2000)], render_kw={"rows": 2}
    )
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=5000)], render_kw={"rows": 3})
    guidance = SelectField("Guidance", choices=GUIDANCE_CHOICES, validators=[Optional()])
    fluoro_seconds = IntegerField(
        "Fluoroscopy time (s)",
        validators=[Optional()],
        render_kw={"inputmode": "numeric"},
    )
    air_kerma_mgy = DecimalField(
        "Air kerma (mGy)", places=None, validators=[Optional()], render_kw={"inputmode": "decimal"}
    )
    sedation = SelectField("Sedation", choices=SEDATION_CHOICES, validators=[Optional()])
    medications = FieldList(FormField(MedicationRowForm), min_entries=BLANK_MEDICATION_ROWS)
    version = HiddenField()


class VisitCompletionForm(FlaskForm):
    notes = TextAreaField(
        "Visit notes", validators=[Optional(), Length(max=5000)], render_kw={"rows": 4}
    )
    intervention_id = SelectField(
        "Pain score for the procedure", coerce=int, validators=[Optional()]
    )
    nrs = IntegerField(
        "Pain now (NRS 0–10)",
        validators=[Optional(), NumberRange(min=0, max=10, message="A whole number from 0 to 10.")],
    )
    percent_relief = IntegerField(
        "Relief the patient reports (%)",
        validators=[
            Optional(),
            NumberRange(min=0, max=100, message="A whole number from 0 to 100."),
        ],
    )
    version = HiddenField()


class PainScoreForm(FlaskForm):
    intervention_id = SelectField(
        "Procedure followed up",
        coerce=int,
        validators=[InputRequired(message="Choose the procedure.")],
    )
    recorded_on = DayField(
        "Date", validators=[DataRequired(message="Enter the date as YYYY-MM-DD.")]
    )
    nrs = IntegerField(
        "Pain (NRS 0–10)",
        validators=[
            InputRequired(message="Enter the pain score, a whole number from 0 to 10."),
            NumberRange(min=0, max=10, message="The pain score is a whole number from 0 to 10."),
        ],
    )
    percent_relief = IntegerField(
        "Relief the patient reports (%)",
        validators=[
            Optional(),
            NumberRange(min=0, max=100, message="A whole number from 0 to 100."),
        ],
    )
    source = SelectField("How it was reported", choices=SOURCE_CHOICES, validators=[DataRequired()])
