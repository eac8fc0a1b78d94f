"""AVA plots: the PNG holds one bar per class with AP, in training-frequency order, to scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _plot_reading import read_bars

from training.evaluation.ava import AvaResult
from training.evaluation.plots import (
    _frequency_order,
    plot_ap_difference,
    plot_per_class_ap,
)


def make_result(
    ap: list[float], counts: list[int] | None = None, ids: list[int] | None = None
) -> AvaResult:
    ids = ids or list(range(1, len(ap) + 1))
    groups = ["head" if c >= 1000 else "mid" if c >= 100 else "tail" for c in counts or []]
    return AvaResult(
        ids,
        [f"class {i}" for i in ids],
        ap,
        [3] * len(ap),
        [5] * len(ap),
        float(np.nanmean(ap)),
        groups if counts else (),
        np.array(counts or [], dtype=np.int64),
    )


def expected_bars(result: AvaResult, values: np.ndarray) -> list[tuple[str, float]]:
    """Hand-derivable expectation: classes by training frequency, bars only where value != 0."""
    order = _frequency_order(result)
    return [(result.groups[i], values[i]) for i in order if np.nan_to_num(values[i]) != 0]


def assert_bars_match(path: Path, result: AvaResult, values: np.ndarray) -> None:
    size, bars = read_bars(path)
    assert size == (max(600, round(22 * len(values))), 450)  # figsize * dpi
    expected = expected_bars(result, values)
    assert [group for group, _ in bars] == [group for group, _ in expected]
    heights = np.array([height for _, height in bars], dtype=np.float64)
    wanted = np.array([value for _, value in expected])
    np.testing.assert_allclose(
        heights / np.abs(heights).max(), wanted / np.abs(wanted).max(), atol=0.02
    )


def test_bars_are_ordered_by_training_frequency() -> None:
    result = make_result([0.1, 0.2, 0.3, np.nan], counts=[5, 500, 50, 0])
    assert _frequency_order(result).tolist() == [1, 2, 0, 3]


# Classes 1..4 with 10, 20 000, 500 and 0 training labels: tail, head, mid, tail, drawn in
# the order 2, 3, 1, 4; class 4 has no AP, so no bar. Without counts: class order, grey.
COUNTS = [10, 20_000, 500, 0]


@pytest.mark.parametrize(
    ("counts", "groups"), [(COUNTS, ["head", "mid", "tail"]), (None, ["", "", ""])]
)
def test_per_class_ap_png_holds_one_bar_per_class(tmp_path: Path, counts, groups) -> None:
    result = make_result([0.5, 0.4, 0.1, np.nan], counts)
    path = plot_per_class_ap(result, tmp_path / "sub" / "ap.png")
    assert path == tmp_path / "sub" / "ap.png"
    assert [group for group, _ in read_bars(path)[1]] == groups
    assert_bars_match(path, result, result.ap)


@pytest.mark.parametrize(("counts", "signs"), [(COUNTS, [-1, 1, 1]), (None, [1, -1, 1])])
def test_ap_difference_png_bars_go_up_and_down(tmp_path: Path, counts, signs) -> None:
    baseline = make_result([0.5, 0.4, 0.1, np.nan], counts)
    other = make_result([0.7, 0.3, 0.15, np.nan], counts)  # differences +0.2, -0.1, +0.05
    path = plot_ap_difference(baseline, other, tmp_path / "d.png")
    assert np.sign([height for _, height in read_bars(path)[1]]).tolist() == signs
    assert_bars_match(path, other, other.ap - baseline.ap)


def test_many_classes_widen_the_figure_and_keep_every_bar(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ap = rng.uniform(0.05, 1.0, 40)
    ap[[3, 17]] = np.nan
    result = make_result(ap.tolist(), rng.integers(1, 10_000, 40).tolist())
    assert_bars_match(plot_per_class_ap(result, tmp_path / "ap.png"), result, result.ap)


def test_difference_needs_same_classes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="different classes"):
        plot_ap_difference(make_result([0.1]), make_result([0.1], ids=[2]), tmp_path / "d.png")
