"""The co-finetuning objective of one micro-batch (softmax CE or per-box sigmoid BCE)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["batch_loss"]


def batch_loss(
    model: torch.nn.Module,
    head: str,
    task: str,
    batch: dict[str, Any],
    smoothing: float,
    normaliser: float,
    device: torch.device,
) -> torch.Tensor:
    """Sum of per-clip losses / ``normaliser`` (the rank's share of the global batch).

    Summing then dividing by a fixed count (instead of averaging per micro-batch) makes
    the gradient of a global batch the same for any world size or accumulation split.
    Detection: per clip, binary cross-entropy summed over its boxes, averaged over classes,
    on label-smoothed multi-hot targets ``y(1-ε) + ε/2``.
    """
    video = batch["video"].to(device, non_blocking=True)
    if task == "classification":
        logits = model(video, head=head)
        labels = batch["label"].to(device)
        return (
            F.cross_entropy(logits.float(), labels, label_smoothing=smoothing, reduction="sum")
            / normaliser
        )
    logits = model(video, head=head, boxes=batch["boxes"].to(device))
    targets = batch["targets"].to(device).float() * (1 - smoothing) + smoothing / 2
    loss = F.binary_cross_entropy_with_logits(logits.float(), targets, reduction="sum")
    return loss / (logits.shape[1] * normaliser)
