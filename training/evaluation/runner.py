"""Run a model over the validation sets: AVA frame-mAP (+ head/mid/tail) and clip top-k.

Single view, as in the paper: one centred clip per classification video, one clip per
AVA keyframe. Used by ``cofin eval`` and by the trainer's periodic evaluation.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from cofin_sdk.models import ViViT
from training.configs.base import DatasetConfig, TrainConfig

__all__ = ["evaluate_checkpoint", "evaluate_model", "main", "write_detections_csv"]

logger = logging.getLogger(__name__)
EVAL_LABEL_MAP = "ava_action_list_v2.2_for_activitynet_2019.pbtxt"


@torch.inference_mode()
def _predict(
    model: ViViT,
    head: str,
    loader: DataLoader,
    device: torch.device,
    max_batches: int | None,
    detection: bool,
    progress: bool,
) -> dict[str, Any]:
    from tqdm.auto import tqdm

    model.eval()
    outputs: dict[str, list] = {
        "scores": [],
        "labels": [],
        "video_id": [],
        "timestamp": [],
        "boxes_norm": [],
    }
    total = min(len(loader), max_batches) if max_batches else len(loader)
    for i, batch in enumerate(
        tqdm(loader, total=total, desc=f"eval {head}", disable=not progress, leave=False)
    ):
        if max_batches and i >= max_batches:
            break
        video = batch["video"].to(device)
        if detection:
            logits = model(video, head=head, boxes=batch["boxes"].to(device))
            outputs["scores"].append(torch.sigmoid(logits.float()).cpu().numpy())
            outputs["video_id"] += list(batch["video_id"])
            outputs["timestamp"] += list(batch["timestamp"])
            outputs["boxes_norm"].append(batch["boxes_norm"].numpy())
        else:
            outputs["scores"].append(model(video, head=head).float().cpu().numpy())
            outputs["labels"].append(batch["label"].numpy())
    return outputs


def write_detections_csv(
    path: Path,
    video_ids: list[str],
    timestamps: list[Any],
    boxes_norm: np.ndarray,
    scores: np.ndarray,
    class_ids: list[int],
) -> None:
    """AVA submission format: one row per (box, class): video, ts, x1, y1, x2, y2, action id, score.

    Written by :func:`cofin_sdk.ava_format.write_ava_csv` (6 decimals, boxes clipped).
    """
    from cofin_sdk.ava_format import write_ava_csv

    write_ava_csv(path, video_ids, [float(t) for t in timestamps], boxes_norm, class_ids, scores)


def _thresholds(dcfg: DatasetConfig, train_cfg: TrainConfig) -> tuple[int, int]:
    """Head/mid/tail thresholds: config, else the synthetic data's own, else the paper's."""
    if train_cfg.eval.head_threshold is not None and train_cfg.eval.tail_threshold is not None:
        return train_cfg.eval.head_threshold, train_cfg.eval.tail_threshold
    meta = Path(dcfg.root).parent / "synth_meta.json"
    if meta.is_file():
        rule = json.loads(meta.read_text())["ava"]["head_mid_tail"]
        return int(math.floor(rule["head_above"])), int(math.ceil(rule["tail_below"]))
    return 10_000, 1_000


def _evaluate_detection(
    dcfg: DatasetConfig,
    train_cfg: TrainConfig,
    ds: Any,
    out: dict[str, Any],
    out_dir: Path,
    compare: Path | None = None,
) -> dict[str, Any]:
    from training.evaluation.ava import evaluate_ava_files

    annotations = Path(dcfg.root) / "annotations"
    split = dcfg.eval_split
    det_csv = out_dir / f"{dcfg.name}_detections.csv"
    scores = np.concatenate(out["scores"]) if out["scores"] else np.zeros((0, ds.num_classes))
    boxes = np.concatenate(out["boxes_norm"]) if out["boxes_norm"] else np.zeros((0, 4))
    write_detections_csv(
        det_csv, out["video_id"], out["timestamp"], boxes, scores, list(ds.class_ids)
    )
    label_map = annotations / EVAL_LABEL_MAP
    if not label_map.is_file():
        label_map = annotations / dcfg.options.get("label_map", "ava_action_list_v2.2.pbtxt")
    exclusions = annotations / f"ava_{split}_excluded_timestamps_v2.2.csv"
    train_gt = annotations / f"ava_{dcfg.train_split}_v2.2.csv"
    head, tail = _thresholds(dcfg, train_cfg)
    result = evaluate_ava_files(
        annotations / f"ava_{split}_v2.2.csv",
        det_csv,
        label_map,
        exclusions=exclusions if exclusions.is_file() else None,
        train_labels=train_gt if train_gt.is_file() else None,
        head_threshold=head,
        tail_threshold=tail,
    )
    result.to_json(out_dir / f"{dcfg.name}_ava_metrics.json")
    _plot(result, out_dir / f"{dcfg.name}_per_class_ap.png", title=f"{dcfg.name}: per-class AP")
    if compare is not None:
        _plot_difference(compare, result, dcfg.name, out_dir)
    summary = {
        "mAP": _clean(result.mAP),
        **{f"mAP_{g}": _clean(v) for g, v in result.group_mAP.items()},
    }
    summary["per_class_ap"] = {n: _clean(a) for n, a in zip(result.class_names, result.ap)}
    return summary


def _plot(result: Any, path: Path, title: str) -> None:
    try:
        from training.evaluation.plots import plot_per_class_ap
    except ImportError as exc:  # matplotlib is in the `train` extra
        logger.warning("no plot (%s)", exc)
        return
    plot_per_class_ap(result, path, title=title)


def _plot_difference(compare: Path, result: Any, head: str, out_dir: Path) -> None:
    """The paper's Fig. 1: per-class AP of this run minus another run's (same classes)."""
    from training.evaluation.ava import AvaResult
    from training.evaluation.plots import plot_ap_difference

    other_file = compare / f"{head}_ava_metrics.json" if compare.is_dir() else compare
    if not other_file.is_file():
        raise FileNotFoundError(
            f"--compare: {other_file} not found (an eval folder or *_ava_metrics.json)"
        )
    baseline = AvaResult.from_json(other_file)
    plot_ap_difference(
        baseline, result, out_dir / f"{head}_ap_difference.png", labels=(str(compare), "this run")
    )


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def evaluate_model(
    model: ViViT,
    train_cfg: TrainConfig,
    out_dir: str | Path,
    *,
    device: str | torch.device = "cpu",
    max_batches: int | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    compare: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate every head on its dataset's validation split; writes CSV/JSON/PNG to ``out_dir``.

    ``compare``: another evaluation folder (or its ``<head>_ava_metrics.json``): also plot
    the per-class AP difference this run minus that one (paper Fig. 1).

    Returns:
        ``{head: {"mAP", "mAP_head", "mAP_mid", "mAP_tail", "per_class_ap"}}`` for detection
        heads and ``{head: {"top1", "top5"}}`` for classification heads.
    """
    from training.builders import build_datasets
    from training.data import collate_classification, collate_detection
    from training.evaluation.clip_metrics import top_k_accuracy

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device)
    was_training = model.training
    metrics: dict[str, Any] = {}
    for dcfg, ds in zip(train_cfg.datasets, build_datasets(train_cfg, "eval")):
        if dcfg.name not in model.head_names:
            raise ValueError(f"the model has no head {dcfg.name!r} (heads: {model.head_names})")
        detection = model.config.heads[dcfg.name].task == "detection"
        loader = DataLoader(
            ds,
            batch_size=batch_size or max(1, train_cfg.run.micro_batch_size or 8),
            num_workers=min(2, train_cfg.run.num_workers),
            shuffle=False,
            collate_fn=collate_detection if detection else collate_classification,
        )
        out = _predict(model, dcfg.name, loader, device, max_batches, detection, progress)
        if detection:
            metrics[dcfg.name] = _evaluate_detection(
                dcfg, train_cfg, ds, out, out_dir, Path(compare) if compare else None
            )
        else:
            accuracy = top_k_accuracy(
                np.concatenate(out["scores"]), np.concatenate(out["labels"]), ks=(1, 5)
            )
            metrics[dcfg.name] = {"top1": accuracy[1], "top5": accuracy[5]}
        logger.info(
            "eval %s: %s",
            dcfg.name,
            {k: v for k, v in metrics[dcfg.name].items() if k != "per_class_ap"},
        )
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    model.train(was_training)
    return metrics


def _saved_config(path: Path) -> TrainConfig | None:
    """The training config stored with a checkpoint, a run folder or a ``save_pretrained`` folder.

    A run folder's own ``config.json`` IS the training config; a ``save_pretrained``
    folder's ``config.json`` is a model record holding it as ``metadata.train_config``.
    """
    from cofin_sdk.record import CONFIG_NAME, WEIGHTS_NAME, read_model_record
    from training.checkpoint import read_checkpoint
    from training.configs.base import load_config

    if path.suffix == ".pt":
        saved = read_checkpoint(path, mmap=True).get("extra", {}).get("config")
    elif (path / WEIGHTS_NAME).is_file():
        saved = read_model_record(path).metadata.get("train_config")
    elif (path / CONFIG_NAME).is_file():
        return load_config(str(path / CONFIG_NAME))[-1]
    else:
        return None
    return None if saved is None else TrainConfig.from_dict(saved)


def _load_for_eval(path: Path, train_cfg: TrainConfig) -> ViViT:
    """A ``save_pretrained`` folder, a run folder (its final/ or newest checkpoint) or a
    ``step_*.pt``; a checkpoint's model is rebuilt from the model record stored in it."""
    from cofin_sdk import from_pretrained
    from training.checkpoint import latest_checkpoint, read_checkpoint

    if (path / "final" / "model.safetensors").is_file():
        return from_pretrained(path / "final")
    if (path / "model.safetensors").is_file():
        return from_pretrained(path)
    ckpt = path if path.suffix == ".pt" else latest_checkpoint(path / "checkpoints")
    if ckpt is None:
        raise FileNotFoundError(
            f"{path}: no model.safetensors, final/ folder or checkpoints/step_*.pt"
        )
    payload = read_checkpoint(ckpt, mmap=True)
    model = _checkpoint_model(ckpt, payload.get("extra", {}), train_cfg)
    model.load_state_dict(payload["model"], strict=True)
    return model


def _checkpoint_model(ckpt: Path, extra: dict[str, Any], train_cfg: TrainConfig) -> ViViT:
    """The untrained model of a checkpoint: from its model record, else (older checkpoints)
    from the heads of the training config's datasets."""
    from cofin_sdk.record import ModelRecord
    from training.builders import build_datasets, head_specs, model_from_record, new_model

    if "model_record" in extra:
        return model_from_record(
            ModelRecord.from_dict(extra["model_record"], source=f"{ckpt} (model record)")
        )
    logger.warning(
        "%s predates model records: building the training datasets to learn its heads "
        "(evaluate the run's final/ folder to avoid this)",
        ckpt,
    )
    return new_model(train_cfg, head_specs(train_cfg, build_datasets(train_cfg, "train")))


def evaluate_checkpoint(
    checkpoint: str,
    config: str | None = None,
    out: str | None = None,
    overrides: list[str] | None = None,
    device: str = "cpu",
    max_batches: int | None = None,
    compare: str | None = None,
    revision: str | None = None,
    cache_dir: str | None = None,
) -> dict[str, Any]:
    """``cofin eval CHECKPOINT_OR_DIR [CONFIG]``: a ``save_pretrained`` folder, a Hub repo id
    (resolved through the Hub cache at ``revision``, written to ``./eval/<org>--<name>`` by
    default), a run folder or a ``step_*.pt`` checkpoint; CONFIG defaults to the training
    config saved with it."""
    from cofin_sdk.models.hub import looks_like_repo_id, resolve_pretrained_dir
    from training.configs.base import apply_overrides, load_config

    path = Path(checkpoint)
    if not path.exists() and looks_like_repo_id(checkpoint):
        path = resolve_pretrained_dir(checkpoint, revision, cache_dir)
        out = out or str(Path("eval") / checkpoint.replace("/", "--"))
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if config is not None:
        train_cfg = load_config(config, overrides)[-1]
    else:
        saved = _saved_config(path)
        if saved is None:
            raise ValueError(
                f"no training config stored with {path}: pass CONFIG (a preset or config.json)"
            )
        train_cfg = apply_overrides(saved, overrides or [])
    model = _load_for_eval(path, train_cfg)
    out_dir = Path(out) if out else (path if path.is_dir() else path.parent) / "eval"
    return evaluate_model(
        model.to(device),
        train_cfg,
        out_dir,
        device=device,
        max_batches=max_batches,
        compare=compare,
    )


def main(args: Any) -> int:
    """Entry of ``cofin eval`` (parsed arguments); prints the headline metrics."""
    metrics = evaluate_checkpoint(
        args.checkpoint,
        getattr(args, "config", None),
        getattr(args, "out", None),
        getattr(args, "overrides", []),
        getattr(args, "device", "cpu"),
        getattr(args, "max_batches", None),
        getattr(args, "compare", None),
        revision=getattr(args, "revision", None),
        cache_dir=getattr(args, "cache_dir", None),
    )
    for head, values in metrics.items():
        shown = {
            k: (round(v, 4) if isinstance(v, float) else v)
            for k, v in values.items()
            if k != "per_class_ap"
        }
        print(f"{head}: {shown}")
    return 0
