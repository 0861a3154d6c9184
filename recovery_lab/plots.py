"""Draw a study's plots with matplotlib, as SVG text.

Every plot is a ``matplotlib.figure.Figure`` drawn without pyplot, so no global
figure state is kept and no display is needed. The Agg backend is selected for
anything that would rasterise. Each SVG gets its own id salt, so that several of
them can be inlined in one HTML page without their element ids colliding. Kill
lines carry the id ``kill-line-SLUG-N``, which tests and readers can search for.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from recovery_lab.timeline import COMPUTED, LOST, RECOMPUTED, Attempt, Timeline  # noqa: E402

# Face colour, edge (and hatch) colour and hatch of each kind of attempt.
ATTEMPT_STYLES = {
    COMPUTED: ("#4c72b0", "#2b4a80", ""),
    RECOMPUTED: ("#fdb863", "#b35806", "////"),
    LOST: ("#f4a582", "#b2182b", "xxx"),
}
ATTEMPT_LABELS = {
    COMPUTED: "computed",
    RECOMPUTED: "recomputed (an earlier result was lost)",
    LOST: "lost in flight (cut short by the kill)",
}
KILL_COLOUR = "#b2182b"
INCARNATION_SHADES = ("#f0f0f0", "#dde8f3")
BASELINE_COLOUR = "#bababa"
FAULTS_COLOUR = "#4c72b0"


def slug(text: str) -> str:
    """Turn a run name into an id fragment: lower case letters, digits, dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def figure_svg(figure: Figure, salt: str) -> str:
    """Render a figure as SVG text, without the XML declaration and DOCTYPE."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none"}):
        # Without metadata the SVG names no external resource (matplotlib would
        # add Dublin Core links) and is the same for the same data.
        figure.savefig(
            buffer,
            format="svg",
            bbox_inches="tight",
            metadata={"Creator": None, "Date": None, "Format": None, "Type": None},
        )
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _pack(attempts: list[Attempt]) -> list[int]:
    """Assign each attempt the first row of its lane that is free at its start."""
    row_ends: list[float] = []
    rows = []
    for attempt in attempts:
        for index, end in enumerate(row_ends):
            if end <= attempt.start:
                row_ends[index] = attempt.end
                rows.append(index)
                break
        else:
            row_ends.append(attempt.end)
            rows.append(len(row_ends) - 1)
    return rows


def timeline_figure(timeline: Timeline, title: str, name: str) -> Figure:
    """Draw one run: a lane per process, a bar per attempt, a line per kill.

    Args:
        timeline: The run's timeline.
        title: Figure title.
        name: Run name, made part of the kill line ids.

    Returns:
        The figure.

    """
    # Attempts that overlap in one process (threads) go on separate rows of its
    # lane, so a lane is as high as the process's peak concurrency.
    placed: list[tuple[Attempt, float]] = []
    ticks: list[float] = []
    labels: list[str] = []
    separators: list[float] = []
    top = 0.0
    for lane in reversed(timeline.lanes):
        attempts = [a for a in timeline.attempts if a.pid == lane.pid]
        rows = _pack(attempts)
        height = max(rows, default=0) + 1
        for attempt, row in zip(attempts, rows, strict=True):
            placed.append((attempt, top + row + 0.1))
        ticks.append(top + height / 2)
        labels.append(f"PID {lane.pid} (PPID {lane.ppid})")
        top += height
        separators.append(top)

    figure = Figure(figsize=(11, 1.6 + 0.22 * max(top, 2)), layout="constrained")
    ax = figure.add_subplot()
    for index, incarnation in enumerate(timeline.incarnations):
        ax.axvspan(
            incarnation.start,
            incarnation.end,
            color=INCARNATION_SHADES[index % 2],
            zorder=0,
            gid=f"incarnation-{slug(name)}-{incarnation.number}",
        )
        ax.text(
            incarnation.start,
            1.0,
            f" incarnation {incarnation.number}",
            transform=ax.get_xaxis_transform(),
            va="bottom",
            ha="left",
            fontsize=8,
            color="#555555",
        )
    for y in separators[:-1]:
        ax.axhline(y, color="white", linewidth=1, zorder=1)

    minimum_width = max(timeline.duration, 0.01) * 0.002
    for kind, (face, edge, hatch) in ATTEMPT_STYLES.items():
        for attempt, y in placed:
            if attempt.kind != kind:
                continue
            ax.broken_barh(
                [(attempt.start, max(attempt.end - attempt.start, minimum_width))],
                (y, 0.8),
                facecolors=face,
                edgecolors=edge,
                hatch=hatch,
                linewidth=0.6,
                zorder=2,
            )
    for kill in timeline.kills:
        ax.axvline(
            kill.time,
            color=KILL_COLOUR,
            linewidth=2,
            zorder=3,
            gid=f"kill-line-{slug(name)}-{kill.number}",
        )
        # Kill labels sit in a row above the incarnation labels, ending at their
        # line, so that neither covers the other.
        ax.annotate(
            f"{kill.signal} {kill.number}",
            (kill.time, 1.0),
            xycoords=ax.get_xaxis_transform(),
            xytext=(0, 12),
            textcoords="offset points",
            va="bottom",
            ha="right",
            fontsize=8,
            color=KILL_COLOUR,
            fontweight="bold",
        )

    ax.set_ylim(0, max(top, 1))
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_xlim(0, max(timeline.duration, 0.01) * 1.01)
    ax.set_xlabel("seconds since the first launch")
    ax.set_title(title, fontsize=10, loc="left", pad=26)
    handles: list[Patch | Line2D] = [
        Patch(facecolor=face, edgecolor=edge, hatch=hatch, label=ATTEMPT_LABELS[kind])
        for kind, (face, edge, hatch) in ATTEMPT_STYLES.items()
    ]
    handles.append(Line2D([], [], color=KILL_COLOUR, linewidth=2, label="kill"))
    figure.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8)
    return figure


def _bar_panel(
    ax: Axes,
    strategies: Sequence[str],
    baseline: Sequence[float | None],
    faults: Sequence[tuple[float, float, float] | None],
    ylabel: str,
) -> None:
    """Draw one metric: a no-fault bar and a faulted bar with its range per strategy.

    ``faults`` contains (median, minimum, maximum) per strategy, or None.
    """
    width = 0.38
    positions = range(len(strategies))
    base_heights = [value or 0.0 for value in baseline]
    bars = ax.bar(
        [p - width / 2 for p in positions],
        base_heights,
        width,
        color=BASELINE_COLOUR,
        label="no fault",
    )
    ax.bar_label(
        bars,
        labels=["" if v is None else f"{v:.3g}" for v in baseline],
        fontsize=7,
    )
    medians = [f[0] if f else 0.0 for f in faults]
    below = [f[0] - f[1] if f else 0.0 for f in faults]
    above = [f[2] - f[0] if f else 0.0 for f in faults]
    bars = ax.bar(
        [p + width / 2 for p in positions],
        medians,
        width,
        color=FAULTS_COLOUR,
        yerr=[below, above],
        capsize=3,
        label="with faults (median, min-max)",
    )
    ax.bar_label(
        bars,
        labels=["" if f is None else f"{f[0]:.3g}" for f in faults],
        fontsize=7,
        padding=2,
    )
    ax.set_xticks(list(positions), list(strategies), rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.margins(y=0.15)


def strategy_bars_figure(
    strategies: Sequence[str],
    panels: Sequence[
        tuple[str, Sequence[float | None], Sequence[tuple[float, float, float] | None]]
    ],
    share_y: bool = False,
) -> Figure:
    """Draw one panel per metric comparing strategies with and without faults.

    Args:
        strategies: Strategy names, one bar group each.
        panels: Per metric: its axis label, the no-fault median per strategy and
            the faulted (median, minimum, maximum) per strategy.
        share_y: Give every panel the same vertical scale, for panels of one
            metric.

    Returns:
        The figure.

    """
    figure = Figure(figsize=(4 * len(panels), 3.6), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False, sharey=share_y)[0]
    for ax, (ylabel, baseline, faults) in zip(axes, panels, strict=True):
        _bar_panel(ax, strategies, baseline, faults, ylabel)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=8)
    return figure


def kill_losses_figure(
    strategies: Sequence[str], losses: Sequence[Sequence[tuple[float, float]]]
) -> Figure:
    """Draw the work each kill cost each strategy, as stacked bars.

    Args:
        strategies: Strategy names.
        losses: Per strategy, per kill: median tasks whose finished result was lost
            and median attempts cut short in flight.

    Returns:
        The figure.

    """
    kills = max((len(per_kill) for per_kill in losses), default=0)
    figure = Figure(figsize=(2.2 + 1.6 * len(strategies), 3.2), layout="constrained")
    ax = figure.add_subplot()
    width = 0.8 / max(kills, 1)
    face_redone, edge_redone, hatch_redone = ATTEMPT_STYLES[RECOMPUTED]
    face_lost, edge_lost, hatch_lost = ATTEMPT_STYLES[LOST]
    for index, per_kill in enumerate(losses):
        for number, (redone, lost) in enumerate(per_kill):
            x = index - 0.4 + width * (number + 0.5)
            ax.bar(
                x,
                redone,
                width * 0.9,
                color=face_redone,
                edgecolor=edge_redone,
                hatch=hatch_redone,
            )
            ax.bar(
                x,
                lost,
                width * 0.9,
                bottom=redone,
                color=face_lost,
                edgecolor=edge_lost,
                hatch=hatch_lost,
            )
            ax.text(
                x,
                redone + lost,
                f"kill {number + 1}",
                ha="center",
                va="bottom",
                fontsize=7,
            )
    ax.set_xticks(range(len(strategies)), list(strategies), rotation=20, ha="right")
    ax.set_xlim(-0.6, len(strategies) - 0.4)
    ax.set_ylabel("tasks (median over runs)")
    ax.margins(y=0.2)
    handles = [
        Patch(
            facecolor=face_redone,
            edgecolor=edge_redone,
            hatch=hatch_redone,
            label="finished, then computed again",
        ),
        Patch(
            facecolor=face_lost,
            edgecolor=edge_lost,
            hatch=hatch_lost,
            label="cut short in flight",
        ),
    ]
    figure.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8)
    return figure
