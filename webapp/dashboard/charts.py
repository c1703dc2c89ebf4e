"""Stacked bar charts drawn on the server as SVG: where each bar goes. Pure: no database, no Flask."""

import math
from dataclasses import dataclass

from .services import DailyChart

WIDTH, HEIGHT = 360, 170
LEFT, RIGHT, TOP, BOTTOM = 30, 6, 8, 20  # room for the axis labels
# Colours that stay apart for people with the common colour-vision deficiencies (Okabe–Ito, darkened).
PALETTE = ("#4f46e5", "#0e9f6e", "#d97706", "#0284c7", "#c026d3", "#65a30d", "#b45309", "#475569", "#db2777", "#0891b2")
NAMED_COLOURS = {"failed": "#dc2626", "not sent": "#f59e0b", "succeeded or open": "#4f46e5", "sent": "#0e9f6e"}


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str


@dataclass(frozen=True)
class Tick:
    position: float  # x for a day label, y for a value line
    label: str


@dataclass(frozen=True)
class BarChartLayout:
    width: int
    height: int
    bars: list[Bar]
    day_titles: list[tuple[float, float, float, str]]  # x, width, full height: a hover title per day
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    legend: list[tuple[str, str, int]]  # name, colour, total
    baseline: float


def nice_maximum(value: int) -> int:
    """The top of the value axis: ``value`` rounded up to 1, 2 or 5 times a power of ten (at least 4)."""
    if value <= 4:
        return 4
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover (the loop always returns)


def colours_for(names: list[str]) -> dict[str, str]:
    colours, spare = {}, iter(PALETTE)
    for name in names:
        colours[name] = NAMED_COLOURS.get(name) or next(spare, "#64748b")
    return colours


def lay_out_bars(chart: DailyChart) -> BarChartLayout:
    """Where the stacked bars, the axis labels and the legend of ``chart`` go in a WIDTH×HEIGHT box."""
    days = len(chart.days)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_height
    per_day = [sum(s.values[i] for s in chart.series) for i in range(days)]
    top = nice_maximum(max(per_day, default=0))
    step = plot_width / max(days, 1)
    bar_width = max(step * 0.72, 1)
    colours = colours_for([s.name for s in chart.series])
    bars, titles = [], []
    for i, day in enumerate(chart.days):
        x = LEFT + i * step + (step - bar_width) / 2
        y = baseline
        parts = []
        for series in chart.series:
            value = series.values[i]
            if not value:
                continue
            height = value / top * plot_height
            y -= height
            bars.append(Bar(round(x, 2), round(y, 2), round(bar_width, 2), round(height, 2), colours[series.name]))
            parts.append(f"{value} {series.name}")
        summary = ", ".join(parts) if parts else "none"
        titles.append((round(LEFT + i * step, 2), round(step, 2), plot_height, f"{day:%b %d}: {summary}"))
    y_ticks = [Tick(round(baseline - fraction * plot_height, 2), f"{int(top * fraction):,}") for fraction in (0, 0.5, 1)]
    label_days = sorted({0, days // 2, days - 1}) if days else []
    x_ticks = [Tick(round(LEFT + i * step + step / 2, 2), f"{chart.days[i]:%b %d}") for i in label_days]
    legend = [(s.name, colours[s.name], sum(s.values)) for s in chart.series]
    return BarChartLayout(WIDTH, HEIGHT, bars, titles, y_ticks, x_ticks, legend, baseline)
