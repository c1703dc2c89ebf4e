"""The forms of the suppression list page: WTForms renders and parses them; the service checks the
values (``services.check_suppression``, the API's rules)."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField, StringField

from ..models.suppressions import SUPPRESSION_KINDS, SUPPRESSION_REASONS

KIND_LABELS = {"email": "Email address", "phone": "Phone number", "domain": "Domain"}
REASON_LABELS = {
    "unsubscribed": "Unsubscribed",
    "bounced": "Bounced",
    "complained": "Spam complaint",
    "dnc": "Do not call (DNC)",
    "litigator": "Litigator",
    "manual": "Manual",
}


class SuppressionForm(FlaskForm):
    kind = SelectField("Kind", choices=[(kind, KIND_LABELS[kind]) for kind in SUPPRESSION_KINDS], default="phone")
    value = StringField("Value", description="An email address, a phone number (US unless it starts with +) or a domain")
    reason = SelectField("Reason", choices=[(reason, REASON_LABELS[reason]) for reason in SUPPRESSION_REASONS], default="dnc")

    def suppression_data(self) -> dict:
        return {"kind": self.kind.data, "value": self.value.data or "", "reason": self.reason.data}

    def show_errors(self, errors: list[dict]) -> None:
        for error in errors:
            field = self._fields.get(error["field"].split(".")[0])
            if field is not None:
                field.errors = list(field.errors) + [error["message"]]


class SuppressionImportForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired("Choose a file to import.")])
