"""The automation page's chart of its stats (SPEC §15): horizontal bars drawn on the server as SVG.
Pure: it lays out what ``stats.automation_stats`` counted; the dashboard's scale and colours are reused."""

from dataclasses import dataclass

from ..dashboard.charts import colours_for, nice_maximum

WIDTH = 360
LABEL_WIDTH = 130  # the row labels, left of the bars
VALUE_ROOM = 34  # the number right of a bar
ROW_HEIGHT = 20
BAR_HEIGHT = 13
STEP_PARTS = ("completed", "waiting", "skipped", "failed")
STEP_COLOURS = {"completed": "#0e9f6e", "waiting": "#d97706", "skipped": "#64748b", "failed": "#dc2626"}
RUN_COLOURS = {"completed": "#0e9f6e", "goal_reached": "#4f46e5", "exited": "#0284c7", "waiting": "#d97706", "failed": "#dc2626"}


@dataclass(frozen=True)
class Segment:
    x: float
    width: float
    colour: str
    name: str
    value: int


@dataclass(frozen=True)
class Row:
    y: float
    label: str
    total: int
    segments: list[Segment]
    title: str  # the row in words (a hover title)


@dataclass(frozen=True)
class HorizontalChart:
    key: str
    title: str
    width: int
    height: int
    rows: list[Row]
    legend: list[tuple[str, str]]  # name, colour
    summary: str  # the chart in one sentence, for screen readers


def lay_out_rows(key: str, title: str, rows: list[tuple[str, list[tuple[str, int]]]], colours: dict[str, str]) -> HorizontalChart:
    """Bars of stacked parts, one row per ``(label, [(part name, value)])``, on one scale."""
    top = nice_maximum(max((sum(v for _, v in parts) for _, parts in rows), default=0))
    room = WIDTH - LABEL_WIDTH - VALUE_ROOM
    laid = []
    for index, (label, parts) in enumerate(rows):
        x, segments = float(LABEL_WIDTH), []
        for name, value in parts:
            if value:
                width = value / top * room
                segments.append(Segment(round(x, 2), round(width, 2), colours[name], name, value))
                x += width
        total = sum(v for _, v in parts)
        words = ", ".join(f"{v} {n.replace('_', ' ')}" for n, v in parts if v) or "none"
        laid.append(Row(index * ROW_HEIGHT + 4, label, total, segments, f"{label}: {words}"))
    used = [name for name in colours if any(s.name == name for row in laid for s in row.segments)]
    summary = "; ".join(row.title for row in laid) + "."
    return HorizontalChart(key, title, WIDTH, max(len(rows), 1) * ROW_HEIGHT + 8, laid, [(n, colours[n]) for n in used], summary)


def stats_charts(stats: dict, step_labels: dict[int, str]) -> list[HorizontalChart]:
    """Runs by status, goal conversions, and the funnel of steps (entered, split by how each ended)."""
    runs = stats["runs"]
    run_colours = {**colours_for([s for s in runs if s not in RUN_COLOURS]), **RUN_COLOURS}
    by_status = lay_out_rows("runs", "Runs by status", [(s.replace("_", " "), [(s, n)]) for s, n in sorted(runs.items()) if n], run_colours)
    total = sum(runs.values())
    reached = stats["goal_reached"]
    goal = lay_out_rows(
        "goal",
        "Goal conversions",
        [("goal reached", [("goal_reached", reached)]), ("other runs", [("other", total - reached)])] if total else [],
        {"goal_reached": RUN_COLOURS["goal_reached"], "other": "#98a2b3"},
    )
    funnel = lay_out_rows(
        "funnel",
        "Per step: entered, and how it ended",
        [(step_labels.get(a["action_id"], str(a["action_id"])), [(part, a[part]) for part in STEP_PARTS]) for a in stats["actions"]],
        STEP_COLOURS,
    )
    return [by_status, goal, funnel]
