"""Spinal cord stimulator forms: the device, its explant, and the programming at a visit."""

from flask_wtf import FlaskForm
from wtforms import (
    DecimalField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from clinic.forms.fields import DayField
from clinic.forms.scheduling import SlotForm
from clinic.services.devices import CPT_LABELS, LIMITS, PARADIGM_LABELS

NO_PROCEDURE = 0
# Suggestions for the manufacturer box (a datalist: any other name may be typed).
MANUFACTURERS = ("Abbott", "Boston Scientific", "Medtronic", "Nevro", "Saluda Medical")


class AmplitudeField(DecimalField):
    """A decimal that refuses NaN and infinity (Decimal parses them; they are no amplitude)."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and not self.data.is_finite():
            self.data = None
            raise ValueError(LIMITS["amplitude_ma"][2])


class Within:
    """The service's limits for a programming value, with the same words.

    Unlike NumberRange it says nothing when there is no number: an empty box is for
    Optional/InputRequired, and text that is no number was already refused, once.
    """

    def __init__(self, name: str) -> None:
        self.low, self.high, self.message = LIMITS[name]

    def __call__(self, form, field) -> None:
        if field.data is not None and not self.low <= field.data <= self.high:
            raise ValidationError(self.message)


def number(label: str, name: str, required: bool = False, **kwargs) -> IntegerField:
    low, high, message = LIMITS[name]
    return IntegerField(
        label,
        validators=[InputRequired(message=message) if required else Optional(), Within(name)],
        invalid_value_message=message,
        render_kw={"min": low, "max": high, "inputmode": "numeric", **kwargs},
    )


class DeviceForm(FlaskForm):
    manufacturer = StringField(
        "Manufacturer",
        validators=[DataRequired(message="Enter the manufacturer."), Length(max=80)],
        render_kw={"list": "manufacturers", "autocomplete": "off"},
    )
    model = StringField(
        "Model",
        validators=[DataRequired(message="Enter the model, e.g. Proclaim XR."), Length(max=80)],
    )
    serial_number = StringField(
        "Serial number",
        validators=[
            DataRequired(message="Enter the serial number from the device card."),
            Length(max=80),
        ],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    lead_locations = StringField(
        "Leads",
        validators=[Optional(), Length(max=200)],
        render_kw={"placeholder": "e.g. Two 8-contact percutaneous leads, T8–T10 midline"},
    )
    implant_intervention_id = SelectField("Implant procedure", coerce=int, validators=[Optional()])
    implanted_on = DayField(
        "Implant date", validators=[DataRequired(message="Enter the implant date as YYYY-MM-DD.")]
    )
    version = HiddenField()


class ExplantForm(FlaskForm):
    explanted_on = DayField(
        "Explant date", validators=[DataRequired(message="Enter the explant date as YYYY-MM-DD.")]
    )
    explant_reason = TextAreaField(
        "Reason for explant",
        validators=[
            DataRequired(
                message="Say why the device was explanted (e.g. infection, lead migration, loss of effect)."
            ),
            Length(max=4000),
        ],
        render_kw={"rows": 3},
    )
    version = HiddenField()


class AdjustmentForm(FlaskForm):
    """The programming values (docs/rules.md, Records), for a visit already booked."""

    program_slot = number("Program slot", "program_slot", required=True)
    paradigm = SelectField(
        "Paradigm",
        choices=[("", "— choose —"), *PARADIGM_LABELS.items()],
        validators=[DataRequired(message="Choose the paradigm.")],
    )
    amplitude_ma = AmplitudeField(
        "Amplitude (mA)",
        places=2,
        validators=[Optional(), Within("amplitude_ma")],
        invalid_value_message=LIMITS["amplitude_ma"][2],
        render_kw={"inputmode": "decimal", "step": "0.01", "min": 0, "max": 30},
    )
    frequency_hz = number("Frequency (Hz)", "frequency_hz")
    pulse_width_us = number("Pulse width (µs)", "pulse_width_us")
    contacts = StringField(
        "Active contacts and polarity",
        validators=[Optional(), Length(max=120)],
        render_kw={"placeholder": "e.g. 1+ 2- 3+", "spellcheck": "false"},
    )
    impedance_ohms = StringField(
        "Electrode impedances (Ω)",
        validators=[Optional(), Length(max=200)],
        render_kw={"placeholder": "e.g. 650, 720, 810, 1200", "spellcheck": "false"},
    )
    battery_pct = number("Battery (%)", "battery_pct")
    cpt_code = SelectField(
        "Programming done (CPT)",
        choices=[("", "— choose —")]
        + [(code, f"{code} — {label}") for code, label in CPT_LABELS.items()],
        validators=[DataRequired(message="Choose what the visit was: 95970, 95971 or 95972.")],
    )
    pain_before = number("Pain before", "pain_before")
    pain_after = number("Pain after", "pain_after")
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=4000)], render_kw={"rows": 3})
    visit_id = HiddenField()
    visit_version = HiddenField()


class AdjustmentVisitForm(AdjustmentForm, SlotForm):
    """The programming values plus the visit to book for them: the patient is here now."""

    duration_minutes = IntegerField(
        "Duration (minutes)",
        default=30,
        validators=[
            InputRequired(message="Enter the duration in minutes."),
            NumberRange(min=1, max=720, message="Between 1 and 720 minutes."),
        ],
        invalid_value_message="Enter the duration as a whole number of minutes.",
    )
