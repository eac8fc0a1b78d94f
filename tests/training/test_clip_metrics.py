"""Top-k clip accuracy: hand-worked values, ties and input validation."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluation.clip_metrics import top1_top5, top_k_accuracy

LOGITS = np.array(
    [
        [0.1, 0.5, 0.2, 0.0, 0.0, 0.0, 0.3],  # target 1: rank 0
        [0.9, 0.5, 0.2, 0.1, 0.0, 0.0, 0.3],  # target 6: rank 2
        [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3],  # target 6: rank 6
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # target 3: ties → rank 3
    ]
)
TARGETS = np.array([1, 6, 6, 3])


@pytest.mark.parametrize(
    ("k", "expected"), [(1, 0.25), (3, 0.5), (4, 0.75), (5, 0.75), (7, 1.0), (99, 1.0)]
)
def test_top_k_hand_worked(k: int, expected: float) -> None:
    assert top_k_accuracy(LOGITS, TARGETS, ks=(k,))[k] == expected


def test_top1_top5() -> None:
    assert top1_top5(LOGITS, TARGETS) == (0.25, 0.75)


@pytest.mark.parametrize(
    ("logits", "targets", "ks", "match"),
    [
        (np.zeros(3), np.zeros(3, int), (1,), r"shape \[N, C\]"),
        (np.zeros((0, 3)), np.zeros(0, int), (1,), r"shape \[N, C\]"),
        (np.zeros((2, 3)), np.zeros(3, int), (1,), r"targets must have shape \[2\]"),
        (np.zeros((2, 3)), np.array([0, 3]), (1,), r"targets must lie in \[0, 3\)"),
        (np.zeros((2, 3)), np.array([0.0, 1.0]), (1,), "integer class indices"),
        (np.full((2, 3), np.nan), np.array([0, 1]), (1,), "NaN or inf"),
        (np.zeros((2, 3)), np.array([0, 1]), (0,), "ks must be"),
    ],
)
def test_invalid_inputs(logits: np.ndarray, targets: np.ndarray, ks: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        top_k_accuracy(logits, targets, ks)
