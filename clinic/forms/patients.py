"""Patient registration and edit forms."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp

from clinic.models import CONDITION_LABELS

SEX_CHOICES = [("female", "Female"), ("male", "Male"), ("other", "Other"), ("unknown", "Unknown")]


class PatientForm(FlaskForm):
    first_name = StringField(
        "First name", validators=[DataRequired(message="Enter the first name."), Length(max=80)]
    )
    last_name = StringField(
        "Last name", validators=[DataRequired(message="Enter the last name."), Length(max=80)]
    )
    date_of_birth = DateField(
        "Date of birth", validators=[DataRequired(message="Enter the date of birth as YYYY-MM-DD.")]
    )
    sex = SelectField("Sex", choices=SEX_CHOICES, validators=[DataRequired()])
    condition = SelectField(
        "Primary condition", choices=list(CONDITION_LABELS.items()), validators=[DataRequired()]
    )
    phone = StringField(
        "Phone",
        validators=[
            Optional(),
            Length(max=40),
            Regexp(r"^[0-9+()\-. ]{5,40}$", message="Use digits, spaces and + ( ) - . only."),
        ],
    )
    email = EmailField(
        "Email",
        validators=[
            Optional(),
            Length(max=254),
            Email(
                message="Enter an email address like name@example.org.", check_deliverability=False
            ),
        ],
    )
    register_anyway = BooleanField(
        "Register anyway: this is a different person with the same name and date of birth"
    )
    version = HiddenField()


class ArchiveForm(FlaskForm):
    version = HiddenField()
