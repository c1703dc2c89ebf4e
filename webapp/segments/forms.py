"""The segment form: WTForms renders and parses the plain fields; the rules come from the builder
(``builder.rules_from_form``) and everything is validated by the segment service (one place)."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, StringField, TextAreaField

from .builder import rules_from_form


class SegmentForm(FlaskForm):
    name = StringField("Name")
    slug = StringField("Slug", description="Optional: derived from the name when left empty.")
    description = TextAreaField("Description")
    kind = RadioField(
        "Membership",
        default="dynamic",
        choices=[
            ("dynamic", "Dynamic — leads enter and leave as they match the rules"),
            ("static", "Static — you add and remove leads by hand"),
        ],
    )
    is_active = BooleanField("Active", default=True, description="Inactive dynamic segments keep their members but stop following changes.")

    def segment_data(self, formdata) -> dict:
        """The submitted values in the shape the segment service validates (the API's body)."""
        match_all, rules = rules_from_form(formdata)
        data = {
            "name": (self.name.data or "").strip(),
            "description": (self.description.data or "").strip() or None,
            "is_dynamic": self.kind.data != "static",
            "is_active": bool(self.is_active.data),
            "match_all_rules": match_all,
            "rules": rules,
        }
        slug = (self.slug.data or "").strip()
        if slug:
            data["slug"] = slug
        return data

    def show_errors(self, errors: list[dict]) -> list[dict]:
        """Put field errors on the fields; returns the others (the rules', shown in the builder)."""
        rest = []
        for error in errors:
            name = error["field"].split("[")[0].split(".")[0]
            field = self._fields.get({"is_dynamic": "kind"}.get(name, name))
            if field is not None and name != "rules":
                field.errors = list(field.errors) + [error["message"]]
            else:
                rest.append(error)
        return rest
