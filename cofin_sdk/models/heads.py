"""Dataset-specific heads on the time-pooled ViViT feature map ``Tensor[B, D, h, w]``.

The backbone's token map ``z ∈ R^{t×h×w×D}`` is averaged over time once
(:meth:`cofin_sdk.models.ViViT.pool_time`); for the paper's heads that is exact, not an
approximation: the classification head's mean over all t·h·w tokens is the spatial mean
of the time mean, and the detection head averages over time before ROI-Align (a box
constant in time is a tube). Training and every inference backend run these modules on
that map (DESIGN.md, "Inference graph").
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.ops import roi_align

__all__ = ["ClassificationHead", "DetectionHead"]


class ClassificationHead(nn.Module):
    """Clip classification: mean over all t·h·w tokens → dropout → linear (paper §3.1)."""

    def __init__(self, embed_dim: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(embed_dim, num_classes)

    def forward(self, features: Tensor) -> Tensor:
        """``features`` Tensor[B, D, h, w] (time-pooled) → logits Tensor[B, C]."""
        pooled = features.mean(dim=(2, 3))  # (B, D)
        return self.fc(self.dropout(pooled))

    def scores(self, features: Tensor) -> Tensor:
        """Softmax probabilities Tensor[B, C] (what inference backends return)."""
        return torch.softmax(self(features).float(), dim=-1)


class DetectionHead(nn.Module):
    """Fast R-CNN style actor head (paper §3.1, Fig. 2).

    A keyframe box extended over time is a tube. With a box that is constant in time and
    average pooling over time, tube ROI-Align equals "mean of the token map over t, then
    2-D ROI-Align", which is what is computed here (``torchvision.ops.roi_align``,
    ``aligned=True``) on the time-pooled map. The pooled ``roi_output_size``² grid is then
    max- (or average-) pooled to one vector per box → dropout → linear → per-class logits
    (multi-label).

    Args:
        embed_dim: token width D.
        num_classes: number of action classes.
        patch_size: input pixels per token (the tubelet's spatial size); boxes arrive in
            input pixels and are scaled by ``1 / patch_size``.
        output_size: ROI-Align output grid.
        sampling_ratio: ROI-Align samples per bin (0 = adaptive, as in PySlowFast).
        pool: ``"max"`` or ``"avg"`` spatial pooling of the ROI grid.
        dropout: dropout before the classifier.
    """

    def __init__(
        self,
        embed_dim: int,
        num_classes: int,
        patch_size: int,
        output_size: int = 7,
        sampling_ratio: int = 0,
        pool: str = "max",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.spatial_scale = 1.0 / patch_size
        self.output_size = output_size
        self.sampling_ratio = sampling_ratio
        self.pool = nn.AdaptiveMaxPool2d(1) if pool == "max" else nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(embed_dim, num_classes)

    def forward(self, features: Tensor, boxes: Tensor) -> Tensor:
        """``features`` Tensor[B, D, h, w], ``boxes`` Tensor[K, 5] → logits Tensor[K, C].

        ``boxes`` rows are ``(batch_index, x1, y1, x2, y2)`` in input pixels.
        """
        rois = roi_align(
            features,
            boxes.to(features.dtype),
            output_size=self.output_size,
            spatial_scale=self.spatial_scale,
            sampling_ratio=self.sampling_ratio,
            aligned=True,
        )  # (K, D, S, S)
        pooled = self.pool(rois).flatten(1)  # (K, D)
        return self.fc(self.dropout(pooled))

    def scores(self, features: Tensor, boxes: Tensor) -> Tensor:
        """Batch-first boxes Tensor[B, N, 4] (input pixels) → sigmoid scores Tensor[B, N, C].

        The batch index of every row is built from the shape (no value-dependent ops), so
        this exports with dynamic ``B`` and ``N``.
        """
        B, N = boxes.shape[0], boxes.shape[1]
        index = torch.arange(B, device=boxes.device, dtype=features.dtype)
        index = index.view(B, 1, 1).expand(B, N, 1)  # (B, N, 1)
        rois = torch.cat([index, boxes.to(features.dtype)], dim=2).reshape(B * N, 5)  # (B*N, 5)
        logits = self(features, rois)  # (B*N, C)
        return torch.sigmoid(logits.float()).reshape(B, N, -1)  # (B, N, C)
