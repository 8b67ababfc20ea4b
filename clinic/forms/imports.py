"""Forms of the manager's CSV import: upload for a dry run, then confirm."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from wtforms import HiddenField

CSV_ONLY = FileAllowed(["csv", "txt"], "Choose a CSV file (.csv).")


class UploadForm(FlaskForm):
    """Up to four files; any one is enough. Nothing is written until the confirm step."""

    patients = FileField("Patients", validators=[CSV_ONLY])
    interventions = FileField("Interventions", validators=[CSV_ONLY])
    pain_scores = FileField("Pain scores", validators=[CSV_ONLY])
    medications = FileField("Medications", validators=[CSV_ONLY])


class ConfirmForm(FlaskForm):
    """Import the files the preview checked, named by the token of their upload."""

    token = HiddenField()
