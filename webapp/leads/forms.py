"""The lead form: WTForms renders and parses it; the lead service validates (one place)."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, RadioField, SelectField, StringField

from ..models.leads import INSURANCE_TYPES, PRIORITIES, SOURCES, STATUSES
from .importer import MODES as IMPORT_MODES


def _choices(values, blank=True):
    options = [(v, v.replace("_", " ").capitalize()) for v in values]
    return ([("", "—")] if blank else []) + options


class LeadForm(FlaskForm):
    first_name = StringField("First name")
    last_name = StringField("Last name")
    email = StringField("Email")
    phone = StringField("Phone")
    status = SelectField("Status", choices=_choices(STATUSES, blank=False), default="new")
    priority = SelectField("Priority", choices=_choices(PRIORITIES, blank=False), default="medium")
    source = SelectField("Source", choices=_choices(SOURCES))
    insurance_type = SelectField("Insurance type", choices=_choices(INSURANCE_TYPES))
    state = StringField("State", description="Two-letter US code, e.g. TX")
    city = StringField("City")
    timezone = StringField("Time zone", description="IANA name, e.g. America/Chicago; empty: the state's")
    value_estimate = StringField("Value estimate ($)")
    tags = StringField("Tags", description="Comma-separated, e.g. vip, spanish")
    campaign_id = SelectField("Campaign", choices=[], validate_choice=False)
    assigned_to_id = SelectField("Assigned to", choices=[], validate_choice=False)
    email_opt_out = BooleanField("Opted out of marketing email")

    def lead_data(self) -> dict:
        """The submitted values in the shape the lead service validates."""
        data = {name: field.data for name, field in self._fields.items() if name != "csrf_token"}
        for key in ("campaign_id", "assigned_to_id"):
            data[key] = int(data[key]) if str(data[key] or "").isdigit() else None
        return data

    def show_errors(self, errors: list[dict]) -> None:
        for error in errors:
            field = self._fields.get(error["field"].split("[")[0].split(".")[0])
            if field is not None:
                field.errors = list(field.errors) + [error["message"]]


class ImportForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired()])


class ImportStartForm(FlaskForm):
    """The choices made before an import runs (the column selects are read by the view: one per column)."""

    mode = RadioField("Rows with problems", choices=list(IMPORT_MODES.items()), default="all_or_nothing")
