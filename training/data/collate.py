"""Batch collation for classification and detection samples.

Example:
    >>> import torch
    >>> sample = {"video": torch.zeros(3, 2, 8, 8), "boxes": torch.zeros(0, 4), "targets": torch.zeros(0, 5),
    ...           "box_scores": torch.zeros(0), "boxes_norm": torch.zeros(0, 4), "video_id": "v", "timestamp": 902}
    >>> collate_detection([sample, sample])["boxes"].shape
    torch.Size([0, 5])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor


def collate_classification(batch: Sequence[dict[str, Any]]) -> dict[str, Tensor]:
    """Stack classification samples.

    Args:
        batch: Samples ``{"video": Tensor[3, T, S, S], "label": LongTensor[]}``.

    Returns:
        ``{"video": Tensor[B, 3, T, S, S], "label": LongTensor[B]}``, plus ``"frames":
        uint8 Tensor[B, T, S, S, 3]`` when the samples have them (evaluation datasets).

    Raises:
        ValueError: Empty batch.
    """
    if not batch:
        raise ValueError("cannot collate an empty batch")
    return {
        "video": torch.stack([s["video"] for s in batch]),
        "label": torch.stack([torch.as_tensor(s["label"], dtype=torch.long) for s in batch]),
        **_frames(batch),
    }


def _frames(batch: Sequence[dict[str, Any]]) -> dict[str, Tensor]:
    """``{"frames": uint8 Tensor[B, T, S, S, 3]}`` when the samples carry them (evaluation)."""
    if "frames" not in batch[0]:
        return {}
    return {"frames": torch.stack([s["frames"] for s in batch])}


def collate_detection(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack clips and concatenate the boxes of detection samples (zero-box samples allowed).

    Args:
        batch: Samples as returned by :class:`training.data.ava.AVADataset`.

    Returns:
        ``{"video": Tensor[B, 3, T, S, S], "boxes": Tensor[K, 5]`` (batch_idx, x1, y1, x2, y2
        in input pixels), ``"targets": Tensor[K, C], "box_scores": Tensor[K],
        "boxes_norm": Tensor[K, 4], "video_id": list[str] (len K), "timestamp": list (len K)}``;
        the per-box lists let evaluation write AVA CSV rows directly. Plus ``"frames":
        uint8 Tensor[B, T, S, S, 3]`` when the samples have them (evaluation datasets).

    Raises:
        ValueError: Empty batch.
    """
    if not batch:
        raise ValueError("cannot collate an empty batch")
    boxes, video_ids, timestamps = [], [], []
    for index, sample in enumerate(batch):
        count = len(sample["boxes"])
        batch_column = torch.full((count, 1), float(index), dtype=torch.float32)
        boxes.append(torch.cat([batch_column, sample["boxes"].to(torch.float32)], dim=1))  # (N, 5)
        video_ids += [sample["video_id"]] * count
        timestamps += [sample["timestamp"]] * count
    return {
        "video": torch.stack([s["video"] for s in batch]),
        "boxes": torch.cat(boxes).reshape(-1, 5),
        "targets": torch.cat([s["targets"] for s in batch]),
        "box_scores": torch.cat([s["box_scores"] for s in batch]),
        "boxes_norm": torch.cat([s["boxes_norm"] for s in batch]).reshape(-1, 4),
        "video_id": video_ids,
        "timestamp": timestamps,
        **_frames(batch),
    }
