"""What the journey editor shows (SPEC §15 "Editor"): the tree of steps with their labels, counts and
the path of a chosen run; a run's path in words; rule rows for a second or third rule builder on the page."""

from ..models import AutomationRun
from ..segments.builder import errors_by_row, row_view
from .dry_run import ACTION_LABELS
from .journey import action_tree

BRANCH_LABELS = {"yes": "Yes: the rules hold", "no": "No", "met": "Met: the event came", "timed_out": "Timed out"}
SHORT_LABELS = {"branch": "if/else", "split": "split", "wait_until": "wait", "exit": "exit"}


def tree_nodes(automation, stats: dict | None = None, run: AutomationRun | None = None) -> list[dict]:
    """The steps as nested nodes: ``{"action", "number", "index", "counts", "on_path", "branches": [{"name",
    "label", "taken", "on_path", "list_id", "steps"}]}``; numbers read ``2``, ``2.yes.1``…"""
    counts = {a["action_id"]: a for a in (stats or {}).get("actions", [])}
    rows = {row.id: row for row in automation.actions}
    visited, taken = run_path(run)

    def nodes(actions: list[dict], prefix: str) -> list[dict]:
        found = []
        for index, action in enumerate(actions, start=1):
            number = f"{prefix}{index}"
            branches = []
            weights = action["configuration"].get("weights") or {}
            for name, steps in (action.get("branches") or {}).items():
                label = f"{name} · {weights[name]} %" if action["action_type"] == "split" else BRANCH_LABELS.get(name, name)
                branches.append(
                    {
                        "name": name,
                        "label": label,
                        "taken": (counts.get(action["id"]) or {}).get("branches", {}).get(name, 0),
                        "on_path": taken.get(action["id"]) == name,
                        "list_id": f"steps-{action['id']}-{name}",
                        "steps": nodes(steps, f"{number}.{name}."),
                    }
                )
            found.append(
                {
                    "action": rows[action["id"]],
                    "number": number,
                    "index": index,
                    "counts": counts.get(action["id"]),
                    "on_path": action["id"] in visited,
                    "branches": branches,
                    "size": 1 + sum(_size(b["steps"]) for b in branches),
                }
            )
        return found

    return nodes(action_tree(automation.actions), "")


def _size(nodes: list[dict]) -> int:
    return sum(node["size"] for node in nodes)


def run_path(run: AutomationRun | None) -> tuple[set[int], dict[int, str]]:
    """The actions a run reached, and the branch it took at each flow action (its path, its steps' outputs)."""
    if run is None:
        return set(), {}
    taken = {entry["action_id"]: entry["branch"] for entry in run.path or [] if entry.get("branch")}
    for step in run.steps:
        if (step.output or {}).get("branch"):
            taken.setdefault(step.action_id, step.output["branch"])
    return {step.action_id for step in run.steps} | {entry["action_id"] for entry in run.path or []}, taken


def path_words(run: AutomationRun) -> str:
    """``send email → wait: met → if/else: yes → assign``: the steps a run reached, in order."""
    _, taken = run_path(run)
    words = []
    for step in run.steps:
        label = SHORT_LABELS.get(step.action_type) or ACTION_LABELS.get(step.action_type, step.action_type).lower()
        branch = taken.get(step.action_id)
        words.append(f"{label}: {branch.replace('_', ' ')}" if branch else label)
    return " → ".join(words)


def step_labels(nodes: list[dict]) -> dict[int, str]:
    """``{action_id: "2.yes.1 Set status"}`` for every node (the chart's row labels)."""
    labels = {}
    for node in nodes:
        labels[node["action"].id] = f"{node['number']} {ACTION_LABELS.get(node['action'].action_type, '')}"
        for branch in node["branches"]:
            labels.update(step_labels(branch["steps"]))
    return labels


def offset_rule_rows(rules: list[dict], errors: list[dict] | None, base: int) -> tuple[list[dict], list[str]]:
    """Rule rows numbered from ``base`` (``rules-<base+i>-field``…): a rule builder that shares the page with
    another one (the conditions) keeps distinct ids. Errors name rules by position (``rules[1].value``)."""
    by_row, general = errors_by_row(errors or [])
    return [row_view(base + index, rule or {}, by_row.get(index, {})) for index, rule in enumerate(rules or [])], general
