"""Segment pages: list, builder (create/edit with live preview), detail (members, refresh, history,
size chart, "why is this lead (not) in it"), and the rule-row endpoint the builder swaps in."""

from flask import Blueprint, abort, flash, g, get_template_attribute, redirect, render_template, request, url_for
from flask_login import current_user

from ..audit import audit
from ..auth.access import CONFIGURE, READ, roles_required
from ..extensions import db, htmx
from ..htmx import render_page_or_fragment
from ..leads.lookup import NO_LEAD_CHOSEN
from ..models import Lead, Segment, SegmentRefresh
from ..pagination import paginate, requested_page
from ..replica import reads_from_replica
from ..tenancy import get_or_404, get_scoped, scoped
from ..validation import Conflict, ValidationFailed
from . import estimates, services
from .builder import describe_rule, errors_by_row, requested_row, rule_rows_from_form
from .forms import SegmentForm
from .panels import lead_segments_panel

bp = Blueprint("segments", __name__, url_prefix="/segments")
PER_PAGE = 25
PREVIEW_LEADS = 10


@bp.get("/")
@roles_required(*READ)
@reads_from_replica
def index():
    segments = db.session.scalars(scoped(Segment).order_by(Segment.name, Segment.id)).all()
    return render_template("segments/index.html", segments=segments, describe_rule=describe_rule)


# --- the builder -------------------------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"], defaults={"segment_id": None})
@bp.route("/<int:segment_id>/edit", methods=["GET", "POST"])
@roles_required(*CONFIGURE)
def edit(segment_id):
    segment = get_or_404(Segment, segment_id) if segment_id else None
    form = SegmentForm(obj=segment)
    if request.method == "GET" and segment is not None:
        form.kind.data = "dynamic" if segment.is_dynamic else "static"
    rules = segment.raw_rules if segment else []
    match_all = segment.match_all_rules if segment else True
    rule_errors: list[dict] = []
    if form.validate_on_submit():
        data = form.segment_data(request.form)
        match_all, rules = data["match_all_rules"], data["rules"]
        try:
            if segment is None:
                segment, refresh = services.create_segment(g.organization_id, data, current_user.id)
                audit("create", segment, {"name": segment.name, "rules": len(segment.rules)})
            else:
                changes, refresh = services.update_segment(segment, data, current_user.id)
                audit("update", segment, changes)
            db.session.commit()
            flash(_saved_message(refresh), "success")
            return redirect(url_for("segments.detail", segment_id=segment.id))
        except ValidationFailed as exc:
            db.session.rollback()
            rule_errors = form.show_errors(exc.errors)
        except Conflict as exc:
            db.session.rollback()
            form.slug.errors = list(form.slug.errors) + [f"{exc}; choose another slug"]
        segment = get_scoped(Segment, segment_id) if segment_id else None
    status = 422 if form.is_submitted() else 200
    return render_template(
        "segments/form.html", form=form, segment=segment, rules=rules, match_all=match_all, rule_errors=rule_errors
    ), status


def _saved_message(refresh: SegmentRefresh | None) -> str:
    if refresh is None:
        return "Segment saved."
    if refresh.status == "completed":
        return f"Segment saved: {refresh.entered:,} entered, {refresh.exited:,} left, {refresh.member_count:,} members."
    return "Segment saved; its members are being refreshed in the background."


@bp.post("/preview")
@roles_required(*READ)
@reads_from_replica
def preview():
    """The live preview of the builder: count and first matching leads, and each row's inline error.

    Rows still waiting for a value are left out of the count (with a hint) rather than flagged as errors.
    """
    rows = rule_rows_from_form(request.form)
    complete = [(index, rule) for index, rule in rows if rule["value"] not in ("", [])]
    match_all = (request.form.get("match_all") or "true").lower() != "false"
    result, errors = None, []
    if complete:
        try:
            result = _preview_result(match_all, [rule for _, rule in complete])
        except ValidationFailed as exc:
            errors = exc.errors
    by_position, general = errors_by_row(errors)
    row_errors = {index: by_position.get(position, {}) for position, (index, _) in enumerate(complete)}
    waiting = [index for index, rule in rows if (index, rule) not in complete]
    leads = services.first_matching_leads(g.organization_id, result["lead_ids"]) if result else []
    return render_template(
        "segments/_preview.html", result=result, leads=leads, row_errors=row_errors, general=general, has_rules=bool(rows), waiting=waiting
    )


def _preview_result(match_all: bool, raw_rules: list) -> dict:
    """The exact count, or where estimates apply an estimate with the exact count following
    (``exact_count`` polls it); one exact count in flight per user and builder page."""
    if not estimates.estimates_apply():
        return services.preview_rules(g.organization_id, match_all, raw_rules, limit=PREVIEW_LEADS)
    builder = htmx.current_url or "builder"
    result = estimates.estimate_preview(g.organization_id, current_user.id, builder, match_all, raw_rules, PREVIEW_LEADS)
    db.session.commit()  # hands the exact count over
    return result


@bp.get("/preview/results/<result_id>")
@roles_required(*READ)
def exact_count(result_id):
    """The builder's exact count once it is known (polled while it is not)."""
    result = estimates.exact_count_result(g.organization_id, result_id)
    if result is None:
        abort(404)
    return render_template("segments/_preview.html", exact=result, fragment="exact")


@bp.get("/rule-row")
@roles_required(*READ)
def rule_row():
    """One rule row of the builder: a new one (``add=1``, its field takes the focus) or one re-drawn for
    its new field/operator (htmx keeps the focus on the control that changed: the ids stay the same)."""
    row = get_template_attribute("segments/_rule_builder.html", "rule_row")
    html = row(requested_row(request.args), request.args.get("preview") == "1", focus=bool(request.args.get("add")))
    return html, 200, {"HX-Trigger-After-Settle": "rules-changed", "Vary": "HX-Request"}


# --- the segment page ----------------------------------------------------------------------------------

# The sections of the segment page an HTMX request may ask for, by the id of their element.
FRAGMENTS = {
    "segment-members": "members",
    "segment-history": "history",
    "segment-chart": "chart",
    "segment-refresh": "refresh",
    "why-result": "why",
}


@bp.get("/<int:segment_id>")
@roles_required(*READ)
def detail(segment_id):
    segment = get_or_404(Segment, segment_id)
    block = FRAGMENTS.get(htmx.target) if htmx else None
    if block is None:
        return render_template("segments/detail.html", **_detail_context(segment))
    return render_page_or_fragment("segments/detail.html", block, **_detail_context(segment))


def _detail_context(segment: Segment, page: int = 1, **extra) -> dict:
    lead = get_scoped(Lead, request.args.get("lead_id")) if request.args.get("lead_id") else None
    return {
        "segment": segment,
        "describe_rule": describe_rule,
        "refresh": services.latest_refresh(segment),
        **_members_context(segment, page),
        "history": services.membership_history(segment),
        "chart": size_chart(services.size_history(segment)),
        "why_lead": lead,
        "why": _explanation(segment, lead),
        **extra,
    }


def _render_detail(segment: Segment, block: str, **context):
    """The whole segment page for a plain request, or just ``block`` for an HTMX swap."""
    context = {"segment": segment, "describe_rule": describe_rule, **context}
    if not (htmx and htmx.target) or htmx.boosted:
        context = {**_detail_context(segment, page=context.get("page", 1)), **context}
    return render_page_or_fragment("segments/detail.html", block, **context)


def _members_context(segment: Segment, page: int) -> dict:
    return paginate(services.members_query(segment), page, PER_PAGE, rows=True).context("members")


@bp.get("/<int:segment_id>/members")
@roles_required(*READ)
def members(segment_id):
    segment = get_or_404(Segment, segment_id)
    return _render_detail(segment, "members", **_members_context(segment, requested_page()))


@bp.post("/<int:segment_id>/members")
@roles_required(*CONFIGURE)
def add_member(segment_id):
    segment = get_or_404(Segment, segment_id)
    if not request.form.get("lead_id"):  # Enter in the lead combobox before a lead was chosen
        response = _render_detail(segment, "members", **_members_context(segment, 1), notice=("error", NO_LEAD_CHOSEN))
        response.status_code = 422
        return response
    return _add_member(segment, get_or_404(Lead, request.form.get("lead_id")))


@bp.post("/members")
@roles_required(*CONFIGURE)
def add_member_by_form():
    """Add a lead to the static segment chosen in a form (the lead page's panel)."""
    return _add_member(get_or_404(Segment, request.form.get("segment_id")), get_or_404(Lead, request.form.get("lead_id")))


def _add_member(segment: Segment, lead: Lead):
    try:
        result = services.add_leads(segment, [lead.id], current_user.id)
    except Conflict as exc:
        db.session.rollback()
        return _member_change_response(segment, lead, str(exc), "error", 409)
    audit("update", segment, {"added_leads": [lead.id]})
    db.session.commit()
    message = f"{lead.full_name or 'The lead'} added." if result["added"] else "Already a member."
    return _member_change_response(segment, lead, message, "success")


@bp.post("/<int:segment_id>/members/<int:lead_id>/remove")
@roles_required(*CONFIGURE)
def remove_member(segment_id, lead_id):
    segment = get_or_404(Segment, segment_id)
    lead = get_or_404(Lead, lead_id)
    try:
        services.remove_leads(segment, [lead.id], current_user.id)
    except Conflict as exc:
        db.session.rollback()
        return _member_change_response(segment, lead, str(exc), "error", 409)
    audit("update", segment, {"removed_leads": [lead.id]})
    db.session.commit()
    return _member_change_response(segment, lead, f"{lead.full_name or 'The lead'} removed.", "success")


def _member_change_response(segment: Segment, lead: Lead, message: str, category: str, status: int = 200):
    """After a hand edit: the lead page's panel when asked from there, else the members block."""
    if request.form.get("from") == "lead":
        if not htmx:
            flash(message, category)
            return redirect(url_for("leads.detail", lead_id=lead.id))
        return lead_segments_panel(lead, message=message, category=category), status
    db.session.refresh(segment)
    response = _render_detail(segment, "members", **_members_context(segment, 1), notice=(category, message))
    response.status_code = status
    return response


@bp.route("/<int:segment_id>/refresh", methods=["GET", "POST"])
@roles_required(*READ)
def refresh(segment_id):
    """POST starts a refresh (inline, or a job with progress); GET is the progress/result block."""
    segment = get_or_404(Segment, segment_id)
    current = services.latest_refresh(segment)
    if request.method == "POST":
        if not (current_user.is_superuser or current_user.role in CONFIGURE):
            abort(403)
        if current is not None and current.status in ("pending", "running"):
            return _render_detail(segment, "refresh", refresh=current)  # one refresh at a time
        try:
            current = services.start_refresh(segment, current_user.id, "manual")
        except Conflict as exc:
            db.session.rollback()
            return _render_detail(segment, "refresh", refresh=current, notice=("error", str(exc))), 409
        audit("trigger", segment, {"refresh": current.status})
        db.session.commit()
        db.session.refresh(segment)
    response = _render_detail(segment, "refresh", refresh=current)
    if current is not None and current.status == "completed" and (request.method == "POST" or request.args.get("polling")):
        response.headers["HX-Trigger"] = "segment-refreshed"  # the members, history and chart re-load
    return response


@bp.get("/<int:segment_id>/why")
@roles_required(*READ)
def why(segment_id):
    """Each rule's verdict for one lead (``lead_id``): why it is, or is not, in the segment."""
    segment = get_or_404(Segment, segment_id)
    lead = get_or_404(Lead, request.args.get("lead_id")) if request.args.get("lead_id") else None
    response = _render_detail(segment, "why", why_lead=lead, why=_explanation(segment, lead))
    if htmx and lead is not None:
        response.headers["HX-Push-Url"] = url_for("segments.detail", segment_id=segment.id, lead_id=lead.id)
    return response


def _explanation(segment: Segment, lead: Lead | None) -> dict | None:
    if lead is None:
        return None
    try:
        return services.explain_lead(segment, lead)
    except Conflict as exc:
        return {"error": str(exc)}


@bp.post("/<int:segment_id>/delete")
@roles_required(*CONFIGURE)
def delete(segment_id):
    segment = get_or_404(Segment, segment_id)
    audit("delete", segment, {"name": segment.name})
    services.delete_segment(segment)
    db.session.commit()
    flash(f"Segment {segment.name} deleted.", "success")
    return redirect(url_for("segments.index"))


def size_chart(points: list, width: int = 320, height: int = 150) -> dict:
    """Coordinates of an inline SVG line chart of the segment's size: one point per snapshot, evenly
    spaced (snapshots come from refreshes and hourly buckets, so their spacing says little)."""
    pad_left, pad_right, pad_top, pad_bottom = 40, 10, 10, 22
    if len(points) == 1:
        points = [points[0], points[0]]  # a flat line: the size has not changed since it was first taken
    counts = [count for _, count in points]
    high = max(max(counts), 1)
    inner_w, inner_h = width - pad_left - pad_right, height - pad_top - pad_bottom
    coords = [
        (round(pad_left + inner_w * i / (len(points) - 1), 1), round(pad_top + inner_h * (1 - count / high), 1), moment, count)
        for i, (moment, count) in enumerate(points)
    ]
    line = " ".join(f"{x},{y}" for x, y, _, _ in coords)
    bottom = pad_top + inner_h
    return {
        "width": width,
        "height": height,
        "line": line,
        "area": f"{coords[0][0]},{bottom} {line} {coords[-1][0]},{bottom}",
        "points": coords,
        "high": high,
        "top": pad_top,
        "middle": pad_top + inner_h / 2,
        "bottom": bottom,
        "left": pad_left,
        "right": width - pad_right,
        "first": points[0][0],
        "last": points[-1][0],
    }
