"""The bulk lead action form: WTForms renders and parses it; the task's payload validator checks it."""

from datetime import timezone

from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, SelectField, StringField
from wtforms.validators import Length, Optional

from ..models.leads import MAX_TAG_LENGTH, PRIORITIES, STATUSES
from ..models.scheduled_tasks import BATCH_OPERATIONS

OPERATION_LABELS = {
    "add_tag": "Add a tag",
    "remove_tag": "Remove a tag",
    "set_status": "Set the status",
    "set_priority": "Set the priority",
}
# operation → the form field that holds its value
VALUE_FIELDS = {"add_tag": "tag", "remove_tag": "tag", "set_status": "new_status", "set_priority": "new_priority"}
# a payload key named in the validator's errors → the form field that shows them
PAYLOAD_FIELDS = {
    "payload.operation": "operation",
    "payload.tag": "tag",
    "payload.status": "new_status",
    "payload.priority": "new_priority",
    "scheduled_for": "run_at",
    "name": "name",
}


def _choices(values):
    return [(v, v.replace("_", " ").capitalize()) for v in values]


class BulkActionForm(FlaskForm):
    operation = SelectField("Operation", choices=list(OPERATION_LABELS.items()), default="add_tag")
    tag = StringField("Tag", validators=[Length(max=MAX_TAG_LENGTH)], description="e.g. vip, spanish")
    # Only the chosen operation's field is sent; its value is checked by the payload validator (one place).
    new_status = SelectField("New status", choices=_choices(STATUSES), validate_choice=False)
    new_priority = SelectField("New priority", choices=_choices(PRIORITIES), validate_choice=False)
    run_at = DateTimeLocalField(
        "Run at (UTC)", format="%Y-%m-%dT%H:%M", validators=[Optional()], description="Leave empty to run as soon as a worker is free."
    )
    name = StringField("Task name (optional)", validators=[Length(max=200)])

    def value_field(self):
        """The field that holds the value of the chosen operation."""
        field = self._fields[VALUE_FIELDS.get(self.operation.data, "tag")]
        if field is self.tag:
            self.tag.label.text = "Tag to remove" if self.operation.data == "remove_tag" else "Tag to add"
        return field

    def payload(self, lead_ids: list[int]) -> dict:
        """The batch_operation payload of the submitted choice, for these leads."""
        operation = self.operation.data
        value = (self.value_field().data or "").strip()
        if operation in ("add_tag", "remove_tag"):
            value = value.lower()
        return {"operation": operation, BATCH_OPERATIONS[operation]: value, "lead_ids": lead_ids}

    def run_at_utc(self):
        """The chosen time as UTC (the field is read as UTC), or None for now."""
        return self.run_at.data.replace(tzinfo=timezone.utc) if self.run_at.data else None

    def show_errors(self, errors: list[dict]) -> None:
        """The service's ``{field, message}`` errors next to the fields they name; others on the form."""
        for error in errors:
            field = self._fields.get(PAYLOAD_FIELDS.get(error["field"], ""))
            if field is not None:
                field.errors = list(field.errors) + [error["message"]]
            else:
                self.form_errors.append(f"{error['field']}: {error['message']}")
