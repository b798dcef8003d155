"""The run report's figures, drawn with matplotlib and returned as PNG data URIs.

Figures are built on `matplotlib.figure.Figure` with an explicit Agg canvas, never through pyplot, so
drawing a report needs no display and leaves the backend of the program that asked for it untouched.
Each function takes plain series (the report's sections read them out of the run records with
`fedward.report.records`) and returns a `data:image/png;base64,...` URI ready for an `<img src>`, which
keeps the report one self-contained file.
Figures are small (8 x 3.5 inches at 90 dpi) so that a report of many rounds stays light enough to mail.
"""

from __future__ import annotations

import base64
import io
import math
import warnings
from collections.abc import Mapping, Sequence

from matplotlib import colormaps
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, PercentFormatter

__all__ = [
    "Series",
    "class_distribution_figure",
    "epsilon_figure",
    "pooled_figure",
    "reliability_figure",
    "round_seconds_figure",
    "site_accuracy_figure",
]

Series = tuple[Sequence[int], Sequence[float]]
"""A curve over rounds: round numbers and the value at each (rounds without a value are left out)."""

WIDTH_IN = 8.0
HEIGHT_IN = 3.5
DPI = 90
_LABEL_MAX = 28
_LEGEND_ROWS = 16  # legend entries that fit one column beside a 3.5-inch-high plot
RGBA = tuple[float, float, float, float]


def site_accuracy_figure(
    curves: Mapping[str, Series],
    local_only: Mapping[str, float],
    centralized: float | None,
    worst: str | None,
) -> str:
    """Accuracy per round, one line per site; local-only baselines dashed in the site's colour.

    The centralized model's pooled accuracy is the black dotted ceiling, and the worst site's line is
    drawn thicker so the reader's eye lands on the hospital the federation serves least well. Colours
    follow the order of `curves`; give every site (an empty series for one never evaluated) so that a
    site keeps its colour across figures.
    """
    fig, ax = _new_axes()
    colours = palette(list(curves) + [s for s in local_only if s not in curves])
    lines = _site_lines(ax, curves, colours, worst)
    references: list[Artist] = []
    for site, value in local_only.items():
        ax.axhline(value, color=colours[site], linestyle="--", linewidth=1.0, alpha=0.8)
    if local_only:
        references.append(Line2D([], [], color="grey", linestyle="--", label="local only (site colour)"))
    if centralized is not None:
        ax.axhline(centralized, color="black", linestyle=":", linewidth=1.6)
        references.append(Line2D([], [], color="black", linestyle=":", label="centralized (pooled)"))
    pinned: list[Artist] = [lines[worst]] if worst in lines else []
    pinned += references
    _finish(ax, "Accuracy per round at each site", "accuracy", [*lines.values(), *references], pinned=pinned)
    return _to_data_uri(fig)


def _site_lines(
    ax: Axes, curves: Mapping[str, Series], colours: Mapping[str, RGBA], worst: str | None
) -> dict[str, Line2D]:
    """One line per site with data; the worst site's drawn thick and on top."""
    lines = {}
    for site, (xs, ys) in curves.items():
        if not xs:
            continue
        emphasized = site == worst
        (lines[site],) = ax.plot(
            xs,
            ys,
            color=colours[site],
            marker="o" if len(xs) <= 30 else None,
            markersize=3,
            linewidth=2.8 if emphasized else 1.3,
            alpha=1.0 if emphasized else 0.8,
            zorder=3 if emphasized else 2,
            label=_label(site) + (" (worst)" if emphasized else ""),
        )
    return lines


def pooled_figure(curves: Mapping[str, Series], centralized: float | None) -> str:
    """Pooled metrics of the global model per round (e.g. accuracy and macro-F1 over all test data)."""
    fig, ax = _new_axes()
    for (name, (xs, ys)), colour in zip(
        curves.items(), ("tab:blue", "tab:orange", "tab:green"), strict=False
    ):
        ax.plot(xs, ys, color=colour, marker="o" if len(xs) <= 30 else None, markersize=3, label=_label(name))
    handles, _ = ax.get_legend_handles_labels()
    if centralized is not None:
        ax.axhline(centralized, color="black", linestyle=":", linewidth=1.6)
        handles.append(Line2D([], [], color="black", linestyle=":", label="centralized accuracy"))
    _finish(ax, "Pooled test metrics per round", "score", handles)
    return _to_data_uri(fig)


def reliability_figure(diagrams: Mapping[str, tuple[Sequence[float | None], Sequence[float | None]]]) -> str:
    """Reliability diagram: per site, accuracy against mean confidence in each non-empty confidence bin;
    the diagonal is perfect calibration (points below it: the model is over-confident there)."""
    fig, ax = _new_axes()
    colours = palette(list(diagrams))
    ax.plot([0, 1], [0, 1], color="black", linestyle=":", linewidth=1.2, label="perfectly calibrated")
    for site, (confidence, accuracy) in diagrams.items():
        points = [
            (c, a) for c, a in zip(confidence, accuracy, strict=False) if c is not None and a is not None
        ]
        if points:
            ax.plot(
                *zip(*points, strict=True), color=colours[site], marker="o", markersize=4, label=_label(site)
            )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean confidence in the bin")
    handles, _ = ax.get_legend_handles_labels()
    _finish(
        ax, "Reliability of the final model at each site", "accuracy in the bin", handles, over_rounds=False
    )
    return _to_data_uri(fig)


def class_distribution_figure(counts: Mapping[str, Mapping[str, int]], classes: Sequence[str]) -> str:
    """Training examples per class at each site, stacked: shows label skew between hospitals at a glance."""
    fig, ax = _new_axes()
    sites = list(counts)
    bottoms = [0.0] * len(sites)
    colours = palette(classes)
    for cls in classes:
        heights = [float(counts[s].get(cls, 0)) for s in sites]
        ax.bar(range(len(sites)), heights, bottom=bottoms, color=colours[cls], label=_label(cls), width=0.7)
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    labels = [_label(s) for s in sites]
    crowded = sum(len(label) for label in labels) > 60 or len(sites) > 8
    ax.set_xticks(
        range(len(sites)), labels, rotation=25 if crowded else 0, ha="right" if crowded else "center"
    )
    if len(sites) > 15:
        ax.tick_params(axis="x", labelrotation=90, labelsize="x-small")
    handles, _ = ax.get_legend_handles_labels()
    _finish(
        ax,
        "Training examples per class at each site",
        "examples",
        handles[::-1],
        percent=False,
        over_rounds=False,
    )
    ax.xaxis.grid(False)
    return _to_data_uri(fig)


def round_seconds_figure(rounds: Sequence[int], parts: Mapping[str, Sequence[float]]) -> str:
    """Seconds per round, stacked by where the time went (e.g. training, evaluation, framework overhead)."""
    fig, ax = _new_axes()
    bottoms = [0.0] * len(rounds)
    for (name, values), colour in zip(parts.items(), ("tab:blue", "tab:orange", "tab:gray"), strict=False):
        ax.bar(rounds, values, bottom=bottoms, color=colour, label=_label(name), width=0.8)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    handles, _ = ax.get_legend_handles_labels()
    _finish(ax, "Seconds per round", "seconds", handles, percent=False)
    ax.xaxis.grid(False)
    return _to_data_uri(fig)


def palette(names: Sequence[str]) -> dict[str, RGBA]:
    """A stable colour per name, in order: tab10 for up to ten names, tab20 beyond (cycling after 20)."""
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    size = 10 if len(names) <= 10 else 20
    return {name: cmap(i % size) for i, name in enumerate(names)}


def _new_axes() -> tuple[Figure, Axes]:
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _finish(
    ax: Axes,
    title: str,
    ylabel: str,
    handles: Sequence[Artist],
    *,
    percent: bool = True,
    over_rounds: bool = True,
    pinned: Sequence[Artist] = (),
) -> None:
    """Title, axis labels, integer round ticks, and a legend beside the plot so it never hides data."""
    ax.set_title(title, fontsize="medium", loc="left")
    ax.set_ylabel(ylabel)
    if percent:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    else:
        ax.set_ylim(bottom=0)
    if over_rounds:
        ax.set_xlabel("round")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if handles:
        shown = _shorten(handles, pinned)
        columns = math.ceil(len(shown) / _LEGEND_ROWS)
        figure = ax.get_figure()
        assert figure is not None  # every axes here comes from `_new_axes`
        # A figure legend placed "outside" is centred on the figure, so a tall one is not pushed off it.
        figure.legend(
            handles=shown,
            loc="outside right center",
            fontsize="small" if columns == 1 else "x-small",
            ncols=columns,
            frameon=False,
        )


def _shorten(handles: Sequence[Artist], pinned: Sequence[Artist]) -> list[Artist]:
    """At most two columns of legend entries, keeping the pinned ones and counting those left out."""
    limit = 2 * _LEGEND_ROWS
    if len(handles) <= limit:
        return list(handles)
    room = limit - len(pinned) - 1
    rest = [handle for handle in handles if handle not in pinned]
    more = Line2D([], [], linestyle="none", label=f"… and {len(rest) - room} more")
    return [*rest[:room], more, *pinned]


def _label(text: str) -> str:
    """Data text made safe for a matplotlib label: no mathtext, not hidden from the legend, not too long.

    A `$` would switch matplotlib to mathtext (and a malformed formula raises); a leading `_` hides an
    artist from the legend.
    """
    text = str(text)
    if len(text) > _LABEL_MAX:
        text = text[: _LABEL_MAX - 1] + "…"
    text = text.replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def _to_data_uri(fig: Figure) -> str:
    """PNG bytes of the figure as a data URI. A glyph missing from the font costs a box, not the report."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from", category=UserWarning)
        # With a legend too large for the figure, constrained layout gives up: the plot is still drawn.
        warnings.filterwarnings("ignore", message="constrained_layout not applied", category=UserWarning)
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def epsilon_figure(curves: Mapping[str, Series], budget: float | None, target: float | None) -> str:
    """Cumulative epsilon after each round, one line per site (or a single one for the federation).

    The epsilon budget, where one is set, is a black dashed line (the coordinator refuses a round that
    would cross it) and the target epsilon the noise was calibrated for is a black dotted line. As in
    `site_accuracy_figure`, colours follow the order of `curves`, so a site keeps its colour across figures.
    """
    fig, ax = _new_axes()
    lines = _site_lines(ax, curves, palette(list(curves)), None)
    references: list[Artist] = []
    if budget is not None:
        ax.axhline(budget, color="black", linestyle="--", linewidth=1.4)
        references.append(Line2D([], [], color="black", linestyle="--", label="epsilon budget"))
    if target is not None:
        ax.axhline(target, color="black", linestyle=":", linewidth=1.6)
        references.append(Line2D([], [], color="black", linestyle=":", label="target epsilon"))
    handles = [*lines.values(), *references]
    _finish(ax, "Privacy spent per round", "cumulative epsilon", handles, percent=False, pinned=references)
    return _to_data_uri(fig)
