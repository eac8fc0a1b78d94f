"""Image pretraining of the ViViT spatial encoder: the ImageNet-initialisation stand-in (issue 22).

The image model IS the study's spatial encoder: a ViViT built with the study's width,
depth, heads and patch size, but one frame and 1×ph×pw "tubelets", no temporal blocks.
An image goes through the same letterbox and normalisation as a video frame
(:func:`training.data.transforms.prepare_clip` with T = 1); its class is predicted by a
linear layer on the max (or mean) of the spatial encoder's patch tokens (after the spatial norm,
the token map the temporal encoder reads).

What it learns (``PretrainConfig.target``): ``"kind"`` (default) predicts the main
subject's kind only (6 object shapes or a person) under full-range hue jitter and random
greyscale, so colour cannot carry the label and the encoder has to learn shape;
``"class"`` predicts kind × colour (the first stand-in, which learned colour but not
shape: experiments/README.md). The result is written as a timm-named image-ViT
state dict (``model.safetensors``) that :func:`cofin_sdk.init_from_vit` loads like any
ImageNet checkpoint (central-frame inflation of the 2-D patch kernel):

* ``patch_embed.proj.{weight,bias}``: the 2-D patch kernel ``[D, 3, ph, pw]``;
* ``pos_embed`` ``[1, h*w, D]`` (no class-token slot, timm's ``no_embed_class`` layout),
  ``cls_token``;
* ``blocks.<i>.*``, ``norm.*`` (timm's ``VisionTransformer`` block names, which ViViT's
  blocks share), ``head.*`` (the image classifier, unused by ``init_from_vit``).

The same tensors load into ``timm.models.vision_transformer.VisionTransformer(
no_embed_class=True, global_pool=<cfg.pool>, fc_norm=False, ...)`` and give the same logits.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from cofin_sdk import create_model
from cofin_sdk.models import ViViT
from cofin_sdk.preprocessing import Preprocessing
from training.data.transforms import AugmentationConfig, TrainAugmentation, prepare_clip
from training.optim import lr_at, param_groups
from training.synth.images import kind_of

__all__ = [
    "ImageFolderClips",
    "ImageViT",
    "PretrainConfig",
    "pretrain",
    "save_vit_checkpoint",
    "timm_state_dict",
]

logger = logging.getLogger(__name__)


@dataclass
class PretrainConfig:
    """Image pretraining recipe (defaults: the study's ViViT-Ti spatial encoder).

    ``model_overrides`` must give the video model's spatial encoder: width, depth,
    heads and patch size (``tubelet_size[1:]``) of ``synthetic_bench2``.
    """

    model_name: str = "vivit_ti16_fe"
    spatial_depth: int = 3
    patch_size: int = 12
    image_size: int = 96
    drop_path_rate: float = 0.1
    batch_size: int = 64
    steps: int = 1200
    lr: float = 3e-4  # AdamW, as DeiT/AugReg image ViTs are trained (1e-3: stuck at chance)
    weight_decay: float = 0.05
    warmup_fraction: float = 0.1
    label_smoothing: float = 0.1
    grad_clip_norm: float = 1.0
    scale_range: tuple[float, float] = (0.875, 1.333)  # the video recipe's scale jitter
    target: str = "kind"  # "kind": main-subject kind only; "class": kind × colour
    colour_jitter: bool = False  # full-range hue jitter + random greyscale on training images
    pool: str = "max"  # patch-token pooling of the classifier: "max" or "avg" (timm global_pool)
    head_init_std: float = 0.02  # 0: zero head, no gradient reaches the encoder at first
    seed: int = 0
    log_every: int = 50


class ImageFolderClips(Dataset):
    """``root/<split>/<class>/*.jpg`` as one-frame clips ``Tensor[3, 1, S, S]`` and labels.

    Decoding is torchvision's ``ImageFolder`` loader; pixels go through the video path
    (:func:`~training.data.transforms.prepare_clip`): letterbox, then with ``train`` scale
    jitter and horizontal flip. ``target="kind"`` labels an image by its class's kind
    (``classes`` are then the sorted kinds); ``colour_jitter`` (training only) shifts the
    hue over the full circle and turns 20 % of the images grey (torchvision's
    ``ColorJitter`` and ``RandomGrayscale``) before the video path.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        prep: Preprocessing,
        train: bool,
        scale_range: tuple[float, float] = (0.875, 1.333),
        target: str = "class",
        colour_jitter: bool = False,
    ) -> None:
        from torchvision import transforms
        from torchvision.datasets import ImageFolder

        if target not in ("class", "kind"):
            raise ValueError(f"target must be 'class' or 'kind', not {target!r}")

        folder = Path(root) / split
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{folder} does not exist: generate the image set first "
                "(python -m training.synth.images --out ROOT)"
            )
        self.folder = ImageFolder(str(folder))
        self.image_classes = list(self.folder.classes)
        self.kinds = [kind_of(c) for c in self.image_classes]
        self.classes = sorted(set(self.kinds)) if target == "kind" else self.image_classes
        self.labels = [self.classes.index(k) for k in self.kinds] if target == "kind" else None
        kinds = sorted(set(self.kinds))
        #: the kind (index into the sorted kinds) of every label
        self.label_kind = [kinds.index(kind_of(c)) for c in self.classes]
        self.prep = prep
        self.aug = TrainAugmentation(AugmentationConfig(scale_range, 0.0, True)) if train else None
        self.colour = (
            transforms.Compose(
                [transforms.ColorJitter(0.3, 0.3, 0.3, 0.5), transforms.RandomGrayscale(0.2)]
            )
            if train and colour_jitter
            else None
        )

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        path, label = self.folder.samples[index]
        image = self.folder.loader(path).convert("RGB")
        if self.colour is not None:
            image = self.colour(image)
        clip = prepare_clip(np.array(image)[None], self.prep, None, self.aug)  # np.array: writable
        return clip.video, label if self.labels is None else self.labels[label]


class ImageViT(nn.Module):
    """The spatial encoder of a one-frame ViViT plus a linear classifier on pooled patch tokens.

    ``cfg.pool``: ``"max"`` (a small object anywhere in the frame decides the class; every
    patch token has to say what it shows) or ``"avg"`` (mean over the patch tokens).
    """

    def __init__(self, cfg: PretrainConfig, num_classes: int) -> None:
        super().__init__()
        self.encoder: ViViT = create_model(
            cfg.model_name,
            num_frames=1,
            image_size=cfg.image_size,
            spatial_depth=cfg.spatial_depth,
            temporal_depth=0,
            tubelet_size=(1, cfg.patch_size, cfg.patch_size),
            drop_path_rate=cfg.drop_path_rate,
        )
        if cfg.pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', not {cfg.pool!r}")
        self.pool = cfg.pool
        self.head = nn.Linear(self.encoder.config.embed_dim, num_classes)
        if cfg.head_init_std > 0:
            nn.init.trunc_normal_(self.head.weight, std=cfg.head_init_std)
        else:
            nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, clip: Tensor) -> Tensor:
        """``Tensor[B, 3, 1, S, S]`` → logits ``Tensor[B, classes]``."""
        tokens = self.encoder.forward_spatial(clip)  # (B, 1 + N, D) after the spatial norm
        if self.encoder.cls_token is not None:
            tokens = tokens[:, 1:]
        return self.head(tokens.amax(dim=1) if self.pool == "max" else tokens.mean(dim=1))


def timm_state_dict(model: ImageViT) -> dict[str, Tensor]:
    """The image model's tensors under timm ``VisionTransformer`` names (module docstring)."""
    enc = model.encoder
    out = {
        "patch_embed.proj.weight": enc.patch_embed.weight[:, :, 0],  # [D, 3, 1, ph, pw] → 2-D
        "patch_embed.proj.bias": enc.patch_embed.bias,
        "pos_embed": enc.spatial_pos_embed,
        "norm.weight": enc.spatial_norm.weight,
        "norm.bias": enc.spatial_norm.bias,
        "head.weight": model.head.weight,
        "head.bias": model.head.bias,
    }
    if enc.cls_token is not None:
        out["cls_token"] = enc.cls_token
    for name, value in enc.spatial_blocks.state_dict().items():
        out[f"blocks.{name}"] = value
    return {k: v.detach().contiguous().clone() for k, v in out.items()}


def save_vit_checkpoint(model: ImageViT, folder: str | Path, meta: dict[str, Any]) -> Path:
    """Write ``folder/model.safetensors`` (timm names) and ``folder/config.json``; returns the file."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.safetensors"
    save_file(timm_state_dict(model), str(path), metadata={"format": "pt"})
    enc = model.encoder.config
    config = {
        "architecture": f"vit (timm VisionTransformer layout, no_embed_class, "
        f"global_pool={model.pool}, fc_norm=False)",
        "img_size": enc.image_size,
        "patch_size": enc.tubelet_size[1],
        "embed_dim": enc.embed_dim,
        "depth": enc.spatial_depth,
        "num_heads": enc.num_heads,
        "num_classes": model.head.out_features,
        **meta,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    return path


@torch.no_grad()
def evaluate(model: ImageViT, loader: DataLoader) -> tuple[float, float]:
    """Top-1 accuracy and main-subject kind accuracy (both 0..1) on ``loader``'s
    :class:`ImageFolderClips` (equal when the target is the kind)."""
    dataset: ImageFolderClips = loader.dataset  # type: ignore[assignment]
    to_kind = torch.tensor(dataset.label_kind)
    model.eval()
    right = right_kind = total = 0
    for clips, labels in loader:
        pred = model(clips).argmax(1)
        right += int((pred == labels).sum())
        right_kind += int((to_kind[pred] == to_kind[labels]).sum())
        total += len(labels)
    model.train()
    return right / max(1, total), right_kind / max(1, total)


def pretrain(data_root: str | Path, out_dir: str | Path, cfg: PretrainConfig) -> dict[str, Any]:
    """Train the image model on ``data_root`` and save the checkpoint into ``out_dir``.

    Returns:
        The run summary (val top-1, steps, wall time), also stored in ``config.json``.
    """
    torch.manual_seed(cfg.seed)
    prep = Preprocessing(image_size=cfg.image_size, num_frames=1)
    train_set = ImageFolderClips(
        data_root, "train", prep, True, cfg.scale_range, cfg.target, cfg.colour_jitter
    )
    val_set = ImageFolderClips(data_root, "val", prep, False, target=cfg.target)
    if train_set.classes != val_set.classes:
        raise ValueError(f"{data_root}: train and val class folders differ")
    gen = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(train_set, cfg.batch_size, shuffle=True, drop_last=True, generator=gen)
    val_loader = DataLoader(val_set, 128)
    model = ImageViT(cfg, len(train_set.classes))
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    warmup = max(1, int(cfg.warmup_fraction * cfg.steps))
    step, t0, running = 0, time.perf_counter(), []
    while step < cfg.steps:
        for clips, labels in loader:
            for group in opt.param_groups:
                group["lr"] = lr_at(step, cfg.lr, warmup, cfg.steps)
            loss = loss_fn(model(clips), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip_norm)
            opt.step()
            running.append(loss.item())
            step += 1
            if step % cfg.log_every == 0 or step == cfg.steps:
                logger.info(
                    "step %d/%d loss %.3f (%.0f s)",
                    step,
                    cfg.steps,
                    float(np.mean(running)),
                    time.perf_counter() - t0,
                )
                running = []
            if step >= cfg.steps:
                break
    train_s = time.perf_counter() - t0
    top1, kind_acc = evaluate(model, val_loader)
    summary = {
        "val_top1": top1,
        "chance": 1.0 / len(train_set.classes),
        "val_kind_accuracy": kind_acc,
        "kind_chance": 1.0 / len(set(train_set.kinds)),
        "train_images": len(train_set),
        "val_images": len(val_set),
        "epochs": cfg.steps * cfg.batch_size / len(train_set),
        "train_seconds": round(train_s, 1),
        "recipe": asdict(cfg),
        "classes": train_set.classes,
    }
    save_vit_checkpoint(model, out_dir, summary)
    logger.info(
        "val top-1 %.1f%% (chance %.1f%%), kind accuracy %.1f%%, %.0f s",
        100 * top1,
        100 * summary["chance"],
        100 * kind_acc,
        train_s,
    )
    return summary
