"""Per-class AP plots (PNG) for AVA results: bars by training frequency, run differences.

Figures are built with ``matplotlib.figure.Figure`` and the Agg canvas, so no GUI
backend or global pyplot state is touched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .ava import AvaResult

__all__ = ["plot_per_class_ap", "plot_ap_difference", "GROUP_COLOURS"]

GROUP_COLOURS = {"head": "#1f77b4", "mid": "#ff7f0e", "tail": "#2ca02c", "": "#7f7f7f"}


def _frequency_order(result: AvaResult) -> np.ndarray:
    """Class indices, most frequent in training first (ground-truth count if unknown)."""
    counts = result.train_counts if (result.train_counts >= 0).all() else result.num_groundtruth
    return np.argsort(-counts, kind="stable")


def _bar_figure(values: np.ndarray, result: AvaResult, order: np.ndarray, ylabel: str, title: str):  # noqa: ANN202
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    figure = Figure(figsize=(max(6.0, 0.22 * len(order)), 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    groups = [result.groups[i] for i in order]
    axes.bar(
        np.arange(len(order)),
        np.nan_to_num(values[order]),
        color=[GROUP_COLOURS.get(g, GROUP_COLOURS[""]) for g in groups],
    )
    axes.set_xticks(np.arange(len(order)))
    axes.set_xticklabels([result.class_names[i] for i in order], rotation=90, fontsize=6)
    axes.set_xlim(-0.6, len(order) - 0.4)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    present = [g for g in ("head", "mid", "tail") if g in groups]
    if present:
        axes.legend(handles=[Patch(color=GROUP_COLOURS[g], label=g) for g in present], fontsize=8)
    figure.tight_layout()
    return figure


def plot_per_class_ap(result: AvaResult, path: str | Path, title: str | None = None) -> Path:
    """Bar chart of per-class AP ordered by training frequency, coloured head/mid/tail.

    Args:
        result: An AVA evaluation result.
        path: Output PNG path (parent directories are created).
        title: Figure title; defaults to the mAP.

    Returns:
        The written path.

    Example:
        >>> plot_per_class_ap(result, "ap.png")  # doctest: +SKIP
    """
    title = title or f"Per-class AP (mAP {result.mAP:.3f})"
    figure = _bar_figure(result.ap, result, _frequency_order(result), "AP@0.5IOU", title)
    return _save(figure, path)


def plot_ap_difference(
    baseline: AvaResult,
    other: AvaResult,
    path: str | Path,
    labels: tuple[str, str] = ("baseline", "co-finetuning"),
) -> Path:
    """Per-class AP difference ``other - baseline`` ordered by training frequency (paper Fig. 1).

    Args:
        baseline: The reference run.
        other: The compared run (same classes).
        path: Output PNG path.
        labels: Names of the two runs for the title.

    Returns:
        The written path.

    Raises:
        ValueError: If the runs were evaluated on different classes.
    """
    if list(baseline.class_ids) != list(other.class_ids):
        raise ValueError(
            "the two results cover different classes; evaluate both with the same label map"
        )
    difference = other.ap - baseline.ap
    title = f"AP({labels[1]}) - AP({labels[0]}): mean {np.nanmean(difference):+.3f}"
    figure = _bar_figure(difference, other, _frequency_order(other), "AP difference", title)
    figure.axes[0].axhline(0.0, color="black", linewidth=0.8)
    return _save(figure, path)


def _save(figure, path: str | Path) -> Path:  # noqa: ANN001
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
