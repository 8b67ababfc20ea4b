"""Staff account forms."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField, TimeField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

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
