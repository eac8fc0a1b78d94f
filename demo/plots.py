"""The demo's action timeline: a classes x time heat map of one :class:`Analysis`.

One panel for the detection head (per keyframe, the highest score of any person; grey
where no person was found) and one per classification head (its five most probable
classes, per clip). Built on ``matplotlib.figure.Figure`` without pyplot, so concurrent
requests never share pyplot's global state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from cofin_sdk import Analysis, Classifications, Detections
    from cofin_sdk.results.timeline import ActionTimeline

__all__ = ["detection_matrix", "keyframe_times", "person_timeline_figure", "timeline_figure"]

_MAX_DETECTION_ROWS = 12  # more classes than this: only the most active ones are shown
_TOP_CLASSES = 5


def detection_matrix(detections: Detections, times: np.ndarray) -> np.ndarray:
    """``float32 [C, K]``: per class and keyframe, the best person's score (NaN: nobody).

    Args:
        detections: Detections of the video.
        times: ``[K]`` keyframe times in seconds.
    """
    matrix = np.full((len(detections.class_names), len(times)), np.nan, np.float32)
    for k, time in enumerate(times):
        at = detections.timestamps == time
        if at.any():
            matrix[:, k] = detections.action_scores[at].max(axis=0)
    return matrix


def _classification_matrix(result: Classifications) -> tuple[list[str], np.ndarray]:
    """The top classes of ``result`` (names, ``[5, K]`` per-clip probabilities)."""
    order = np.argsort(-result.probabilities, kind="stable")[:_TOP_CLASSES]
    return [result.class_names[i] for i in order], result.clip_probabilities[:, order].T


def _panels(analysis: Analysis, times: np.ndarray) -> list[tuple[str, list[str], np.ndarray]]:
    panels = []
    detections = analysis.detections
    if detections is not None:
        matrix = detection_matrix(detections, times)
        rows = np.arange(len(detections.class_names))
        if len(rows) > _MAX_DETECTION_ROWS:  # keep the most active classes, in label order
            peak = np.nan_to_num(matrix, nan=0.0).max(axis=1)
            rows = np.sort(np.argsort(-peak, kind="stable")[:_MAX_DETECTION_ROWS])
        names = [detections.class_names[i] for i in rows]
        panels.append(("detection: best person per keyframe", names, matrix[rows]))
    for head, result in analysis.classifications.items():
        names, matrix = _classification_matrix(result)
        panels.append((f"{head}: top-{len(names)} per clip", names, matrix))
    return panels


def keyframe_times(analysis: Analysis) -> np.ndarray:
    """Every keyframe time of ``analysis`` (clip times, plus detection timestamps)."""
    times = [np.zeros(0)]
    times += [r.clip_times for r in analysis.classifications.values() if r.clip_times is not None]
    if analysis.detections is not None:
        times.append(analysis.detections.timestamps)
    return np.unique(np.concatenate(times))


def timeline_figure(analysis: Analysis, width: float = 9.0) -> Any:
    """A ``matplotlib`` Figure: one heat-map panel per head, keyframe time on x, shared.

    Args:
        analysis: What :meth:`cofin_sdk.Detector.analyze` returned.
        width: Figure width in inches.

    Returns:
        ``matplotlib.figure.Figure``.
    """
    from matplotlib.figure import Figure

    times = keyframe_times(analysis)
    panels = _panels(analysis, times)
    heights = [max(2, len(names)) for _, names, _ in panels] or [2]
    size = (width, 0.8 + 0.28 * sum(heights) + 0.5 * len(heights))
    figure = Figure(figsize=size, dpi=100, layout="constrained")
    axes = figure.subplots(len(heights), 1, squeeze=False, height_ratios=heights)[:, 0]
    image = None
    for ax, (title, names, matrix) in zip(axes, panels):
        image = _heat_map(ax, matrix, names, times, title)
    if not panels:
        axes[0].text(0.5, 0.5, "no keyframes", ha="center", va="center")
        axes[0].set_axis_off()
    axes[-1].set_xlabel("time (s)")
    if image is not None:
        figure.colorbar(image, ax=list(axes), label="score", fraction=0.03, pad=0.02)
    return figure


def _heat_map(ax: Any, matrix: np.ndarray, names: list[str], times: np.ndarray, title: str) -> Any:
    cmap = _colormap()
    shown = np.ma.masked_invalid(matrix)
    image = ax.imshow(shown, aspect="auto", cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    step = max(1, int(np.ceil(len(times) / 15)))  # at most ~15 time labels
    ticks = np.arange(0, len(times), step)
    ax.set_xticks(ticks, [f"{times[i]:g}" for i in ticks], fontsize=8)
    ax.set_title(title, fontsize=9, loc="left")
    return image


def _colormap() -> Any:
    import matplotlib

    return matplotlib.colormaps["viridis"].with_extremes(bad="#d9d9d9")  # grey: no person


def person_timeline_figure(timeline: ActionTimeline, width: float = 9.0) -> Any:
    """A Gantt chart of an :class:`~cofin_sdk.results.timeline.ActionTimeline`: one row per track
    (``#id``), one bar per action segment, coloured by action (legend below).

    Args:
        timeline: Segments of the tracked people.
        width: Figure width in inches.

    Returns:
        ``matplotlib.figure.Figure``.
    """
    import matplotlib
    from matplotlib.figure import Figure

    tracks = sorted(set(timeline.track_ids.tolist()))
    actions = sorted(set(timeline.actions))
    palette = matplotlib.colormaps["tab20"]
    colour = {action: palette(i % 20) for i, action in enumerate(actions)}
    figure = Figure(
        figsize=(width, 1.2 + 0.45 * max(1, len(tracks))), dpi=100, layout="constrained"
    )
    ax = figure.subplots()
    row = {track: i for i, track in enumerate(tracks)}
    # several actions of one person at once (multi-label) share the row: thinner stacked bars
    lanes: dict[int, list[str]] = {
        t: sorted({s.action for s in timeline if s.track_id == t}) for t in tracks
    }
    for segment in timeline:
        lane = lanes[segment.track_id]
        height = 0.8 / len(lane)
        bottom = row[segment.track_id] - 0.4 + lane.index(segment.action) * height
        ax.broken_barh(
            [(segment.start_s, segment.end_s - segment.start_s)],
            (bottom, height),
            facecolors=colour[segment.action],
        )
    ax.set_yticks(range(len(tracks)), [f"#{t}" for t in tracks], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("time (s)")
    ax.set_title("per-person timeline: action segments of each track", fontsize=9, loc="left")
    if not len(timeline):
        ax.text(0.5, 0.5, "no action segments", ha="center", va="center", transform=ax.transAxes)
    else:
        handles = [matplotlib.patches.Patch(color=colour[a], label=a) for a in actions]
        figure.legend(
            handles=handles, loc="outside lower center", ncols=min(6, len(actions)), fontsize=8
        )
    return figure
