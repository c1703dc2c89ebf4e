"""The automation list and the step editor (HTMX: every section swaps on its own)."""

from datetime import timedelta

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup

from ..audit import audit
from ..auth.access import CONFIGURE, READ, roles_required
from ..campaigns.services import campaign_options
from ..extensions import db
from ..htmx import render_page_or_fragment
from ..leads.lookup import NO_LEAD_CHOSEN
from ..models import Automation, AutomationAction, AutomationRun, Lead, utcnow
from ..models.automations import ACTION_TYPES
from ..models.leads import PRIORITIES, STATUSES
from ..tenancy import get_or_404
from ..validation import Conflict, ValidationFailed
from .charts import stats_charts
from .dry_run import ACTION_LABELS, describe_output, describe_step, dry_run
from .editor_view import offset_rule_rows, path_words, step_labels, tree_nodes
from .engine import how_started, retry_run
from .forms import STEP_FORMS, TRIGGER_LABELS, AutomationForm, describe_delay
from .services import (
    add_step,
    automations_with_stats,
    delete_automation,
    delete_step,
    lead_by_reference,
    move_step,
    picker_rows,
    recent_runs,
    save_automation,
    start_manually,
    subtree,
    update_step,
    validate_automation,
    validate_trigger,
)
from .stats import automation_stats

bp = Blueprint("automations", __name__, url_prefix="/automations")
EDITOR = "automations/editor.html"
FLOW_NAMES = {"branch": "if/else", "split": "split", "wait_until": "wait", "exit": "exit"}
# Three rule builders share the editor page: their rows are numbered apart so that their ids differ.
RULE_ROWS = {"conditions": 0, "goal": 1000, "step": 2000}


@bp.get("/")
@roles_required(*READ)
def index():
    automations, stats = automations_with_stats(g.organization_id, utcnow() - timedelta(hours=24))
    return render_template("automations/index.html", automations=automations, stats=stats, labels=TRIGGER_LABELS)


def _fill_choices(form: AutomationForm) -> None:
    form.campaign_id.choices = campaign_options(g.organization_id)


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*CONFIGURE)
def create():
    form = AutomationForm()
    _fill_choices(form)
    if form.validate_on_submit():
        values = {
            "name": form.name.data,
            "slug": (form.slug.data or "").strip() or None,
            "description": form.description.data or None,
            "trigger_type": form.trigger_type.data,
            "trigger_configuration": _trigger_config_from_form(form.trigger_type.data),
            "run_immediately": form.run_immediately.data,
            "delay_minutes": form.delay_minutes(),
            "allow_reentry": form.allow_reentry.data,
            "campaign_id": int(form.campaign_id.data) if form.campaign_id.data else None,
        }
        try:
            values = validate_automation(values, g.organization_id, partial=False)
            automation = Automation(organization_id=g.organization_id)
            save_automation(automation, values)
            audit("create", automation, {"name": automation.name})
            db.session.commit()
            return redirect(url_for("automations.editor", automation_id=automation.id))
        except ValidationFailed as exc:
            db.session.rollback()
            _show_errors(form, exc.errors)
        except Conflict as exc:  # only a slug given can clash: one derived from the name is made unique
            db.session.rollback()
            form.slug.errors = [f"{exc}: choose another, or leave it empty"]
    return render_template("automations/new.html", form=form, **_trigger_choices()), 422 if form.is_submitted() else 200


def _show_errors(form, errors: list[dict]) -> None:
    for error in errors:
        name = error["field"].split(".")[0].split("[")[0]
        field = form._fields.get(name) or (form.delay_amount if name == "delay_minutes" else None)
        message = error["message"]
        if field is None:
            field, message = form.name, f"{error['field']}: {message}"
        field.errors = list(field.errors) + [message]


def _trigger_choices() -> dict:
    return {
        "trigger_labels": TRIGGER_LABELS,
        "status_options": [(s, s.capitalize()) for s in STATUSES],
        "priority_options": [(p, p.capitalize()) for p in PRIORITIES],
        "segment_options": [(s.id, s.name) for s in picker_rows(g.organization_id, "segments")],
        "user_options": [(u.id, u.display_name) for u in picker_rows(g.organization_id, "users")],
        "template_options": [(t.id, t.name) for t in picker_rows(g.organization_id, "templates")],
        "automation_options": [(a.id, a.name) for a in picker_rows(g.organization_id, "automations")],
    }


def _trigger_config_from_form(trigger_type: str) -> dict:
    """The trigger's configuration from the ``cfg_<key>`` fields of a form."""
    from .services import TRIGGER_KEYS

    config = {}
    for key in TRIGGER_KEYS.get(trigger_type, {}):
        value = request.form.get(f"cfg_{key}", "").strip()
        if value:
            config[key] = int(value) if key.endswith(("_id", "_minutes")) and value.isdigit() else value
    return config


def _editor_context(automation: Automation, **extra) -> dict:
    runs = recent_runs(automation)
    form = AutomationForm(obj=automation, formdata=None)
    _fill_choices(form)
    form.campaign_id.data = str(automation.campaign_id or "")
    form.show_delay(automation.delay_minutes)
    stats = automation_stats(automation)
    tree = tree_nodes(automation, stats, extra.get("path_run"))
    goal = extra.get("draft_goal", automation.goal) or {}
    return {
        "automation": automation,
        "runs": runs,
        "tree": tree,
        "stats": stats,
        "charts": stats_charts(stats, step_labels(tree)),
        "path_words": path_words,
        "goal_match_all": goal.get("match_all_rules", True),
        "goal_rows": offset_rule_rows(goal.get("rules") or [], extra.get("goal_errors"), RULE_ROWS["goal"]),
        "open_form": None,
        "confirm": None,
        "path_run": None,
        "step_error": None,
        "settings_form": form,
        "action_types": ACTION_TYPES,
        "action_labels": ACTION_LABELS,
        "describe_step": describe_step,
        "describe_output": describe_output,
        "how_started": how_started,
        "describe_delay": describe_delay,
        "errors": {},
        **_trigger_choices(),
        **extra,
    }


@bp.get("/<int:automation_id>")
@roles_required(*READ)
def editor(automation_id):
    automation = get_or_404(Automation, automation_id)
    return render_template(EDITOR, **_editor_context(automation))


def _section(automation: Automation, block: str, status: int = 200, **extra):
    response = render_page_or_fragment(EDITOR, block, **_editor_context(automation, **extra))
    response.status_code = status
    return response


@bp.post("/<int:automation_id>/settings")
@roles_required(*CONFIGURE)
def save_settings(automation_id):
    automation = get_or_404(Automation, automation_id)
    form = AutomationForm()
    values = {
        "name": form.name.data,
        "slug": (form.slug.data or "").strip() or None,
        "description": form.description.data or None,
        "run_immediately": form.run_immediately.data,
        "delay_minutes": form.delay_minutes(),
        "allow_reentry": form.allow_reentry.data,
        "campaign_id": int(form.campaign_id.data) if (form.campaign_id.data or "").isdigit() else None,
    }
    try:
        changes = save_automation(automation, validate_automation(values, g.organization_id, partial=True))
        audit("update", automation, changes)
        db.session.commit()
        return _section(automation, "settings", saved="settings")
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        errors = {e["field"]: e["message"] for e in getattr(exc, "errors", [{"field": "slug", "message": str(exc)}])}
        return _section(automation, "settings", 422, errors=errors)


@bp.get("/trigger-fields")
@roles_required(*CONFIGURE)
def trigger_fields():
    """The configuration fields of the chosen trigger type (swapped in when the picker changes)."""
    trigger_type = request.args.get("trigger_type", "")
    if trigger_type not in TRIGGER_LABELS:
        abort(404)
    return render_template("automations/_trigger_fields.html", trigger_type=trigger_type, config={}, errors={}, **_trigger_choices())


@bp.post("/<int:automation_id>/trigger")
@roles_required(*CONFIGURE)
def save_trigger(automation_id):
    automation = get_or_404(Automation, automation_id)
    trigger_type = request.form.get("trigger_type", "")
    config = _trigger_config_from_form(trigger_type)
    errors = validate_trigger(trigger_type, config, g.organization_id)
    if errors:
        return _section(automation, "trigger", 422, errors={e["field"]: e["message"] for e in errors}, draft_trigger=(trigger_type, config))
    changes = save_automation(automation, {"trigger_type": trigger_type, "trigger_configuration": config})
    audit("update", automation, changes)
    db.session.commit()
    return _section(automation, "trigger", saved="trigger")


@bp.post("/<int:automation_id>/conditions")
@roles_required(*CONFIGURE)
def save_conditions(automation_id):
    from ..segments.builder import rules_from_form

    automation = get_or_404(Automation, automation_id)
    match_all, raw_rules = rules_from_form(request.form)
    try:
        values = validate_automation({"conditions": {"match_all": match_all, "rules": raw_rules}}, g.organization_id, partial=True)
        changes = save_automation(automation, values)
        audit("update", automation, changes)
        db.session.commit()
        return _section(automation, "conditions", saved="conditions")
    except ValidationFailed as exc:
        db.session.rollback()
        return _section(
            automation, "conditions", 422, condition_errors=exc.errors, draft_conditions={"match_all": match_all, "rules": raw_rules}
        )


@bp.post("/<int:automation_id>/toggle")
@roles_required(*CONFIGURE)
def toggle(automation_id):
    automation = get_or_404(Automation, automation_id)
    if not automation.is_active and not automation.actions:
        flash("Add at least one step before activating.", "error")
        return _section(automation, "header", 422)
    changes = save_automation(automation, {"is_active": not automation.is_active})
    audit("update", automation, changes)
    db.session.commit()
    return _section(automation, "header")


# --- steps: the journey tree (SPEC §15 "Editor") ------------------------------------------------------
# Every step action re-renders the steps section; at most one step form is open in it, at its place:
# below "Add a step" (``top``), at an insert point (``insert-<parent>-<branch>-<position>``) or in
# place of the step it edits (``edit-<id>``).


def _step_form(action_type: str, action: AutomationAction | None = None, formdata=None):
    form_class = STEP_FORMS.get(action_type) or abort(404)
    form = form_class(formdata=formdata, data=form_class.initial_data(action) if action is not None else {})
    user_choices = [(str(u.id), f"{u.display_name} ({u.role})") for u in picker_rows(g.organization_id, "users")]
    if "template_id" in form._fields:
        templates = picker_rows(g.organization_id, "templates")
        form.template_id.choices = [("", "Choose a template…")] + [(str(t.id), t.name) for t in templates]
    if action_type == "send_notification":
        form.user_id.choices = [("assignee", "The lead's assignee")] + user_choices
    elif "user_id" in form._fields:
        form.user_id.choices = [("", "—")] + user_choices
    if "assignee_id" in form._fields:
        form.assignee_id.choices = [("", "The lead's assignee")] + user_choices
    return form


def _place(automation: Automation, source) -> tuple[AutomationAction | None, str | None, int | None]:
    """The list and position a new step goes to: ``parent_id`` (a step of this automation, else 404),
    ``branch`` and ``position`` from the query or the form; none given: the end of the top-level list."""
    parent_id = source.get("parent_id", "")
    parent = _owned_step(automation, int(parent_id)) if parent_id.isdecimal() else None
    position = source.get("position", "")
    return parent, (source.get("branch") or None) if parent else None, int(position) if position.isdecimal() else None


def _form_key(parent: AutomationAction | None, branch: str | None, position: int | None) -> str:
    if parent is None and position is None:
        return "top"
    return f"insert-{parent.id if parent else 'top'}-{branch or 'main'}-{position}"


def _place_words(parent: AutomationAction | None, branch: str | None, position: int | None) -> str:
    where = f"in “{branch}” of {ACTION_LABELS[parent.action_type].lower()}" if parent else "in the main list"
    return f"{where}, {'at the end' if position is None else 'at the start' if position == 0 else f'after its step {position}'}"


def _open_step_form(automation, action_type, form, *, action=None, place=(None, None, None), errors=()) -> dict:
    """The ``open_form`` of the steps section: the step form's HTML and where it goes."""
    rule_rows = offset_rule_rows(form.rules, list(errors), RULE_ROWS["step"]) if hasattr(form, "rules") else ([], [])
    key = f"edit-{action.id}" if action else _form_key(*place)
    html = render_template(
        "automations/_step_form.html",
        automation=automation,
        action=action,
        action_type=action_type,
        form=form,
        action_labels=ACTION_LABELS,
        action_types=ACTION_TYPES,
        place=place,
        place_words=None if action or key == "top" else _place_words(*place),
        choose_type=key.startswith("insert"),
        focus_back="#add-step-type" if key == "top" else f"#{key}",
        rule_rows=rule_rows,
    )
    return {"key": key, "html": Markup(html)}


@bp.get("/<int:automation_id>/steps")
@roles_required(*READ)
def steps(automation_id):
    """The steps section; ``run``: with the path of that run of the automation highlighted."""
    automation = get_or_404(Automation, automation_id)
    run = None
    if request.args.get("run", "").isdecimal():
        run = get_or_404(AutomationRun, int(request.args["run"]))
        if run.automation_id != automation.id:
            abort(404)
    return _section(automation, "steps", path_run=run)


@bp.get("/<int:automation_id>/steps/new")
@roles_required(*CONFIGURE)
def new_step(automation_id):
    automation = get_or_404(Automation, automation_id)
    place = _place(automation, request.args)
    action_type = request.args.get("action_type") or "send_email"
    return _section(automation, "steps", open_form=_open_step_form(automation, action_type, _step_form(action_type), place=place))


@bp.post("/<int:automation_id>/steps")
@roles_required(*CONFIGURE)
def create_step(automation_id):
    automation = get_or_404(Automation, automation_id)
    action_type = request.form.get("action_type", "")
    parent, branch, position = place = _place(automation, request.form)
    form = _step_form(action_type, formdata=request.form)
    try:
        values = {
            "action_type": action_type,
            "configuration": form.configuration(),
            "delay_minutes": form.delay_minutes(),
            "is_active": bool(form.is_active.data),
            "conditions": {},
        }
        action = add_step(automation, values, parent=parent, branch=branch, position=position)
        audit("update", automation, {"step_added": action_type})
        db.session.commit()
        return _section(automation, "steps", focus_step=action.id)
    except ValidationFailed as exc:
        db.session.rollback()
        return _step_form_with_errors(automation, None, action_type, form, exc.errors, place)


def _step_form_with_errors(automation, action, action_type, form, errors, place=(None, None, None)):
    """The steps section again, the form open where it was with each error at its field (a rule's at its row)."""
    form.place_errors = [e["message"] for e in errors if e["field"] in ("branch", "position")]
    for error in errors:
        if ".rules[" in error["field"] or error["field"].endswith(".rules") or error["field"] in ("branch", "position"):
            continue  # shown by the rule rows, or above the form's fields
        name = error["field"].split(".")[-1]
        field = form._fields.get(name) or form._fields.get(name.replace("_minutes", "_amount")) or form.delay_amount
        if error["field"].startswith("configuration.weights"):
            field = form.variant_1_name
        field.errors = list(field.errors) + [error["message"]]
    open_form = _open_step_form(automation, action_type, form, action=action, place=place, errors=errors)
    return _section(automation, "steps", 422, open_form=open_form)


def _owned_step(automation: Automation, step_id: int) -> AutomationAction:
    for action in automation.actions:
        if action.id == step_id:
            return action
    abort(404)


@bp.get("/<int:automation_id>/steps/<int:step_id>/edit")
@roles_required(*CONFIGURE)
def edit_step(automation_id, step_id):
    automation = get_or_404(Automation, automation_id)
    action = _owned_step(automation, step_id)
    form = _step_form(action.action_type, action)
    return _section(automation, "steps", open_form=_open_step_form(automation, action.action_type, form, action=action))


@bp.post("/<int:automation_id>/steps/<int:step_id>")
@roles_required(*CONFIGURE)
def save_step(automation_id, step_id):
    automation = get_or_404(Automation, automation_id)
    action = _owned_step(automation, step_id)
    form = _step_form(action.action_type, formdata=request.form)
    try:
        update_step(
            automation,
            action,
            {"configuration": form.configuration(), "delay_minutes": form.delay_minutes(), "is_active": bool(form.is_active.data)},
        )
        audit("update", automation, {"step_changed": action.id})
        db.session.commit()
        return _section(automation, "steps")
    except ValidationFailed as exc:
        db.session.rollback()
        return _step_form_with_errors(automation, action, action.action_type, form, exc.errors)


@bp.post("/<int:automation_id>/steps/<int:step_id>/move")
@roles_required(*CONFIGURE)
def move(automation_id, step_id):
    automation = get_or_404(Automation, automation_id)
    try:
        move_step(automation, _owned_step(automation, step_id), -1 if request.args.get("direction") == "up" else 1)
    except ValidationFailed as exc:
        db.session.rollback()
        return _section(automation, "steps", 422, step_error=(step_id, exc.errors[0]["message"]))
    audit("update", automation, {"step_moved": step_id})
    db.session.commit()
    return _section(automation, "steps")


@bp.post("/<int:automation_id>/steps/<int:step_id>/toggle")
@roles_required(*CONFIGURE)
def toggle_step(automation_id, step_id):
    automation = get_or_404(Automation, automation_id)
    action = _owned_step(automation, step_id)
    update_step(automation, action, {"is_active": not action.is_active})
    audit("update", automation, {"step_enabled" if action.is_active else "step_disabled": step_id})
    db.session.commit()
    return _section(automation, "steps")


@bp.get("/<int:automation_id>/steps/<int:step_id>/delete")
@roles_required(*CONFIGURE)
def confirm_delete_step(automation_id, step_id):
    """The confirmation in place of the step's buttons, naming how many steps its branches take with it."""
    automation = get_or_404(Automation, automation_id)
    action = _owned_step(automation, step_id)
    return _section(automation, "steps", confirm={"id": action.id, "question": delete_question(automation, action)})


def delete_question(automation: Automation, action: AutomationAction) -> str:
    """``Delete this split and the 4 steps in its branches?`` (or ``Delete this step?``)."""
    inside = len(subtree(automation, action)) - 1
    if action.action_type not in FLOW_NAMES:
        return "Delete this step?"
    name = FLOW_NAMES[action.action_type]
    if not inside:
        return f"Delete this {name}? Its branches are empty."
    return f"Delete this {name} and the {inside} step{'s' if inside != 1 else ''} in its branches?"


@bp.post("/<int:automation_id>/steps/<int:step_id>/delete")
@roles_required(*CONFIGURE)
def remove_step(automation_id, step_id):
    automation = get_or_404(Automation, automation_id)
    removed = delete_step(automation, _owned_step(automation, step_id))
    audit("update", automation, {"step_deleted": step_id, "steps_removed": removed})
    db.session.commit()
    return _section(automation, "steps")


@bp.post("/<int:automation_id>/goal")
@roles_required(*CONFIGURE)
def save_goal(automation_id):
    from ..segments.builder import rules_from_form

    automation = get_or_404(Automation, automation_id)
    match_all, raw_rules = rules_from_form(request.form)
    goal = {"match_all_rules": match_all, "rules": raw_rules} if raw_rules else None
    try:
        changes = save_automation(automation, validate_automation({"goal": goal}, g.organization_id, partial=True))
        audit("update", automation, changes)
        db.session.commit()
        return _section(automation, "goal", saved="goal")
    except ValidationFailed as exc:
        db.session.rollback()
        return _section(automation, "goal", 422, goal_errors=exc.errors, draft_goal=goal)


# --- dry run, manual start, runs -----------------------------------------------------------------


def _chosen_lead() -> Lead | None:
    return lead_by_reference(g.organization_id, request.form.get("lead_id", ""))


@bp.post("/<int:automation_id>/dry-run")
@roles_required(*READ)
def run_dry(automation_id):
    automation = get_or_404(Automation, automation_id)
    lead = _chosen_lead()
    if lead is None:
        return _section(automation, "dry_run", 422, dry_error=NO_LEAD_CHOSEN)
    return _section(automation, "dry_run", dry=dry_run(automation, lead), dry_lead=lead)


@bp.post("/<int:automation_id>/start")
@roles_required(*CONFIGURE)
def start(automation_id):
    automation = get_or_404(Automation, automation_id)
    lead = _chosen_lead()
    if lead is None:
        return _section(automation, "dry_run", 422, dry_error=NO_LEAD_CHOSEN)
    run_ids = start_manually(automation, [lead.id])
    audit("trigger", automation, {"lead_id": lead.id, "runs": run_ids})
    db.session.commit()
    message = (
        f"Started run #{run_ids[0]} for {lead.full_name or lead.email}."
        if run_ids
        else "Not started: a run of this automation is still open for this lead, or its conditions do not hold."
    )
    return _section(automation, "dry_run", started=message, dry_lead=lead)


@bp.get("/<int:automation_id>/runs")
@roles_required(*READ)
def runs(automation_id):
    automation = get_or_404(Automation, automation_id)
    return _section(automation, "runs")


@bp.get("/<int:automation_id>/results")
@roles_required(*READ)
def results(automation_id):
    """The stats and their charts (polled, like the run history)."""
    return _section(get_or_404(Automation, automation_id), "results")


@bp.post("/runs/<int:run_id>/retry")
@roles_required(*CONFIGURE)
def retry(run_id):
    run = get_or_404(AutomationRun, run_id)
    if run.status != "failed":
        abort(409)
    retry_run(run)
    audit("trigger", run, {"retry": True})
    db.session.commit()
    return _section(run.automation, "runs")


@bp.post("/<int:automation_id>/delete")
@roles_required(*CONFIGURE)
def delete(automation_id):
    automation = get_or_404(Automation, automation_id)
    audit("delete", automation, {"name": automation.name})
    delete_automation(automation)
    db.session.commit()
    flash("Automation deleted.", "success")
    return redirect(url_for("automations.index"))
