"""Forms of the drug catalogue and the corticosteroid limits (kept by administrators)."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

UNIT_CHOICES = [("mg", "Dose in mg"), ("ml", "Volume in mL (contrast)")]


class DrugForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[
            DataRequired(message="Enter the drug's name, e.g. triamcinolone."),
            Length(max=60),
        ],
    )
    unit = SelectField("Recorded as", choices=UNIT_CHOICES)
    equivalent_mg = DecimalField(
        "Corticosteroid: the dose equal to 4 mg methylprednisolone (mg)",
        places=None,
        validators=[
            Optional(),
            NumberRange(min=0.001, max=999, message="A dose above 0, e.g. 0.75 for dexamethasone."),
        ],
    )
    usual_max = DecimalField(
        "Usual largest dose (mg, or mL for contrast)",
        places=None,
        validators=[
            InputRequired(message="Enter the usual largest dose; ten times it is refused."),
            NumberRange(min=0.01, max=99999, message="A dose above 0."),
        ],
    )
    active = BooleanField("Offered on the completion form", default=True)


class SteroidLimitForm(FlaskForm):
    window_months = IntegerField(
        "Rolling window (calendar months)",
        validators=[
            InputRequired(message="Enter the window in months, e.g. 12."),
            NumberRange(min=1, max=120, message="From 1 to 120 months."),
        ],
    )
    max_mpe_mg = DecimalField(
        "Limit (methylprednisolone-equivalent mg)",
        places=None,
        validators=[
            InputRequired(message="Enter the limit in mg, e.g. 200."),
            NumberRange(min=1, max=100000, message="A limit of at least 1 mg."),
        ],
    )
    active = BooleanField("In force", default=True)
