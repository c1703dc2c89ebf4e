"""Tasks pages: "My tasks" (overdue / today / upcoming), completing in one click, the lead page's card."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block
from markupsafe import Markup

from ..audit import audit
from ..auth.access import CONFIGURE, READ, WORK, can, roles_required
from ..extensions import db, htmx
from ..htmx import render_page_or_fragment
from ..models import Lead, Task, User
from ..tenancy import get_or_404, scoped
from ..validation import Conflict, ValidationFailed
from . import services
from .forms import TaskForm

bp = Blueprint("tasks", __name__, url_prefix="/tasks")
CHANGED = "tasks-changed"  # the HX-Trigger event after a task changes: the lead page's list reloads


@bp.get("/")
@roles_required(*READ)
def index():
    """The signed-in user's open tasks; admins and marketers may look at anyone's (``?assignee=``)."""
    assignee = _chosen_assignee()
    sections = services.my_tasks(g.organization_id, None if assignee == "all" else assignee)
    return render_page_or_fragment(
        "tasks/index.html",
        "sections",
        sections=sections,
        assignee=assignee,
        users=_users() if can(*CONFIGURE) else [],
    )


def _chosen_assignee() -> int | str:
    """The signed-in user's id, or for admins and marketers the ``assignee`` asked for (an id, "all")."""
    wanted = request.args.get("assignee", "")
    if not can(*CONFIGURE) or not wanted:
        return current_user.id
    if wanted == "all":
        return "all"
    return int(wanted) if wanted.isdigit() and int(wanted) in {u.id for u in _users()} else current_user.id


def _users() -> list[User]:
    return db.session.scalars(scoped(User, User.is_active.is_(True)).order_by(User.name)).all()


@bp.post("/<int:task_id>/complete")
@roles_required(*WORK)
def complete(task_id):
    """Done, with the outcome of the button pressed: the task's row swaps, the navigation count follows."""
    task = get_or_404(Task, task_id)
    outcome = (request.form.get("outcome") or "").strip() or None
    error = None
    try:
        services.complete_task(task, outcome, current_user.id)
        audit("update", task, {"status": ["open", "done"], "outcome": outcome})
        db.session.commit()
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        error = "; ".join(e["message"] for e in exc.errors) if isinstance(exc, ValidationFailed) else str(exc)
    if not htmx:
        flash(error or f"Done: {task.title}", "error" if error else "success")
        return redirect(_back())
    on_lead = request.form.get("on") == "lead"
    response = render_template("tasks/_completed.html", task=task, error=error, on_lead=on_lead)
    return response, 200, {"HX-Trigger": CHANGED}


def _back() -> str:
    target = request.referrer or ""
    return target if target.startswith(request.host_url) else url_for("tasks.index")


# --- the lead page's card ------------------------------------------------------------------------


def lead_tasks_panel(lead: Lead) -> Markup:
    """The lead page's "Tasks" card: the lead's tasks (kept fresh by polling) and a new-task form."""
    return Markup(_render_panel(lead, _new_form(lead)))


def _new_form(lead: Lead, formdata=None) -> TaskForm:
    form = TaskForm(formdata=formdata)
    form.assignee_id.choices = [("", "Unassigned")] + [(str(u.id), u.display_name) for u in _users()]
    if formdata is None:
        form.assignee_id.data = str(lead.assigned_to_id or (current_user.id if can(*WORK) else ""))
    return form


def _render_panel(lead: Lead, form: TaskForm, message: str | None = None) -> str:
    return render_template("tasks/_lead_panel.html", lead=lead, tasks=services.lead_tasks(lead), form=form, message=message)


@bp.get("/lead/<int:lead_id>")
@roles_required(*READ)
def lead_list(lead_id):
    """The list of the lead's card alone: what its polling fetches."""
    lead = get_or_404(Lead, lead_id)
    return render_block("tasks/_lead_panel.html", "list", lead=lead, tasks=services.lead_tasks(lead))


@bp.post("/lead/<int:lead_id>")
@roles_required(*WORK)
def create_for_lead(lead_id):
    """A new task from the lead page's form: the card again, with the task or the form's errors."""
    lead = get_or_404(Lead, lead_id)
    form = _new_form(lead, request.form)
    message, status = None, 200
    if form.validate_on_submit():
        try:
            values = services.validate_new_task(form.task_data(lead.id), g.organization_id)
            values.pop("lead_id")
            task = services.create_task(lead, values, current_user.id)
            audit("create", task, {"lead_id": lead.id, "title": task.title, "via": "form"})
            db.session.commit()
            message = f"Task added: {task.title}"
            form = _new_form(lead)
        except ValidationFailed as exc:
            db.session.rollback()
            form.show_errors(exc.errors)
            status = 422
    else:
        status = 422
    if not htmx:
        flash(message or "The task was not added: please check its fields.", "success" if message else "error")
        return redirect(url_for("leads.detail", lead_id=lead.id))
    return _render_panel(lead, form, message), status, {"HX-Trigger": CHANGED} if message else {}


def nav_badge(user=None) -> int | None:
    """The navigation's count: the user's (the signed-in user's) open tasks overdue or due today."""
    user = user or current_user
    organization_id = g.get("organization_id")
    if organization_id is None or not user.is_authenticated:
        return None
    return services.due_task_count(organization_id, user.id) or None
