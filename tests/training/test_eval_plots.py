"""AVA plots: files are written, bars follow training frequency, bad pairs are rejected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.evaluation.ava import AvaResult
from training.evaluation.plots import _frequency_order, plot_ap_difference, plot_per_class_ap


def make_result(
    ap: list[float], counts: list[int] | None = None, ids: list[int] | None = None
) -> AvaResult:
    ids = ids or list(range(1, len(ap) + 1))
    groups = ["head", "mid", "tail", "tail"][: len(ap)] if counts else ()
    return AvaResult(
        ids,
        [f"class {i}" for i in ids],
        ap,
        [3] * len(ap),
        [5] * len(ap),
        float(np.nanmean(ap)),
        groups,
        np.array(counts or [], dtype=np.int64),
    )


def test_bars_are_ordered_by_training_frequency() -> None:
    result = make_result([0.1, 0.2, 0.3, np.nan], counts=[5, 500, 50, 0])
    assert _frequency_order(result).tolist() == [1, 2, 0, 3]


@pytest.mark.parametrize("counts", [[20_000, 5_000, 10, 0], None])
def test_plots_write_png(tmp_path: Path, counts: list[int] | None) -> None:
    a = make_result([0.5, 0.4, 0.1, np.nan], counts)
    b = make_result([0.6, 0.3, 0.2, np.nan], counts)
    for path in (
        plot_per_class_ap(a, tmp_path / "sub" / "ap.png"),
        plot_ap_difference(a, b, tmp_path / "d.png"),
    ):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_difference_needs_same_classes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="different classes"):
        plot_ap_difference(make_result([0.1]), make_result([0.1], ids=[2]), tmp_path / "d.png")
