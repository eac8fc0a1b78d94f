"""Initialise the spatial encoder from an image ViT checkpoint (paper §3.1, ViViT §3.4).

All foreign layouts are converted to timm's ``VisionTransformer`` names first, then ONE
visible function (:func:`checkpoint_filter_fn`) maps them onto ViViT: it inflates the 2-D
patch embedding to the tubelet kernel, resamples the position-embedding grid, and folds
the class token's position embedding into the class token. The temporal encoder, the
temporal position embedding and the heads are left as initialised.

Supported sources: a state dict; a ``.safetensors`` / ``.pth`` / ``.bin`` file with timm
or Hugging Face ``transformers`` (``google/vit-*``) keys; a ``.npz`` in the original
Google ViT (``vit_jax``/AugReg) or big_vision layout; or a Hub repo id (resolved through
the local cache, ``HF_HUB_OFFLINE`` honoured).
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .vivit import ViViT, resample_grid_embed

__all__ = ["InitReport", "checkpoint_filter_fn", "init_from_vit", "load_vit_state_dict"]

logger = logging.getLogger(__name__)

TUBELET_INITS = ("central_frame", "average")


@dataclass
class InitReport:
    """What :func:`init_from_vit` did. ``missing_keys`` are ViViT parameters left fresh."""

    loaded_keys: list[str] = field(default_factory=list)
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- reading
def load_vit_state_dict(
    source: str | os.PathLike | dict[str, Any], revision: str | None = None
) -> dict[str, Tensor]:
    """Read an image-ViT checkpoint and return it with timm ``VisionTransformer`` keys."""
    if isinstance(source, dict):
        state = source
    else:
        state = _read_file(_resolve_source(source, revision))
    return _to_timm_layout(_unwrap(state))


def _resolve_source(source: str | os.PathLike, revision: str | None) -> Path:
    path = Path(source)
    if path.is_file():
        return path
    if path.is_dir():
        for name in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"{path} holds no model.safetensors / pytorch_model.bin")
    if str(source).count("/") != 1:
        raise FileNotFoundError(
            f"ViT checkpoint {source!s} is neither a file, a folder, nor a Hub repo id"
        )
    from huggingface_hub import hf_hub_download

    repo_id = str(source)
    try:
        return Path(hf_hub_download(repo_id, "model.safetensors", revision=revision))
    except Exception as exc:  # huggingface_hub raises several types for offline/missing
        raise FileNotFoundError(
            f"could not get model.safetensors of Hub repo {repo_id} (offline and not cached?): {exc}"
        ) from exc


def _read_file(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if suffix == ".npz":
        with np.load(path) as data:
            return {k: torch.from_numpy(np.asarray(data[k])) for k in data.files}
    if suffix in (".pth", ".pt", ".bin", ".ckpt"):
        return torch.load(path, map_location="cpu", weights_only=True)  # never unpickle code
    raise ValueError(
        f"{path}: unsupported checkpoint format {suffix!r} (use .safetensors, .pth/.bin or .npz)"
    )


def _unwrap(state: dict[str, Any]) -> dict[str, Tensor]:
    for key in ("state_dict", "model", "module", "params"):
        if key in state and isinstance(state[key], dict):
            state = state[key]
    out: dict[str, Tensor] = {}
    for k, v in state.items():
        if isinstance(v, np.ndarray):
            v = torch.from_numpy(v)
        if not isinstance(v, Tensor):
            continue
        for prefix in (
            "module.",
            "model.",
            "opt/target/",
            "params/img/",
            "params/",
            "vit.",
            "visual.trunk.",
        ):
            k = k.removeprefix(prefix)
        out[k] = v
    return out


def _to_timm_layout(state: dict[str, Tensor]) -> dict[str, Tensor]:
    if "embeddings.patch_embeddings.projection.weight" in state:
        return _from_transformers(state)
    if "embedding/kernel" in state:
        return _from_jax(state)
    if "patch_embed.proj.weight" not in state:
        raise ValueError(
            "unrecognised ViT checkpoint: expected timm (patch_embed.proj.weight), Hugging Face "
            f"transformers (embeddings.patch_embeddings...) or Google .npz keys; got e.g. {sorted(state)[:5]}"
        )
    return state


_HF_BLOCK = {
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "attention.output.dense": "attn.proj",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
}


def _from_transformers(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """``transformers`` ViTModel keys → timm keys (q, k, v concatenated into qkv)."""
    out = {
        "cls_token": state["embeddings.cls_token"],
        "pos_embed": state["embeddings.position_embeddings"],
        "patch_embed.proj.weight": state["embeddings.patch_embeddings.projection.weight"],
        "patch_embed.proj.bias": state["embeddings.patch_embeddings.projection.bias"],
    }
    if "layernorm.weight" in state:
        out["norm.weight"], out["norm.bias"] = state["layernorm.weight"], state["layernorm.bias"]
    layers = {int(m.group(1)) for k in state if (m := re.match(r"encoder\.layer\.(\d+)\.", k))}
    for i in sorted(layers):
        src, dst = f"encoder.layer.{i}.", f"blocks.{i}."
        for kind in ("weight", "bias"):
            out[f"{dst}attn.qkv.{kind}"] = torch.cat(
                [state[f"{src}attention.attention.{n}.{kind}"] for n in ("query", "key", "value")]
            )
            for hf_name, timm_name in _HF_BLOCK.items():
                out[f"{dst}{timm_name}.{kind}"] = state[f"{src}{hf_name}.{kind}"]
    return out


def _from_jax(w: dict[str, Tensor]) -> dict[str, Tensor]:
    """Google ``vit_jax`` (AugReg) or big_vision ``.npz`` arrays → timm keys."""
    big_vision = "pos_embedding" in w
    mha, mlp, ln2 = (0, 0, 1) if big_vision else (1, 3, 2)
    pos = w["pos_embedding"] if big_vision else w["Transformer/posembed_input/pos_embedding"]
    out = {
        "patch_embed.proj.weight": w["embedding/kernel"].permute(3, 2, 0, 1),  # HWIO → OIHW
        "patch_embed.proj.bias": w["embedding/bias"],
        "pos_embed": pos.reshape(1, -1, pos.shape[-1]),
        "norm.weight": w["Transformer/encoder_norm/scale"],
        "norm.bias": w["Transformer/encoder_norm/bias"],
    }
    if "cls" in w:
        out["cls_token"] = w["cls"].reshape(1, 1, -1)
    depth = len({k.split("/")[1] for k in w if k.startswith("Transformer/encoderblock_")})
    for i in range(depth):
        src, dst = f"Transformer/encoderblock_{i}/", f"blocks.{i}."
        att = f"{src}MultiHeadDotProductAttention_{mha}/"
        out[f"{dst}attn.qkv.weight"] = torch.cat(
            [w[f"{att}{n}/kernel"].flatten(1).T for n in ("query", "key", "value")]
        )
        out[f"{dst}attn.qkv.bias"] = torch.cat(
            [w[f"{att}{n}/bias"].reshape(-1) for n in ("query", "key", "value")]
        )
        out[f"{dst}attn.proj.weight"] = (
            w[f"{att}out/kernel"].flatten(0, 1).T
        )  # (heads, hd, D) → (D, D)
        out[f"{dst}attn.proj.bias"] = w[f"{att}out/bias"]
        for ln, name in ((0, "norm1"), (ln2, "norm2")):
            out[f"{dst}{name}.weight"] = w[f"{src}LayerNorm_{ln}/scale"]
            out[f"{dst}{name}.bias"] = w[f"{src}LayerNorm_{ln}/bias"]
        for r in (0, 1):
            out[f"{dst}mlp.fc{r + 1}.weight"] = w[f"{src}MlpBlock_{mlp}/Dense_{r}/kernel"].T
            out[f"{dst}mlp.fc{r + 1}.bias"] = w[f"{src}MlpBlock_{mlp}/Dense_{r}/bias"]
    return out


# ----------------------------------------------------------------------------- mapping
def inflate_patch_embed(weight_2d: Tensor, tubelet_t: int, method: str = "central_frame") -> Tensor:
    """2-D patch kernel ``[D, C, ph, pw]`` → tubelet kernel ``[D, C, t, ph, pw]``.

    ``central_frame``: the 2-D kernel at the central temporal index ``t // 2``, zeros
    elsewhere (ViViT's best choice). ``average``: the kernel repeated over t and divided by
    t ("filter inflation", I3D). Both give the image ViT's embedding for a static clip.
    """
    if method not in TUBELET_INITS:
        raise ValueError(f"tubelet_init must be one of {TUBELET_INITS}, got {method!r}")
    if method == "average":
        return weight_2d.unsqueeze(2).repeat(1, 1, tubelet_t, 1, 1) / tubelet_t
    out = weight_2d.new_zeros(weight_2d.shape[:2] + (tubelet_t,) + weight_2d.shape[2:])
    out[:, :, tubelet_t // 2] = weight_2d
    return out


def checkpoint_filter_fn(
    timm_state: dict[str, Tensor], model: ViViT, tubelet_init: str = "central_frame"
) -> tuple[dict[str, Tensor], list[str]]:
    """Map a timm-layout ViT state dict onto ViViT's spatial encoder.

    Returns:
        ``(state, unused)``: ViViT-named tensors to load, and checkpoint keys not used.
    """
    cfg = model.config
    out: dict[str, Tensor] = {}
    used: set[str] = set()

    w2d = timm_state["patch_embed.proj.weight"]
    if tuple(w2d.shape[-2:]) != tuple(cfg.tubelet_size[1:]) or w2d.shape[0] != cfg.embed_dim:
        raise ValueError(
            f"ViT patch embedding {tuple(w2d.shape)} does not fit the model (embed_dim {cfg.embed_dim}, "
            f"patch {cfg.tubelet_size[1:]}): pick the matching variant, e.g. a ViT-B/16 for vivit_b16_fe"
        )
    out["patch_embed.weight"] = inflate_patch_embed(w2d, cfg.tubelet_size[0], tubelet_init)
    out["patch_embed.bias"] = timm_state["patch_embed.proj.bias"]
    used |= {"patch_embed.proj.weight", "patch_embed.proj.bias"}

    pos = timm_state["pos_embed"]  # (1, prefix + gh*gw, D)
    has_cls = "cls_token" in timm_state
    num_prefix = 1 if has_cls and pos.shape[1] != int(math.isqrt(pos.shape[1])) ** 2 else 0
    side = math.isqrt(pos.shape[1] - num_prefix)
    out["spatial_pos_embed"] = resample_grid_embed(
        pos[:, num_prefix:], (side, side), model.grid_size[1:]
    )
    if model.cls_token is not None and has_cls:
        cls_pos = pos[:, :1] if num_prefix else 0
        out["cls_token"] = timm_state["cls_token"] + cls_pos  # position folded into the token
        used.add("cls_token")
    used.add("pos_embed")

    for key, value in timm_state.items():
        m = re.match(r"blocks\.(\d+)\.(.+)", key)
        if m and int(m.group(1)) < cfg.spatial_depth:
            out[f"spatial_blocks.{m.group(1)}.{m.group(2)}"] = value
            used.add(key)
        elif key in ("norm.weight", "norm.bias"):
            out[f"spatial_norm.{key.split('.')[1]}"] = value
            used.add(key)
    return out, sorted(set(timm_state) - used)


def init_from_vit(
    model: ViViT,
    source: str | os.PathLike | dict[str, Any],
    tubelet_init: str = "central_frame",
    revision: str | None = None,
) -> InitReport:
    """Load an image ViT (ImageNet-21K in the paper) into the model's spatial encoder.

    Args:
        model: a ViViT built by ``create_model`` with matching width/patch size.
        source: state dict, checkpoint file, folder, or Hugging Face Hub repo id
            (timm ``vit_*`` or ``google/vit-*`` layouts).
        tubelet_init: ``"central_frame"`` or ``"average"`` patch-embedding inflation.
        revision: Hub revision when ``source`` is a repo id.

    Returns:
        An :class:`InitReport` (missing = left fresh: temporal encoder, heads; unexpected =
        checkpoint tensors not used, e.g. the image classifier or extra blocks).

    Raises:
        ValueError: incompatible checkpoint (width, patch size, shapes), unknown layout.
        FileNotFoundError: missing file or uncached Hub repo.

    Example:
        >>> import timm
        >>> from cofin_sdk import create_model, init_from_vit
        >>> vit = timm.create_model("vit_tiny_patch16_224", pretrained=False)
        >>> model = create_model("vivit_ti16_fe", num_frames=4)
        >>> report = init_from_vit(model, vit.state_dict())
        >>> report.missing_keys[:1]
        ['temporal_blocks.0.norm1.weight']
    """
    timm_state = load_vit_state_dict(source, revision)
    mapped, unused = checkpoint_filter_fn(timm_state, model, tubelet_init)
    own = model.state_dict()
    bad = [
        f"{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in mapped.items()
        if k in own and v.shape != own[k].shape
    ]
    if bad:
        raise ValueError(f"ViT checkpoint shapes do not fit the model: {bad[:5]}")
    with torch.no_grad():
        for k, v in mapped.items():
            own[k].copy_(v.to(own[k].dtype))
    report = InitReport(
        loaded_keys=sorted(mapped),
        missing_keys=[k for k in own if k not in mapped],
        unexpected_keys=unused,
        notes=[
            f"patch embedding inflated with {tubelet_init!r} to {tuple(mapped['patch_embed.weight'].shape)}"
        ],
    )
    if len(
        [k for k in timm_state if k.startswith("blocks.")]
    ) and model.config.spatial_depth > _depth(timm_state):
        report.notes.append(
            f"checkpoint has {_depth(timm_state)} blocks, model {model.config.spatial_depth}: extra blocks fresh"
        )
    logger.info(
        "init_from_vit: loaded %d tensors, %d left fresh, %d unused",
        len(report.loaded_keys),
        len(report.missing_keys),
        len(report.unexpected_keys),
    )
    return report


def _depth(timm_state: dict[str, Tensor]) -> int:
    return len({k.split(".")[1] for k in timm_state if k.startswith("blocks.")})
