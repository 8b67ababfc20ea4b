"""The relief report's filters: a GET form, so a filtered report is a link that can be shared."""

import math

from flask_wtf import FlaskForm
from wtforms import FloatField, SelectField
from wtforms.validators import NumberRange, Optional, StopValidation, ValidationError

from clinic.forms.fields import DayField
from clinic.models import CONDITION_LABELS

ALL = ""
COMMON_THRESHOLDS = (30, 50, 80)
GROUP_BY_CHOICES = [
    ("procedure", "Procedure type"),
    ("physician", "Physician"),
    ("condition", "Condition"),
]
THRESHOLD_MESSAGE = "The relief threshold is a percent from 1 to 100, for example 30, 50 or 80."
DATE_MESSAGE = "Enter the date as YYYY-MM-DD, or leave it empty."


class PercentField(FloatField):
    """A percent whose "fifty" or blank gets one clear message, not WTForms' own as well.

    Left out of the query string altogether, it keeps its default (a link may name only the
    grouping); sent blank, it is refused.
    """

    def pre_validate(self, form) -> None:
        if self.process_errors:
            self.errors = [THRESHOLD_MESSAGE]
            raise StopValidation()


class ReliefFilterForm(FlaskForm):
    """Which completed interventions the report covers, the threshold, and how to group them."""

    class Meta:
        csrf = False  # a GET form that changes nothing

    date_from = DayField("Performed from", validators=[Optional()], format="%Y-%m-%d")
    date_to = DayField("Performed to", validators=[Optional()], format="%Y-%m-%d")
    physician_id = SelectField("Physician", coerce=int, default=0)
    condition = SelectField(
        "Condition",
        choices=[(ALL, "All conditions"), *CONDITION_LABELS.items()],
        default=ALL,
    )
    procedure_code = SelectField("Procedure", default=ALL)
    steroid = SelectField("Corticosteroid given", default=ALL)
    threshold = PercentField(
        "Relief threshold (%)",
        default=50,
        validators=[NumberRange(min=1, max=100, message=THRESHOLD_MESSAGE)],
    )
    group_by = SelectField("Group by", choices=GROUP_BY_CHOICES, default="procedure")

    def validate_threshold(self, field) -> None:
        if not field.errors and field.data is not None and math.isnan(field.data):
            raise ValidationError(THRESHOLD_MESSAGE)

    def validate_date_from(self, field) -> None:
        if field.process_errors and field.raw_data and field.raw_data[0].strip():
            field.errors = []
            raise ValidationError(DATE_MESSAGE)

    def validate_date_to(self, field) -> None:
        if field.process_errors and field.raw_data and field.raw_data[0].strip():
            field.errors = []
            raise ValidationError(DATE_MESSAGE)
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(
                f"{field.data.isoformat()} is before the “Performed from” date "
                f"({self.date_from.data.isoformat()}): choose a range that runs forwards."
            )
