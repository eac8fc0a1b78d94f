"""Dataset-specific heads on the ViViT token map ``Tensor[B, t, h, w, D]``."""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.ops import roi_align

__all__ = ["ClassificationHead", "DetectionHead"]


class ClassificationHead(nn.Module):
    """Clip classification: mean over all t·h·w tokens → dropout → linear (paper §3.1)."""

    def __init__(self, embed_dim: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(embed_dim, num_classes)

    def forward(self, tokens: Tensor) -> Tensor:
        """``tokens`` Tensor[B, t, h, w, D] → logits Tensor[B, C]."""
        pooled = tokens.mean(dim=(1, 2, 3))  # (B, D)
        return self.fc(self.dropout(pooled))


class DetectionHead(nn.Module):
    """Fast R-CNN style actor head (paper §3.1, Fig. 2).

    A keyframe box extended over time is a tube. With a box that is constant in time and
    average pooling over time, tube ROI-Align equals "mean of the token map over t, then
    2-D ROI-Align", which is what is computed here (``torchvision.ops.roi_align``,
    ``aligned=True``). The pooled ``roi_output_size``² grid is then max- (or average-)
    pooled to one vector per box → dropout → linear → per-class logits (multi-label).

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

    def forward(self, tokens: Tensor, boxes: Tensor) -> Tensor:
        """``tokens`` Tensor[B, t, h, w, D], ``boxes`` Tensor[K, 5] → logits Tensor[K, C].

        ``boxes`` rows are ``(batch_index, x1, y1, x2, y2)`` in input pixels.
        """
        feature_map = tokens.mean(dim=1).permute(0, 3, 1, 2)  # (B, D, h, w)
        rois = roi_align(
            feature_map,
            boxes.to(feature_map.dtype),
            output_size=self.output_size,
            spatial_scale=self.spatial_scale,
            sampling_ratio=self.sampling_ratio,
            aligned=True,
        )  # (K, D, S, S)
        pooled = self.pool(rois).flatten(1)  # (K, D)
        return self.fc(self.dropout(pooled))
