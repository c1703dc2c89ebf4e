"""Editor forms: the automation's settings, its trigger, and one form per step type."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import NumberRange, Optional

from ..models.automations import TRIGGER_TYPES
from ..models.leads import LEAD_EVENT_TYPES, PRIORITIES, STATUSES
from ..models.org import ROLES
from ..models.tasks import TASK_TYPES

TRIGGER_LABELS = {
    "lead_created": "A lead is created",
    "lead_status_changed": "A lead's status changes",
    "lead_priority_changed": "A lead's priority changes",
    "lead_assigned": "A lead is assigned",
    "lead_value_changed": "A lead's value changes",
    "segment_entered": "A lead enters a segment",
    "segment_exited": "A lead leaves a segment",
    "email_opened": "A lead opens an email",
    "email_clicked": "A lead clicks a link in an email",
    "lead_not_contacted": "A new lead is not contacted in time",
    "time_based": "On a schedule, for a segment",
    "manual": "Only when started by hand",
}


def _choices(values, blank: str | None = None):
    return ([("", blank)] if blank is not None else []) + [(v, v.replace("_", " ").capitalize()) for v in values]


# Waits are stored in minutes; people enter them as a number and a unit.
DELAY_UNITS = {"minutes": 1, "hours": 60, "days": 24 * 60}


def delay_in_largest_unit(minutes: int | None) -> tuple[int, str]:
    """A stored wait in the largest unit that divides it: 1440 → (1, "days"), 90 → (90, "minutes")."""
    minutes = minutes or 0
    for unit in ("days", "hours"):
        if minutes and minutes % DELAY_UNITS[unit] == 0:
            return minutes // DELAY_UNITS[unit], unit
    return minutes, "minutes"


def delay_to_minutes(amount: int | None, unit: str | None) -> int:
    """What is stored for a wait entered as ``amount`` ``unit`` (an unknown unit counts as minutes)."""
    return (amount or 0) * DELAY_UNITS.get(unit or "minutes", 1)


def describe_delay(minutes: int | None) -> str:
    """A stored wait in words: ``1 day``, ``3 hours``, ``90 minutes``."""
    amount, unit = delay_in_largest_unit(minutes)
    return f"{amount} {unit[:-1] if amount == 1 else unit}"


class AutomationForm(FlaskForm):
    name = StringField("Name")
    slug = StringField("Slug", description="Optional: derived from the name when left empty (and made unique).")
    description = TextAreaField("Description")
    trigger_type = SelectField("Trigger", choices=[(t, TRIGGER_LABELS[t]) for t in TRIGGER_TYPES])
    campaign_id = SelectField("Campaign", choices=[], validate_choice=False)
    run_immediately = BooleanField("Start the first step right away", default=True)
    delay_amount = IntegerField("Otherwise wait", default=0, validators=[Optional(), NumberRange(min=0)])
    delay_unit = SelectField("Unit of the wait", choices=[(unit, unit) for unit in DELAY_UNITS], default="minutes")
    allow_reentry = BooleanField("A lead may go through this automation more than once")

    def show_delay(self, minutes: int | None) -> None:
        self.delay_amount.data, self.delay_unit.data = delay_in_largest_unit(minutes)

    def delay_minutes(self) -> int:
        return delay_to_minutes(self.delay_amount.data, self.delay_unit.data)


class StepForm(FlaskForm):
    """Fields every step has; subclasses add the configuration of their action type."""

    delay_amount = IntegerField("Wait before this step", default=0, validators=[Optional(), NumberRange(min=0)])
    delay_unit = SelectField("Unit of the wait", choices=[(unit, unit) for unit in DELAY_UNITS], default="minutes")
    is_active = BooleanField("Enabled", default=True)
    config_fields: tuple[str, ...] = ()
    step_fields = ("csrf_token", "delay_amount", "delay_unit", "is_active")

    @classmethod
    def initial_data(cls, action) -> dict:
        """The form's values for a stored step: its configuration, and its wait in the largest unit."""
        amount, unit = delay_in_largest_unit(action.delay_minutes)
        return {**(action.configuration or {}), "delay_amount": amount, "delay_unit": unit, "is_active": action.is_active}

    def delay_minutes(self) -> int:
        return delay_to_minutes(self.delay_amount.data, self.delay_unit.data)

    def configuration(self) -> dict:
        config = {}
        for name in self.config_fields:
            value = self._fields[name].data
            if value not in (None, ""):
                config[name] = value
        return config


# What a step that contacts the lead does when the contactability check blocks it (SPEC §17).
WHEN_BLOCKED_CHOICES = [
    ("", "As the contact policy says"),
    ("defer", "Wait until contact is allowed"),
    ("skip", "Skip this step"),
]
WHEN_BLOCKED_HELP = "Quiet hours, frequency caps, consent, suppression. A block that does not pass with time is always skipped."


class SendEmailForm(StepForm):
    template_id = SelectField("Email template", choices=[], validate_choice=False, coerce=lambda v: int(v) if str(v).isdigit() else v)
    subject = StringField("Subject (optional override)")
    to = SelectField("Send to", choices=[("lead", "The lead"), ("assignee", "The lead's assignee")])
    personalize = BooleanField("Personalize", default=True)
    when_blocked = SelectField("When contact is not allowed", choices=WHEN_BLOCKED_CHOICES, default="", description=WHEN_BLOCKED_HELP)
    config_fields = ("template_id", "subject", "to", "personalize", "when_blocked")

    def configuration(self) -> dict:
        config = super().configuration()
        config["personalize"] = bool(self.personalize.data)
        return config


class SendNotificationForm(StepForm):
    message = TextAreaField("Message", description="Variables like {{ full_name }} work here.")
    user_id = SelectField("Notify", choices=[], validate_choice=False)
    config_fields = ("message", "user_id")

    def configuration(self) -> dict:
        config = super().configuration()
        if str(config.get("user_id", "")).isdigit():
            config["user_id"] = int(config["user_id"])
        return config


class StatusForm(StepForm):
    status = SelectField("New status", choices=_choices(STATUSES))
    config_fields = ("status",)


class PriorityForm(StepForm):
    priority = SelectField("New priority", choices=_choices(PRIORITIES))
    config_fields = ("priority",)


class AssignForm(StepForm):
    user_id = SelectField("Assign to", choices=[], validate_choice=False, coerce=lambda v: int(v) if str(v).isdigit() else None)
    strategy = SelectField("…or share out", choices=[("", "—"), ("round_robin", "Round robin"), ("least_loaded", "Least loaded")])
    role = SelectField("among", choices=_choices(ROLES), default="agent")
    config_fields = ("user_id", "strategy", "role")

    def configuration(self) -> dict:
        config = super().configuration()
        if config.get("user_id"):
            config.pop("strategy", None)
            config.pop("role", None)
        return config


class TagForm(StepForm):
    tag = StringField("Tag")
    config_fields = ("tag",)


class CreateTaskForm(StepForm):
    task_type = SelectField("Task type", choices=_choices(TASK_TYPES), default="follow_up")
    title = StringField("Title", description="Rendered for the lead, e.g. Call {{ first_name }}")
    due_in_days = IntegerField("Due in (days)", default=1, validators=[Optional()])
    assignee_id = SelectField("Assignee", choices=[], validate_choice=False, coerce=lambda v: int(v) if str(v).isdigit() else None)
    when_blocked = SelectField(
        "When a call is not allowed",
        choices=WHEN_BLOCKED_CHOICES,
        default="",
        description="Only call tasks are checked. " + WHEN_BLOCKED_HELP,
    )
    config_fields = ("task_type", "title", "due_in_days", "assignee_id", "when_blocked")


class RulesStepForm(StepForm):
    """A flow step with segment rules (a branch's, a wait's): the rule builder's form convention
    (``match_all``, ``rules-i-field``…, webapp/segments/builder.py), kept as posted for redrawing."""

    rules_required = False

    def __init__(self, formdata=None, **kwargs):
        super().__init__(formdata=formdata, **kwargs)
        data = kwargs.get("data") or {}
        if formdata is not None:
            from ..segments.builder import rules_from_form

            self.match_all, self.rules = rules_from_form(formdata)
        else:
            self.match_all, self.rules = data.get("match_all_rules", True), list(data.get("rules") or [])
            if self.rules_required and not self.rules:
                self.rules = [{}]  # a new branch starts with one rule to fill in
        self.rule_errors: list[dict] = []

    def configuration(self) -> dict:
        config = super().configuration()
        if self.rules or self.rules_required:
            config.update(match_all_rules=self.match_all, rules=self.rules)
        return config


class BranchForm(RulesStepForm):
    rules_required = True


class WaitUntilForm(RulesStepForm):
    event_type = SelectField("Wait for", choices=_choices(LEAD_EVENT_TYPES), default="email_sent")
    timeout_amount = IntegerField("At most", default=3, validators=[Optional()])
    timeout_unit = SelectField("Unit of the timeout", choices=[(unit, unit) for unit in DELAY_UNITS], default="days")
    config_fields = ("event_type",)
    step_fields = StepForm.step_fields + ("timeout_amount", "timeout_unit")

    @classmethod
    def initial_data(cls, action) -> dict:
        amount, unit = delay_in_largest_unit((action.configuration or {}).get("timeout_minutes"))
        return {**super().initial_data(action), "timeout_amount": amount, "timeout_unit": unit}

    def configuration(self) -> dict:
        config = super().configuration()
        if self.timeout_amount.data is not None:
            config["timeout_minutes"] = delay_to_minutes(self.timeout_amount.data, self.timeout_unit.data)
        return config


MAX_VARIANTS = 5


class SplitForm(StepForm):
    """Up to five variants, each a name and a weight (rows left empty are not variants)."""

    config_fields = ()

    @classmethod
    def initial_data(cls, action) -> dict:
        weights = (action.configuration or {}).get("weights") or {}
        rows = {f"variant_{n}_name": name for n, name in enumerate(weights, start=1)}
        rows.update({f"variant_{n}_weight": weight for n, weight in enumerate(weights.values(), start=1)})
        return {**super().initial_data(action), **rows}

    def configuration(self) -> dict:
        weights = {}
        for n in range(1, MAX_VARIANTS + 1):
            name = (self[f"variant_{n}_name"].data or "").strip().lower()
            weight = self[f"variant_{n}_weight"].data
            if name or weight is not None:
                weights[name or f"variant_{n}"] = weight
        return {"weights": weights}

    def variant_rows(self):
        return [(self[f"variant_{n}_name"], self[f"variant_{n}_weight"]) for n in range(1, MAX_VARIANTS + 1)]


for _n, (_name, _weight) in enumerate([("a", 50), ("b", 50), (None, None), (None, None), (None, None)], start=1):
    setattr(SplitForm, f"variant_{_n}_name", StringField(f"Variant {_n} name", default=_name))
    setattr(SplitForm, f"variant_{_n}_weight", IntegerField(f"Variant {_n} weight (%)", default=_weight, validators=[Optional()]))
SplitForm.step_fields = StepForm.step_fields + tuple(
    f"variant_{n}_{part}" for n in range(1, MAX_VARIANTS + 1) for part in ("name", "weight")
)


class ExitForm(StepForm):
    reason = StringField("Reason (optional)", description="Shown in the run history, e.g. “not interested”.")
    config_fields = ("reason",)


STEP_FORMS = {
    "send_email": SendEmailForm,
    "send_notification": SendNotificationForm,
    "update_lead_status": StatusForm,
    "update_lead_priority": PriorityForm,
    "assign_lead": AssignForm,
    "add_tag": TagForm,
    "remove_tag": TagForm,
    "create_task": CreateTaskForm,
    "branch": BranchForm,
    "split": SplitForm,
    "wait_until": WaitUntilForm,
    "exit": ExitForm,
}
