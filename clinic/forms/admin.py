"""Staff account forms."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from clinic.models import ROLE_LABELS

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
