"""ViViT Factorised Encoder that keeps the spatio-temporal token map.

Design decision (DESIGN.md, paper §3.1): the detection head ROI-Aligns person boxes on
an encoder output ``z ∈ R^{t×h×w×d}``. Scenic's classification-only Factorised Encoder
pools every frame to one token before the temporal transformer, which throws away the
spatial map. Here the temporal transformer instead attends across the ``t`` tokens **at
each spatial position** (sequences of length t, batch B·h·w), so the output keeps the
full ``(t, h, w)`` grid and both head types read the same tokens.

Shapes: ``B`` batch, ``T`` frames, ``H×W`` input size, ``t = T / tubelet_t``,
``h = H / patch``, ``w = W / patch``, ``D`` embed dim, ``N = h·w``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cofin_sdk.preprocessing import Preprocessing, normalization

from .config import HeadSpec, ViViTConfig
from .heads import ClassificationHead, DetectionHead
from .layers import Block, run_blocks

__all__ = ["ViViT", "resample_grid_embed", "resample_temporal_embed"]


def resample_grid_embed(
    pos_embed: Tensor, old_hw: tuple[int, int], new_hw: tuple[int, int]
) -> Tensor:
    """Bicubically resample a spatial position embedding ``[1, h*w, D]`` to a new grid."""
    if tuple(old_hw) == tuple(new_hw):
        return pos_embed
    D = pos_embed.shape[-1]
    grid = pos_embed.reshape(1, old_hw[0], old_hw[1], D).permute(0, 3, 1, 2)  # (1, D, h, w)
    grid = F.interpolate(grid.float(), size=tuple(new_hw), mode="bicubic", align_corners=False)
    return grid.permute(0, 2, 3, 1).reshape(1, new_hw[0] * new_hw[1], D).to(pos_embed.dtype)


def resample_temporal_embed(pos_embed: Tensor, new_t: int) -> Tensor:
    """Linearly resample a temporal position embedding ``[1, t, D]`` to ``new_t`` steps."""
    if pos_embed.shape[1] == new_t:
        return pos_embed
    seq = pos_embed.permute(0, 2, 1)  # (1, D, t)
    seq = F.interpolate(seq.float(), size=new_t, mode="linear", align_corners=False)
    return seq.permute(0, 2, 1).to(pos_embed.dtype)


def _is_exporting() -> bool:
    """True while tracing/exporting: value-dependent input checks must be skipped then."""
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return True
    compiler = getattr(torch, "compiler", None)
    return bool(
        compiler and (compiler.is_compiling() or getattr(compiler, "is_exporting", lambda: False)())
    )


class ViViT(nn.Module):
    """ViViT Factorised Encoder with one head per dataset.

    Args:
        config: architecture and heads, see :class:`ViViTConfig`.
        name: registry name of the variant (recorded in ``config.json``).

    Example:
        >>> import torch
        >>> from cofin_sdk import create_model
        >>> model = create_model("vivit_ti16_fe", spatial_depth=1, temporal_depth=1,
        ...     num_frames=4, image_size=32,
        ...     heads={"ava": {"task": "detection", "num_classes": 5},
        ...            "k400": {"task": "classification", "num_classes": 7}})
        >>> video = torch.randn(2, 3, 4, 32, 32)
        >>> model(video, head="k400").shape
        torch.Size([2, 7])
        >>> boxes = torch.tensor([[0, 2., 2., 20., 30.], [1, 0., 0., 31., 31.]])
        >>> model(video, head="ava", boxes=boxes).shape
        torch.Size([2, 5])
    """

    def __init__(self, config: ViViTConfig, name: str = "vivit") -> None:
        super().__init__()
        self.config = config
        self.name = name
        D = config.embed_dim
        tt, ph, pw = config.tubelet_size
        self.grid_size = (config.num_frames // tt, config.image_size // ph, config.image_size // pw)
        t, h, w = self.grid_size
        self._preprocessing: Preprocessing | None = None
        self.metadata: dict[str, Any] = {}  # the record's free facts (metrics, training)

        self.patch_embed = nn.Conv3d(
            config.in_chans, D, kernel_size=config.tubelet_size, stride=config.tubelet_size
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D)) if config.class_token else None
        self.spatial_pos_embed = nn.Parameter(torch.zeros(1, h * w, D))
        self.temporal_pos_embed = nn.Parameter(torch.zeros(1, t, D))
        self.pos_drop = nn.Dropout(config.drop_rate) if config.drop_rate > 0 else nn.Identity()

        # Stochastic depth grows linearly over the whole (spatial then temporal) stack.
        total_depth = config.spatial_depth + config.temporal_depth
        rates = torch.linspace(0, config.drop_path_rate, max(total_depth, 1)).tolist()
        block_args = dict(
            dim=D,
            num_heads=config.num_heads,
            mlp_ratio=config.mlp_ratio,
            qkv_bias=config.qkv_bias,
            drop=config.drop_rate,
            attn_drop=config.attn_drop_rate,
            norm_eps=config.norm_eps,
        )
        self.spatial_blocks = nn.ModuleList(
            Block(drop_path=rates[i], **block_args) for i in range(config.spatial_depth)
        )
        self.spatial_norm = nn.LayerNorm(D, eps=config.norm_eps)
        self.temporal_blocks = nn.ModuleList(
            Block(drop_path=rates[config.spatial_depth + i], **block_args)
            for i in range(config.temporal_depth)
        )
        self.temporal_norm = nn.LayerNorm(D, eps=config.norm_eps)

        self.heads = nn.ModuleDict({n: self._build_head(spec) for n, spec in config.heads.items()})
        self.reset_parameters()

    # ------------------------------------------------------------------ construction
    def _build_head(self, spec: HeadSpec) -> nn.Module:
        cfg = self.config
        if spec.task == "classification":
            return ClassificationHead(cfg.embed_dim, spec.num_classes, dropout=cfg.head_dropout)
        return DetectionHead(
            cfg.embed_dim,
            spec.num_classes,
            patch_size=cfg.tubelet_size[1],
            output_size=cfg.roi_output_size,
            sampling_ratio=cfg.roi_sampling_ratio,
            pool=cfg.roi_pool,
            dropout=cfg.head_dropout,
        )

    def reset_parameters(self) -> None:
        """ViT-style initialisation: truncated normal(0.02) for embeddings and linears."""
        for p in (self.spatial_pos_embed, self.temporal_pos_embed):
            nn.init.trunc_normal_(p, std=0.02)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)
        self.apply(_init_module)

    def add_head(self, name: str, spec: HeadSpec | dict[str, Any]) -> None:
        """Add (or replace) a dataset head, e.g. for the transfer-learning baseline."""
        spec = HeadSpec.parse(name, spec)
        self.config.heads[name] = spec
        head = self._build_head(spec)
        head.apply(_init_module)
        self.heads[name] = head.to(self.patch_embed.weight.device)

    def remove_head(self, name: str) -> None:
        self._check_head(name)
        del self.heads[name]
        del self.config.heads[name]

    @property
    def preprocessing(self) -> Preprocessing:
        """What the weights expect as input; part of the model record (``config.json``).

        Defaults to the architecture's image size and frames with stride 2 and mean = std
        = 0.5; the trainer sets the full record it trained with. Assign a
        :class:`~cofin_sdk.preprocessing.Preprocessing` (or a dict of fields to change).
        """
        if self._preprocessing is None:
            return Preprocessing(
                image_size=self.config.image_size, num_frames=self.config.num_frames
            )
        return self._preprocessing

    @preprocessing.setter
    def preprocessing(self, value: Preprocessing | Mapping[str, Any]) -> None:
        if isinstance(value, Mapping):
            value = Preprocessing.from_dict({**self.preprocessing.to_dict(), **value})
        if not isinstance(value, Preprocessing):
            raise TypeError(f"preprocessing must be a Preprocessing, got {type(value).__name__}")
        for field in ("image_size", "num_frames"):
            if getattr(value, field) != getattr(self.config, field):
                raise ValueError(
                    f"preprocessing.{field}={getattr(value, field)} disagrees with the model's "
                    f"{field}={getattr(self.config, field)}"
                )
        self._preprocessing = value

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.config.grad_checkpointing = enable

    @property
    def head_names(self) -> list[str]:
        return list(self.heads.keys())

    # ------------------------------------------------------------------ forward
    def _check_video(self, video: Tensor) -> None:
        if not isinstance(video, Tensor):
            raise TypeError(f"video must be a torch.Tensor [B,3,T,H,W], got {type(video).__name__}")
        if video.ndim != 5 or video.shape[1] != self.config.in_chans:
            raise ValueError(
                f"video must be Tensor[B,{self.config.in_chans},T,H,W] (channels first, normalised), "
                f"got shape {tuple(video.shape)}"
            )
        tt, ph, pw = self.config.tubelet_size
        T, H, W = video.shape[2:]
        if T % tt or H % ph or W % pw:
            raise ValueError(
                f"video T×H×W = {T}×{H}×{W} must be multiples of the tubelet {tt}×{ph}×{pw}; "
                "resize/pad with cofin_sdk.preprocessing first"
            )

    def forward_spatial(self, video: Tensor) -> Tensor:
        """Spatial encoder output, class token included when configured.

        ``video`` Tensor[B,3,T,H,W] → Tensor[B*t, (1+)h*w, D] (after the spatial norm).
        This is what an image ViT's ``forward_features`` returns per frame.
        """
        self._check_video(video)
        x = self.patch_embed(video)  # (B, D, t, h, w)
        B, D, t, h, w = x.shape
        x = x.permute(0, 2, 3, 4, 1).reshape(B * t, h * w, D)  # (B*t, N, D)
        x = x + resample_grid_embed(self.spatial_pos_embed, self.grid_size[1:], (h, w))
        if self.cls_token is not None:
            x = torch.cat(
                [self.cls_token.expand(B * t, -1, -1).to(x.dtype), x], dim=1
            )  # (B*t, 1+N, D)
        x = self.pos_drop(x)
        x = run_blocks(self.spatial_blocks, x, self.config.grad_checkpointing)
        return self.spatial_norm(x)

    def forward_features(self, video: Tensor) -> Tensor:
        """Encoder token map: ``video`` Tensor[B,3,T,H,W] → Tensor[B, t, h, w, D]."""
        x = self.forward_spatial(video)
        if self.cls_token is not None:
            x = x[:, 1:]  # (B*t, N, D): the class token only serves the spatial encoder
        tt, ph, pw = self.config.tubelet_size
        B = video.shape[0]
        t, h, w = video.shape[2] // tt, video.shape[3] // ph, video.shape[4] // pw
        D = x.shape[-1]
        x = x.reshape(B, t, h * w, D).transpose(1, 2).reshape(B * h * w, t, D)  # (B*N, t, D)
        x = x + resample_temporal_embed(self.temporal_pos_embed, t)
        x = run_blocks(self.temporal_blocks, x, self.config.grad_checkpointing)
        x = self.temporal_norm(x)
        return x.reshape(B, h, w, t, D).permute(0, 3, 1, 2, 4)  # (B, t, h, w, D)

    @staticmethod
    def pool_time(tokens: Tensor) -> Tensor:
        """Token map Tensor[B, t, h, w, D] → time-pooled feature map Tensor[B, D, h, w].

        Every head reads this map (exact for the paper's heads: see ``models.heads``).
        """
        return tokens.mean(dim=1).permute(0, 3, 1, 2)  # (B, D, h, w)

    def forward_head(self, tokens: Tensor, head: str, boxes: Tensor | None = None) -> Tensor:
        """Run one dataset head on the token map ``Tensor[B, t, h, w, D]`` (see ``forward``)."""
        boxes = self._check_head_inputs(head, boxes, tokens.shape[0])
        return self._apply_head(self.pool_time(tokens), head, boxes)

    def forward(self, video: Tensor, head: str, boxes: Tensor | None = None) -> Tensor:
        """Logits of one head (the training interface).

        Args:
            video: Tensor[B, 3, T, H, W], normalised (see ``cofin_sdk.preprocessing``).
            head: dataset head name (``model.head_names``).
            boxes: detection heads only: Tensor[K, 5] rows ``(batch_index, x1, y1, x2, y2)``
                in input pixels (K may be 0).

        Returns:
            Tensor[B, C] for classification heads, Tensor[K, C] for detection heads.

        Raises:
            ValueError: unknown head, wrong video shape, missing/malformed/NaN boxes, or boxes
                given to a classification head.
        """
        self._check_video(video)
        boxes = self._check_head_inputs(head, boxes, video.shape[0])  # before the expensive part
        features = self.pool_time(self.forward_features(video))
        return self._apply_head(features, head, boxes)

    def _apply_head(self, features: Tensor, head: str, boxes: Tensor | None) -> Tensor:
        if boxes is None:
            return self.heads[head](features)
        return self.heads[head](features, boxes)

    # ------------------------------------------------------------------ inference graph
    def features(self, frames: Tensor) -> Tensor:
        """The backbone of the inference graph (DESIGN.md, "Inference graph").

        ``frames`` uint8 Tensor[B, T, S, S, 3] (letterboxed RGB, channels-last, what the
        decoder gives) → time-pooled feature map float32 Tensor[B, D, h, w]. The cast,
        ``/255``, mean/std (from :attr:`preprocessing`) and the permute happen here, so
        exported graphs take raw pixels and clients cannot drift from the weights. No
        checks on values: backends validate inputs.
        """
        scale, offset = normalization(self.preprocessing.mean, self.preprocessing.std)
        scale_t = torch.tensor(scale, dtype=torch.float32, device=frames.device).view(1, 3, 1, 1, 1)
        offset_t = torch.tensor(offset, dtype=torch.float32, device=frames.device)
        video = frames.permute(0, 4, 1, 2, 3).to(torch.float32)  # (B, 3, T, S, S)
        video = video * scale_t - offset_t.view(1, 3, 1, 1, 1)
        return self.pool_time(self.forward_features(video)).float()  # (B, D, h, w)

    def head(self, name: str, features: Tensor, boxes: Tensor | None = None) -> Tensor:
        """One head of the inference graph: scores, not logits.

        Args:
            name: Head name.
            features: Tensor[B, D, h, w] from :meth:`features`.
            boxes: Detection heads: float32 Tensor[B, N, 4] ``x1, y1, x2, y2`` in model-input
                pixels (batch-first; ``N >= 1``). Classification heads take none.

        Returns:
            Softmax Tensor[B, C] (classification) or sigmoid Tensor[B, N, C] (detection).
        """
        module = self.heads[name]
        if isinstance(module, DetectionHead):
            return module.scores(features, boxes)
        return module.scores(features)

    # ------------------------------------------------------------------ validation
    def _check_head(self, head: str) -> HeadSpec:
        if head not in self.config.heads:
            raise ValueError(f"unknown head {head!r}; this model has heads {self.head_names}")
        return self.config.heads[head]

    def _check_head_inputs(self, head: str, boxes: Tensor | None, batch_size: int) -> Tensor | None:
        spec = self._check_head(head)
        if spec.task == "classification":
            if boxes is not None:
                detection = [n for n, s in self.config.heads.items() if s.task == "detection"]
                raise ValueError(
                    f"head {head!r} is a classification head and takes no boxes; "
                    f"detection heads: {detection}"
                )
            return None
        if boxes is None:
            raise ValueError(
                f"head {head!r} is a detection head: pass boxes=Tensor[K,5] rows "
                "(batch_index, x1, y1, x2, y2) in input pixels"
            )
        if not isinstance(boxes, Tensor):
            raise TypeError(f"boxes must be a torch.Tensor [K,5], got {type(boxes).__name__}")
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError(
                f"boxes must be Tensor[K,5] rows (batch_index, x1, y1, x2, y2), got shape {tuple(boxes.shape)}"
            )
        if not boxes.is_floating_point():
            boxes = boxes.float()
        if boxes.shape[0] and not _is_exporting():
            _check_box_values(boxes, batch_size)
        return boxes

    # ------------------------------------------------------------------ io
    def save_pretrained(self, save_directory: str, metadata: dict[str, Any] | None = None) -> Any:
        """Write ``model.safetensors`` + ``config.json`` + model card (see ``cofin_sdk.models.hub``)."""
        from .hub import save_pretrained

        return save_pretrained(self, save_directory, metadata)

    @classmethod
    def from_pretrained(cls, name_or_path: str, **kwargs: Any) -> ViViT:
        """Load from a ``save_pretrained`` folder or a Hugging Face Hub repo id.

        Builds ``cls(config)`` (subclasses get their own type, as with
        ``PyTorchModelHubMixin``); keyword arguments as :func:`cofin_sdk.from_pretrained`.
        """
        from .hub import load_pretrained

        return load_pretrained(name_or_path, model_cls=cls, **kwargs)

    def extra_repr(self) -> str:
        return f"name={self.name}, grid={self.grid_size}, heads={self.head_names}"


def _check_box_values(boxes: Tensor, batch_size: int | None) -> None:
    """Value checks on boxes (skipped while exporting: they read tensor values)."""
    if not torch.isfinite(boxes).all():
        bad = (~torch.isfinite(boxes)).any(dim=1).nonzero().flatten()[:5].tolist()
        raise ValueError(f"boxes contain NaN/inf values (rows {bad})")
    idx = boxes[:, 0]
    if (
        (idx != idx.round()).any()
        or (idx < 0).any()
        or (batch_size is not None and (idx >= batch_size).any())
    ):
        raise ValueError(
            f"boxes[:, 0] must be integer batch indices in [0, {batch_size}), got values {idx.unique()[:8].tolist()}"
        )
    if ((boxes[:, 3] < boxes[:, 1]) | (boxes[:, 4] < boxes[:, 2])).any():
        bad = (
            ((boxes[:, 3] < boxes[:, 1]) | (boxes[:, 4] < boxes[:, 2]))
            .nonzero()
            .flatten()[:5]
            .tolist()
        )
        raise ValueError(
            f"boxes must be (batch_index, x1, y1, x2, y2) with x2 >= x1 and y2 >= y1; bad rows {bad}"
        )


def _init_module(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv3d):
        # Same fan-in scaling as a ViT patch embedding (lecun normal).
        fan_in = module.in_channels * math.prod(module.kernel_size)
        nn.init.trunc_normal_(module.weight, std=math.sqrt(1.0 / fan_in))
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
