"""The filters of the manager's downloads (docs/formats.md), sent as a GET query."""

from flask_wtf import FlaskForm
from wtforms.validators import NumberRange, Optional, ValidationError

from clinic.forms.fields import DayField
from clinic.forms.followup import WholeNumberField
from clinic.services.filters import ReportFilters
from clinic.services.interchange.exports import DEFAULT_THRESHOLD

THRESHOLD_MESSAGE = (
    "The threshold is the percent relief that counts as relieved: a whole number from 1 to 100."
)


class ExportFilterForm(FlaskForm):
    """From, to and threshold, named as the command line's options so links read the same."""

    class Meta:
        csrf = False  # a GET form that changes nothing

    date_from = DayField("From", name="from", validators=[Optional()])
    date_to = DayField("To", name="to", validators=[Optional()])
    as_of = DayField("Eligibility as of", name="on", validators=[Optional()])
    threshold = WholeNumberField(
        "Relief threshold (%)",
        default=DEFAULT_THRESHOLD,
        invalid_value_message=THRESHOLD_MESSAGE,
        validators=[Optional(), NumberRange(min=1, max=100, message=THRESHOLD_MESSAGE)],
    )

    def validate_date_to(self, field) -> None:
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(
                "The last date is before the first: give the earlier date in From."
            )

    def filters(self) -> ReportFilters:
        threshold = self.threshold.data if self.threshold.data is not None else DEFAULT_THRESHOLD
        return ReportFilters(
            date_from=self.date_from.data,
            date_to=self.date_to.data,
            threshold=threshold,
            as_of=self.as_of.data,
        )
