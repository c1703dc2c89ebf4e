"""The template form: WTForms renders and parses it; the template service validates (one place)."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField

from ..models.email import TEMPLATE_TYPES

TYPE_LABELS = {"marketing": "Marketing", "transactional": "Transactional", "notification": "Notification"}
STARTER_HTML = """<html>
<body style="font-family: Arial, sans-serif; color: #1f2937;">
  <h1>Hi {{ first_name | default("there") }},</h1>
  <p>Thanks for your interest in {{ insurance_type | default("insurance") }} coverage from {{ company_name }}.</p>
  <p>{{ agent_name | default("Your agent") }}</p>
  <p style="font-size: 12px; color: #6b7280;"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body>
</html>
"""


class TemplateForm(FlaskForm):
    name = StringField("Name")
    slug = StringField("Slug", description="Names the template in the API; derived from the name when empty.")
    template_type = SelectField(
        "Type",
        choices=[(t, TYPE_LABELS[t]) for t in TEMPLATE_TYPES],
        default="marketing",
        description="Marketing email carries an unsubscribe link and is never sent to leads who opted out.",
    )
    subject = StringField("Subject")
    body_html = TextAreaField("HTML body")
    body_text = TextAreaField("Text body", description="Leave empty to derive the text part from the HTML.")
    track_opens = BooleanField("Track opens", default=True, description="Marketing emails to leads carry an invisible image.")
    track_clicks = BooleanField("Track clicks", default=True, description="Their links go through Leadflow (never the unsubscribe link).")

    def values(self) -> dict:
        """The submitted values in the shape the template service validates."""
        values = {name: (self._fields[name].data or "") for name in ("name", "slug", "template_type", "subject", "body_html", "body_text")}
        values.update(track_opens=bool(self.track_opens.data), track_clicks=bool(self.track_clicks.data))
        if not values["slug"].strip():
            del values["slug"]  # a new template derives it; an existing one keeps its own
        return values

    def content(self) -> dict:
        """What the live preview renders: the unsaved subject, bodies and type."""
        return {
            "template_type": self.template_type.data if self.template_type.data in TEMPLATE_TYPES else "marketing",
            "subject": self.subject.data or "",
            "body_html": self.body_html.data or "",
            "body_text": self.body_text.data or "",
        }

    def show_errors(self, errors: list[dict]) -> None:
        """The service's ``{field, message}`` errors next to the fields they name; others on the form."""
        for error in errors:
            field = self._fields.get((error.get("field") or "").split(".")[0].split("[")[0])
            if field is not None:
                field.errors = list(field.errors) + [error["message"]]
            else:
                self.form_errors.append(f"{error['field']}: {error['message']}")
