"""Clip classification metrics: top-k accuracy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["top_k_accuracy", "top1_top5"]


def top_k_accuracy(
    logits: np.ndarray, targets: np.ndarray, ks: Sequence[int] = (1, 5)
) -> dict[int, float]:
    """Fraction of clips whose target is among the ``k`` highest-scoring classes.

    Ties are broken towards the lower class index (a stable descending sort), so a
    constant score vector never counts as correct by luck of the sort.

    Args:
        logits: ``float[N, C]`` scores (logits or probabilities).
        targets: ``int[N]`` class indices in ``[0, C)``.
        ks: The ``k`` values; each must satisfy ``1 <= k``. ``k > C`` behaves as ``k = C``.

    Returns:
        ``{k: accuracy}`` with accuracies in ``[0, 1]``.

    Raises:
        ValueError: On wrong shapes, an empty batch, non-finite scores, targets out of
            range or ``k < 1``.

    Example:
        >>> top_k_accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1]), ks=(1, 2))
        {1: 0.5, 2: 1.0}
    """
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets)
    _validate(logits, targets, ks)
    order = np.argsort(-logits, axis=1, kind="stable")  # (N, C)
    rank = np.argmax(order == targets[:, None], axis=1)  # (N,) position of the target
    return {int(k): float(np.mean(rank < k)) for k in ks}


def top1_top5(logits: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """Top-1 and top-5 accuracy (see :func:`top_k_accuracy`)."""
    accuracy = top_k_accuracy(logits, targets, ks=(1, 5))
    return accuracy[1], accuracy[5]


def _validate(logits: np.ndarray, targets: np.ndarray, ks: Sequence[int]) -> None:
    if logits.ndim != 2 or logits.shape[0] == 0 or logits.shape[1] == 0:
        raise ValueError(f"logits must have shape [N, C] with N, C >= 1, got {logits.shape}")
    if targets.shape != (logits.shape[0],):
        raise ValueError(f"targets must have shape [{logits.shape[0]}], got {targets.shape}")
    if not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(f"targets must be integer class indices, got dtype {targets.dtype}")
    if targets.min() < 0 or targets.max() >= logits.shape[1]:
        raise ValueError(
            f"targets must lie in [0, {logits.shape[1]}), got [{targets.min()}, {targets.max()}]"
        )
    if not np.isfinite(logits).all():
        raise ValueError("logits contain NaN or inf")
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be a non-empty list of integers >= 1, got {list(ks)}")
