"""Staff account forms."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TimeField,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from clinic.models import ROLE_LABELS
from clinic.services.relief.eligibility import parse_codes

ROLE_CHOICES = list(ROLE_LABELS.items())


class NewStaffForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(min=2, max=64)])
    full_name = StringField("Full name", validators=[DataRequired(), Length(max=120)])
    role = SelectField("Role", choices=ROLE_CHOICES, validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
    )


class EditStaffForm(FlaskForm):
    full_name = StringField("Full name", validators=[DataRequired(), Length(max=120)])
    role = SelectField("Role", choices=ROLE_CHOICES, validators=[DataRequired()])
    active = BooleanField("Account active (may sign in)")
    password = PasswordField(
        "New password (leave empty to keep the current one)",
        validators=[Optional(), Length(max=128)],
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[EqualTo("password", message="The two passwords differ.")],
    )


class RoomForm(FlaskForm):
    name = StringField(
        "Room name", validators=[DataRequired(message="Enter the room's name."), Length(max=60)]
    )
    opens_at = TimeField(
        "Opens at", validators=[DataRequired(message="Enter the opening time as HH:MM.")]
    )
    closes_at = TimeField(
        "Closes at", validators=[DataRequired(message="Enter the closing time as HH:MM.")]
    )
    active = BooleanField("In use (can be booked)", default=True)

    def validate_closes_at(self, field) -> None:
        if self.opens_at.data and field.data and field.data <= self.opens_at.data:
            raise ValidationError("The room must close after it opens.")


class ProcedureTypeForm(FlaskForm):
    code = StringField(
        "Code",
        validators=[DataRequired(message="Enter a short code, e.g. ESI-TF."), Length(max=20)],
    )
    name = StringField(
        "Name", validators=[DataRequired(message="Enter the procedure's name."), Length(max=120)]
    )
    category = SelectField(
        "Category",
        choices=[
            (c, c.capitalize())
            for c in ("epidural", "facet", "ablation", "neuromodulation", "other")
        ],
    )
    cpt_code = StringField("CPT code(s)", validators=[Optional(), Length(max=40)])
    followup_schedule = StringField(
        "Follow-up calls after the procedure",
        validators=[
            DataRequired(message="Enter the schedule, e.g. 2w 6w 3m 6m 12m."),
            Length(max=100),
        ],
    )
    default_minutes = IntegerField(
        "Default length (minutes)",
        default=30,
        # Left empty: it keeps its length (30 minutes for a new procedure).
        validators=[Optional(), NumberRange(min=5, max=720, message="Between 5 and 720 minutes.")],
    )
    usual_steroid_mpe_mg = DecimalField(
        "Usual corticosteroid dose (methylprednisolone-equivalent mg)",
        places=None,
        validators=[Optional(), NumberRange(min=0, max=10000, message="From 0 to 10,000 mg.")],
    )
    diagnostic = BooleanField(
        "Diagnostic block (judged in the hours after it: on its day the self-report link is a "
        "pain diary)"
    )
    active = BooleanField("Offered (can be booked)", default=True)


class EligibilityRuleForm(FlaskForm):
    description = StringField(
        "Description", validators=[DataRequired(message="Describe the rule."), Length(max=255)]
    )
    target_codes = StringField(
        "Applies to procedures (codes)",
        validators=[DataRequired(message="Name at least one procedure code.")],
    )
    prior_codes = StringField(
        "Looks back at procedures (codes)",
        validators=[DataRequired(message="Name at least one procedure code.")],
    )
    min_relief_pct = IntegerField(
        "Minimum relief (%)",
        validators=[
            InputRequired(message="Enter a percent from 0 to 100."),
            NumberRange(min=0, max=100),
        ],
    )
    min_relief_months = IntegerField(
        "Relief documented for at least (calendar months)",
        validators=[Optional(), NumberRange(min=1, max=120)],
    )
    required_prior_count = IntegerField(
        "Most recent prior procedures judged (each must qualify)",
        default=1,
        validators=[InputRequired(), NumberRange(min=1, max=10)],
    )
    max_sessions = IntegerField(
        "At most this many sessions…", validators=[Optional(), NumberRange(min=1, max=52)]
    )
    window_months = IntegerField(
        "…in a rolling window of (calendar months)",
        validators=[Optional(), NumberRange(min=1, max=120)],
    )
    per_region = BooleanField("Per spinal region (cervical/thoracic, lumbar/sacral)")
    trial_days = IntegerField(
        "Judge only the scores of a trial of (days)",
        validators=[Optional(), NumberRange(min=1, max=60)],
    )
    active = BooleanField("In force", default=True)

    # Set by the view: the catalogue's codes, which the two code lists must come from.
    known_codes: frozenset[str] = frozenset()

    def _check_codes(self, field) -> None:
        unknown = sorted(parse_codes(field.data) - self.known_codes)
        if unknown:
            raise ValidationError(
                f"Unknown procedure code(s): {', '.join(unknown)}. Use codes from the catalogue."
            )

    validate_target_codes = _check_codes
    validate_prior_codes = _check_codes

    def validate(self, extra_validators=None) -> bool:
        """The fields' own checks, then one across two optional fields (WTForms skips inline
        validators of an empty Optional field)."""
        valid = super().validate(extra_validators)
        if (self.max_sessions.data is None) != (self.window_months.data is None):
            self.window_months.errors.append(
                "Give both the number of sessions and the window, or neither."
            )
            valid = False
        return valid
