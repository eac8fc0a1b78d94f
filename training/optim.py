"""Optimiser pieces of the recipe (paper appendix A.1): parameter groups and the lr schedule."""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["lr_at", "param_groups"]


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on norms, biases, position embeddings and the class token."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        skip = p.ndim <= 1 or "pos_embed" in name or name.endswith("cls_token")
        (no_decay if skip else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def lr_at(
    step: int, peak_lr: float, warmup_steps: int, total_steps: int, min_ratio: float = 0.0
) -> float:
    """Linear warm-up to ``peak_lr`` then cosine decay to ``min_ratio * peak_lr`` (App. A.1).

    Example:
        >>> [round(lr_at(s, 1.0, warmup_steps=2, total_steps=4), 3) for s in range(4)]
        [0.5, 1.0, 1.0, 0.5]
    """
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return peak_lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
