"""Scheduled-task pages: the list (HTMX filters, run due tasks now), one task with its attempts
(HTMX retry/cancel), and the bulk lead action that schedules a batch_operation task."""

import json
from datetime import datetime

from flask import Blueprint, flash, g, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from ..audit import audit
from ..auth.access import CONFIGURE, READ, roles_required
from ..extensions import db, htmx
from ..htmx import render_page_or_fragment
from ..leads.services import lead_list_query
from ..leads.views import current_filters as current_lead_filters
from ..models import Lead, ScheduledTask, User, utcnow
from ..models.scheduled_tasks import BATCH_OPERATIONS, DUE_STATUSES, MAX_LEAD_IDS, TASK_STATUSES
from ..pagination import paginate, requested_page
from ..tenancy import get_or_404, get_scoped, scoped
from ..validation import Conflict, ValidationFailed
from .definitions import cancel_task, create_task, retry_task, task_type_names
from .execution import process_due
from .forms import OPERATION_LABELS, BulkActionForm

bp = Blueprint("scheduled_tasks", __name__, url_prefix="/scheduled-tasks")
LIST, DETAIL, BULK = "scheduled_tasks/index.html", "scheduled_tasks/detail.html", "scheduled_tasks/bulk.html"
PER_PAGE = 25
SHOWN_LIST_ITEMS = 20  # a payload list longer than this (10,000 lead ids) is shown cut, with its length
CANCELLABLE = ("pending", "retry_scheduled", "running")
RETRYABLE = ("failed", "cancelled")


# --- the list --------------------------------------------------------------------------------------


def list_filters() -> dict:
    """Status and type from the query string (or a posted form); unknown values are ignored."""
    filters = {"status": request.values.get("status", ""), "task_type": request.values.get("task_type", "")}
    allowed = {"status": TASK_STATUSES, "task_type": task_type_names()}
    return {name: value for name, value in filters.items() if value in allowed[name]}


def _list_context(**extra) -> dict:
    filters = list_filters()
    query = scoped(ScheduledTask, *(getattr(ScheduledTask, name) == value for name, value in filters.items()))
    tasks = paginate(query.order_by(ScheduledTask.id.desc()), requested_page(), PER_PAGE)
    now = utcnow()
    due_now = db.session.scalar(
        select(func.count()).select_from(
            scoped(ScheduledTask, ScheduledTask.status.in_(DUE_STATUSES), ScheduledTask.scheduled_for <= now).subquery()
        )
    )
    return {
        **tasks.context("tasks"),
        "filters": filters,
        "due_now": due_now,
        "statuses": TASK_STATUSES,
        "task_types": task_type_names(),
        "now": now,
        "relative": relative,
        **extra,
    }


@bp.get("/")
@roles_required(*READ)
def index():
    return render_page_or_fragment(LIST, "results", **_list_context())


@bp.post("/process-due")
@roles_required(*CONFIGURE)
def run_due():
    counts = process_due(g.organization_id)  # commits task by task: nothing else is pending in this request
    audit("trigger", changes={"process_due": counts})
    db.session.commit()
    if htmx:
        return render_page_or_fragment(LIST, "results", **_list_context(processed=counts, processed_message=processed_message(counts)))
    flash(processed_message(counts), "success")
    return redirect(url_for("scheduled_tasks.index", **list_filters()))


def processed_message(counts: dict) -> str:
    if not counts["processed"]:
        return "No task was due."
    done = ", ".join(
        f"{counts[key]} {label}"
        for key, label in (("completed", "completed"), ("retry_scheduled", "to be retried"), ("failed", "failed"))
        if counts[key]
    )
    return f"Ran {counts['processed']} due task{'' if counts['processed'] == 1 else 's'}: {done}."


# --- one task ----------------------------------------------------------------------------------------


def _detail_context(task: ScheduledTask, **extra) -> dict:
    creator = get_scoped(User, task.created_by_id) if task.created_by_id else None
    return {
        "task": task,
        "creator": creator,
        "payload_text": pretty(task.payload),
        "result_text": pretty(task.result),
        "attempts": list(reversed(task.attempt_history or [])),
        "can_retry": task.status in RETRYABLE,
        "can_cancel": task.status in CANCELLABLE,
        "now": utcnow(),
        "relative": relative,
        "parse_time": parse_time,
        **extra,
    }


@bp.get("/<int:task_id>")
@roles_required(*READ)
def detail(task_id):
    return render_page_or_fragment(DETAIL, "task", **_detail_context(get_or_404(ScheduledTask, task_id)))


@bp.post("/<int:task_id>/retry")
@roles_required(*CONFIGURE)
def retry(task_id):
    return _change_state(task_id, retry_task, "The task is pending again: it runs as soon as a worker is free.")


@bp.post("/<int:task_id>/cancel")
@roles_required(*CONFIGURE)
def cancel(task_id):
    return _change_state(task_id, cancel_task, "The task is cancelled.")


def _change_state(task_id: int, change, notice: str):
    """Retry or cancel, then swap the task's block (HTMX) or go back to its page."""
    task = get_or_404(ScheduledTask, task_id)
    before = task.status
    try:
        change(task)
    except Conflict as exc:
        db.session.rollback()
        if htmx:  # 422 so that the message swaps in like a form error (static/js/app.js)
            response = render_page_or_fragment(DETAIL, "task", **_detail_context(task, error=str(exc)))
            response.status_code = 422
            return response
        flash(f"Not done: {exc}.", "error")
        return redirect(url_for("scheduled_tasks.detail", task_id=task_id))
    audit("update", task, {"status": [before, task.status]})
    db.session.commit()
    if htmx:
        return render_page_or_fragment(DETAIL, "task", **_detail_context(task, notice=notice))
    flash(notice, "success")
    return redirect(url_for("scheduled_tasks.detail", task_id=task_id))


# --- bulk lead action ---------------------------------------------------------------------------------


@bp.route("/bulk", methods=["GET", "POST"])
@roles_required(*CONFIGURE)
def bulk_action():
    """The leads matching the lead list's filters (in the query string) get one change, as a task."""
    filters = current_lead_filters()
    matching = lead_list_query(g.organization_id, filters)
    count = db.session.scalar(select(func.count()).select_from(matching.order_by(None).subquery()))
    form = BulkActionForm()
    if not form.is_submitted() and request.args.get("operation") in OPERATION_LABELS:
        form.operation.data = request.args["operation"]  # the operation picker swaps the value field in
    if form.validate_on_submit():
        if not count:
            form.form_errors.append("No lead matches these filters: there is nothing to change.")
        elif count > MAX_LEAD_IDS:
            form.form_errors.append(too_many_message(count))
        else:
            lead_ids = db.session.scalars(matching.with_only_columns(Lead.id).order_by(Lead.id)).all()
            try:
                task = create_task(
                    g.organization_id,
                    "batch_operation",
                    form.payload(lead_ids),
                    name=(form.name.data or "").strip() or describe_bulk_action(form, len(lead_ids)),
                    scheduled_for=form.run_at_utc(),
                    created_by_id=current_user.id,
                )
                audit("create", task, {"task_type": task.task_type, "name": task.name, "leads": len(lead_ids)})
                db.session.commit()
                flash(f"Scheduled for {len(lead_ids):,} lead{'' if len(lead_ids) == 1 else 's'}.", "success")
                return redirect(url_for("scheduled_tasks.detail", task_id=task.id))
            except ValidationFailed as exc:
                db.session.rollback()
                form.show_errors(exc.errors)
    response = render_page_or_fragment(
        BULK,
        "value_field",
        form=form,
        filters=filters,
        count=count,
        max_leads=MAX_LEAD_IDS,
        too_many=too_many_message(count) if count > MAX_LEAD_IDS else "",
    )
    if form.is_submitted():
        response.status_code = 422
    return response


def too_many_message(count: int) -> str:
    return (
        f"{count:,} leads match these filters; a bulk action changes at most {MAX_LEAD_IDS:,} leads at once. "
        "Narrow the filters, or use a segment for more."
    )


def describe_bulk_action(form: BulkActionForm, count: int) -> str:
    value = form.payload([])[BATCH_OPERATIONS[form.operation.data]]
    label = form.operation.data.replace("_", " ").capitalize()  # "Add tag", "Set status"
    return f"{label} '{value}' on {count:,} lead{'' if count == 1 else 's'}"[:200]


# --- template helpers ------------------------------------------------------------------------------------


def pretty(value) -> str:
    """JSON for a <pre>, with long lists cut to their first items and their length."""
    if value is None:
        return ""
    return json.dumps(_cut(value), indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _cut(value):
    if isinstance(value, dict):
        return {key: _cut(item) for key, item in value.items()}
    if isinstance(value, list) and len(value) > SHOWN_LIST_ITEMS:
        return [_cut(item) for item in value[:SHOWN_LIST_ITEMS]] + [f"… {len(value) - SHOWN_LIST_ITEMS:,} more ({len(value):,} in all)"]
    if isinstance(value, list):
        return [_cut(item) for item in value]
    return value


def relative(moment: datetime | None, now: datetime) -> str:
    """``in 5 min``, ``2 h ago``, ``now``: how far a time is from now, roughly."""
    if moment is None:
        return ""
    seconds = (moment - now).total_seconds()
    span = abs(seconds)
    if span < 60:
        return "now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if span >= size:
            amount = f"{int(span // size)} {unit}"
            return f"in {amount}" if seconds > 0 else f"{amount} ago"
    return "now"


def parse_time(text: str | None) -> datetime | None:
    """The ISO times of the attempt history, for the ``when`` macro."""
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
