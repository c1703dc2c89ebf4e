"""The new-task form of the lead page: WTForms renders and parses it; the task service validates."""

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField

from ..models.tasks import TASK_TYPES


class TaskForm(FlaskForm):
    task_type = SelectField("Type", choices=[(t, t.replace("_", " ").capitalize()) for t in TASK_TYPES], default="call")
    title = StringField("Title", description="Variables work: Call {{ first_name }}")
    due_date = StringField("Due", render_kw={"type": "date"})
    due_time = StringField("at (UTC)", render_kw={"type": "time"}, description="Without a time: 17:00 UTC")
    assignee_id = SelectField("Assignee", choices=[], validate_choice=False)
    notes = TextAreaField("Notes", render_kw={"rows": 2})

    def task_data(self, lead_id: int) -> dict:
        """The submitted values in the shape the task service validates."""
        data = {"lead_id": lead_id, "task_type": self.task_type.data, "title": self.title.data, "notes": self.notes.data}
        data["assignee_id"] = int(self.assignee_id.data) if str(self.assignee_id.data or "").isdigit() else None
        day, at = (self.due_date.data or "").strip(), (self.due_time.data or "").strip()
        if day and at:
            data["due_at"] = f"{day}T{at}"
        elif day or at:
            data["due_date"] = day or at  # a time alone is reported as a bad date
        return data

    def show_errors(self, errors: list[dict]) -> None:
        for error in errors:
            name = {"due_at": "due_date", "lead_id": "title", "body": "title"}.get(error["field"], error["field"])
            field = self._fields.get(name)
            if field is not None:
                field.errors = list(field.errors) + [error["message"]]
