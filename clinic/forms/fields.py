"""Fields the forms share."""

from wtforms import DateField, SelectField
from wtforms.validators import InputRequired, StopValidation

from clinic.clock import EARLIEST_DAY, LATEST_DAY


class DayField(DateField):
    """A date written YYYY-MM-DD, between 1900 and 9998, with messages that say so."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Write the date as YYYY-MM-DD, e.g. 2026-01-31.") from None

    def pre_validate(self, form) -> None:
        if self.data is not None and not EARLIEST_DAY <= self.data <= LATEST_DAY:
            # Nothing is worked out from a refused date (a window of months around the year 1
            # runs off the calendar); the field still shows what was typed (its raw data).
            self.data = None
            raise StopValidation(
                f"Dates run from {EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()}: "
                "check the year."
            )


def physician_field() -> SelectField:
    """A physician chosen from the active ones the form offers (its choices set by the view)."""
    return SelectField(
        "Physician",
        coerce=int,
        validators=[InputRequired(message="Choose a physician.")],
        invalid_choice_message="Choose a physician from the list: that one is not offered "
        "(no longer active, or unknown).",
    )
