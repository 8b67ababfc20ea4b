"""Forms of the follow-up call list: a phone pain score, and an attempt that reached nobody."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    NumberRange,
    Optional,
    Regexp,
    StopValidation,
)

from clinic.services.followup.calls import OUTCOME_LABELS


class CallForm(FlaskForm):
    """Which call the clerk is working: the intervention and the call's due date."""

    intervention_id = HiddenField(
        validators=[DataRequired(), Regexp(r"^\d{1,9}$", message="Choose a call from the list.")]
    )
    due_on = HiddenField(
        validators=[
            DataRequired(),
            Regexp(r"^\d{4}-\d{2}-\d{2}$", message="Choose a call from the list."),
        ]
    )


class WholeNumberField(IntegerField):
    """An integer field whose "4.5" or "four" gets one message (its own), not two."""

    def pre_validate(self, form) -> None:
        # A blank is left to InputRequired/Optional; a non-number already has its message.
        if self.process_errors and self.raw_data and self.raw_data[0].strip():
            raise StopValidation()


class ScoreForm(CallForm):
    nrs = WholeNumberField(
        "NRS (0–10)",
        invalid_value_message="The pain score (NRS) is a whole number from 0 to 10.",
        validators=[
            InputRequired(message="Enter the pain score (NRS), a whole number from 0 to 10."),
            NumberRange(
                min=0, max=10, message="The pain score (NRS) is a whole number from 0 to 10."
            ),
        ],
    )
    percent_relief = WholeNumberField(
        "% relief",
        invalid_value_message="Percent relief is a whole number from 0 to 100, or leave it empty.",
        validators=[
            Optional(),
            NumberRange(
                min=0,
                max=100,
                message="Percent relief is a whole number from 0 to 100, or leave it empty.",
            ),
        ],
    )


class AttemptForm(CallForm):
    outcome = SelectField(choices=list(OUTCOME_LABELS.items()), validators=[DataRequired()])
    attempts = HiddenField(validators=[Optional(), Regexp(r"^\d{1,6}$")])
