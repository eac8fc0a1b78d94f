"""Run a model over the validation sets: AVA frame-mAP (+ head/mid/tail) and clip top-k.

Single view, as in the paper: one centred clip per classification video, one clip per
AVA keyframe. Used by ``cofin eval`` and by the trainer's periodic evaluation. The network
runs through a :class:`~cofin_sdk.backends.Backend` (torch, onnxruntime or Triton: ``cofin
eval --backend``), fed the letterboxed ``uint8`` clips the Detector feeds it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from cofin_sdk.backends import Backend, TorchBackend
from cofin_sdk.models import ViViT
from training.configs.base import DatasetConfig, TrainConfig

__all__ = [
    "BACKENDS",
    "build_backend",
    "check_backend_options",
    "evaluate_checkpoint",
    "evaluate_model",
    "main",
    "write_detections_csv",
]

logger = logging.getLogger(__name__)
EVAL_LABEL_MAP = "ava_action_list_v2.2_for_activitynet_2019.pbtxt"


def _predict(
    backend: Backend,
    head: str,
    loader: DataLoader,
    max_batches: int | None,
    detection: bool,
    progress: bool,
) -> dict[str, Any]:
    """Scores of one head over a loader: one ``backend.features`` pass per batch of clips."""
    from tqdm.auto import tqdm

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
        features = backend.features(batch["frames"].numpy())  # uint8 (B, T, S, S, 3) in
        if detection:
            outputs["scores"].append(_box_scores(backend, head, features, batch["boxes"]))
            outputs["video_id"] += list(batch["video_id"])
            outputs["timestamp"] += list(batch["timestamp"])
            outputs["boxes_norm"].append(batch["boxes_norm"].numpy())
        else:
            outputs["scores"].append(backend.head(head, features))  # (B, C) softmax
            outputs["labels"].append(batch["label"].numpy())
    return outputs


def _box_scores(backend: Backend, head: str, features: Any, rows: torch.Tensor) -> np.ndarray:
    """Detection scores ``(K, C)`` of collated box rows ``(K, 5)`` (batch index first, in
    batch order): padded to ``[B, N, 4]`` for the backend, padding dropped after."""
    rows_np = rows.numpy().astype(np.float32)
    index = rows_np[:, 0].astype(np.int64)
    counts = np.bincount(index, minlength=len(features))  # boxes per clip
    clips = np.flatnonzero(counts)  # N = 0 never reaches a backend
    if len(clips) == 0:
        return np.zeros((0, backend.heads[head].num_classes), np.float32)
    boxes = np.zeros((len(clips), counts.max(), 4), np.float32)  # (B', N, 4) input pixels
    for b, clip in enumerate(clips):
        own = rows_np[index == clip, 1:]
        boxes[b, : len(own)] = own
        boxes[b, len(own) :] = own[0]  # padding: a real box, dropped below
    if len(clips) < len(features):
        features = features[clips]
    scores = backend.head(head, features, boxes)  # (B', N, C) sigmoid
    return np.concatenate([scores[b, : counts[clip]] for b, clip in enumerate(clips)])


def write_detections_csv(
    path: Path,
    video_ids: list[str],
    timestamps: list[Any],
    boxes_norm: np.ndarray,
    scores: np.ndarray,
    class_ids: list[int],
) -> None:
    """AVA submission format: one row per (box, class): video, ts, x1, y1, x2, y2, action id, score.

    Written by :func:`cofin_sdk.formats.ava.write_ava_csv` (6 decimals, boxes clipped).
    """
    from cofin_sdk.formats.ava import write_ava_csv

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
    track: bool = False,
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
    if track:
        summary["tracking"] = _evaluate_tracking(
            annotations / f"ava_{split}_v2.2.csv", ds, out, boxes, scores
        )
    return summary


def _evaluate_tracking(
    gt_csv: Path, ds: Any, out: dict[str, Any], boxes: np.ndarray, scores: np.ndarray
) -> dict[str, Any]:
    """``cofin eval --track``: IDF1/HOTA and segment P/R of the keyframe boxes, tracked."""
    from cofin_sdk.formats.ava import read_ava_csv
    from cofin_sdk.results.timeline import TimelineRule
    from training.evaluation.tracking import evaluate_tracks

    rule = TimelineRule(threshold=0.5, off_threshold=0.35, max_gap_s=1.0)
    metrics = evaluate_tracks(
        out["video_id"], np.asarray(out["timestamp"], np.float64), boxes, scores,
        ds.class_names, ds.class_ids, read_ava_csv(gt_csv, kind="groundtruth"), rule,
    )  # fmt: skip
    return {name: _clean(value) for name, value in metrics.items()} | {"rule": rule.to_dict()}


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
    model_or_backend: ViViT | Backend,
    train_cfg: TrainConfig,
    out_dir: str | Path,
    *,
    device: str | torch.device = "cpu",
    max_batches: int | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    compare: str | Path | None = None,
    track: bool = False,
) -> dict[str, Any]:
    """Evaluate every head on its dataset's validation split; writes CSV/JSON/PNG to ``out_dir``.

    The network runs through a :class:`~cofin_sdk.backends.Backend` (a model is run by
    :class:`~cofin_sdk.backends.TorchBackend` on ``device``), fed the evaluation datasets'
    ``"frames"``: the same letterboxed ``uint8`` clips as the Detector's, whose in-graph
    normalisation equals the datasets' ``"video"`` bit for bit. So the torch, onnxruntime
    and Triton numbers are comparable, and a model's numbers are those of its ``forward``.

    Args:
        model_or_backend: A :class:`~cofin_sdk.models.ViViT` (left in the training mode it
            had) or any Backend holding a head per dataset of ``train_cfg``.
        train_cfg: Gives the validation datasets (``datasets``, ``run`` preprocessing).
        out_dir: Where detections, metrics and plots go.
        device: Torch device of a model (ignored for a backend).
        max_batches: Evaluate only this many batches per dataset.
        batch_size: Clips per batch (default ``run.micro_batch_size`` or 8).
        progress: Progress bars.
        compare: Another evaluation folder (or its ``<head>_ava_metrics.json``): also plot
            the per-class AP difference this run minus that one (paper Fig. 1).
        track: Also track the detection heads' keyframe boxes (one tracker per video) and
            report IDF1 / HOTA against the AVA person ids and timeline segment precision /
            recall (``metrics[head]["tracking"]``, :mod:`training.evaluation.tracking`).

    Returns:
        ``{head: {"mAP", "mAP_head", "mAP_mid", "mAP_tail", "per_class_ap"}}`` for detection
        heads and ``{head: {"top1", "top5"}}`` for classification heads.

    Raises:
        ValueError: The backend lacks a dataset's head, or the head's class count differs
            from the dataset's.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model_or_backend if isinstance(model_or_backend, torch.nn.Module) else None
    was_training = model is not None and model.training
    backend = TorchBackend(model, device) if model is not None else model_or_backend
    try:
        metrics = _evaluate_datasets(
            backend, train_cfg, out_dir, max_batches, batch_size, progress, compare, track
        )
    finally:
        if model is not None:
            model.train(was_training)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def _evaluate_datasets(
    backend: Backend,
    train_cfg: TrainConfig,
    out_dir: Path,
    max_batches: int | None,
    batch_size: int | None,
    progress: bool,
    compare: str | Path | None,
    track: bool = False,
) -> dict[str, Any]:
    from training.builders import build_datasets
    from training.data import collate_classification, collate_detection
    from training.evaluation.clip_metrics import top_k_accuracy

    metrics: dict[str, Any] = {}
    # Clips are letterboxed by the rule the weights carry in their record, whatever the
    # training config says (older records: torch_bilinear_antialias).
    run = dataclasses.replace(train_cfg.run, resize=backend.preprocessing.resize)
    train_cfg = dataclasses.replace(train_cfg, run=run)
    for dcfg, ds in zip(train_cfg.datasets, build_datasets(train_cfg, "eval")):
        detection = _check_head(backend, dcfg.name, ds.num_classes)
        loader = DataLoader(
            ds,
            batch_size=batch_size or max(1, train_cfg.run.micro_batch_size or 8),
            num_workers=min(2, train_cfg.run.num_workers),
            shuffle=False,
            collate_fn=collate_detection if detection else collate_classification,
        )
        out = _predict(backend, dcfg.name, loader, max_batches, detection, progress)
        if detection:
            metrics[dcfg.name] = _evaluate_detection(
                dcfg, train_cfg, ds, out, out_dir, Path(compare) if compare else None, track
            )
        else:
            accuracy = top_k_accuracy(
                np.concatenate(out["scores"]), np.concatenate(out["labels"]), ks=(1, 5)
            )
            metrics[dcfg.name] = {"top1": accuracy[1], "top5": accuracy[5]}
        logger.info(
            "eval %s (%s): %s",
            dcfg.name,
            backend.name,
            {k: v for k, v in metrics[dcfg.name].items() if k != "per_class_ap"},
        )
    return metrics


def _check_head(backend: Backend, name: str, num_classes: int) -> bool:
    """The backend's head for dataset ``name`` must score its classes; True for detection."""
    if name not in backend.heads:
        raise ValueError(
            f"the {backend.name} backend has no head {name!r} (heads: {list(backend.heads)})"
        )
    spec = backend.heads[name]
    if spec.num_classes != num_classes:
        raise ValueError(
            f"head {name!r} of the {backend.name} backend scores {spec.num_classes} classes but "
            f"the {name!r} validation set has {num_classes}: another model or label map"
        )
    return spec.task == "detection"


def _saved_config(path: Path) -> TrainConfig | None:
    """The training config stored with a checkpoint, a run folder or a ``save_pretrained`` folder.

    A run folder's own ``config.json`` IS the training config; a ``save_pretrained``
    folder's ``config.json`` is a model record holding it as ``metadata.train_config``.
    """
    from cofin_sdk.models.record import CONFIG_NAME, WEIGHTS_NAME, read_model_record
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
    from cofin_sdk.models.record import ModelRecord
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


BACKENDS = ("torch", "onnx", "triton")


def build_backend(
    kind: str,
    path: Path,
    train_cfg: TrainConfig,
    *,
    device: str = "cpu",
    url: str | None = None,
    int8: bool = False,
) -> Backend:
    """The backend ``cofin eval --backend`` runs the model at ``path`` with.

    * ``"torch"``: the model (see :func:`_load_for_eval`) in :class:`TorchBackend`;
    * ``"onnx"``: onnxruntime on the model folder's ``onnx/`` export when it has one (with
      the int8 graphs if ``int8``), else on a fresh export to a temporary folder;
    * ``"triton"``: the ``cofin`` ensemble of the Triton server at ``url``.

    Raises:
        ValueError: An unknown kind, ``int8`` without onnx, ``url`` without triton (or
            triton without ``url``), or no Triton backend in this cofin.
    """
    check_backend_options(kind, url, int8)
    if kind == "triton":
        return _triton_backend(url)
    if kind == "onnx":
        return _onnx_backend(path, train_cfg, str(device), int8)
    return TorchBackend(_load_for_eval(path, train_cfg), device)


def check_backend_options(kind: str, url: str | None, int8: bool) -> None:
    """``--backend``, ``--url`` and ``--int8`` must go together (see :func:`build_backend`).

    Raises:
        ValueError: Naming the flag that does not fit.
    """
    if kind not in BACKENDS:
        raise ValueError(f"--backend {kind!r}: choose one of {', '.join(BACKENDS)}")
    if int8 and kind != "onnx":
        raise ValueError("--int8 runs onnxruntime's int8 graphs: use it with --backend onnx")
    if (url is not None) != (kind == "triton"):
        raise ValueError(
            "--backend triton needs --url grpc://HOST:PORT or http://HOST:PORT"
            if kind == "triton"
            else f"--url is the Triton server of --backend triton, not of --backend {kind}"
        )


def _triton_backend(url: str) -> Backend:
    import importlib.util

    if importlib.util.find_spec("cofin_sdk.backends.triton_backend") is None:
        raise ValueError(
            "--backend triton: this cofin has no Triton backend "
            "(cofin_sdk/backends/triton_backend.py); use --backend torch or onnx"
        )
    from cofin_sdk.backends.triton_backend import TritonBackend

    return TritonBackend(url)


def _onnx_backend(path: Path, train_cfg: TrainConfig, device: str, int8: bool) -> Backend:
    """onnxruntime on the folder's ``onnx/`` export, else on a temporary export of the model."""
    import tempfile

    from cofin_sdk.backends.onnx_backend import EXPORT_SUBFOLDER, OnnxBackend, providers_for_device
    from cofin_sdk.export import export

    options = {"providers": providers_for_device(device), "int8": int8}
    folder = _model_folder(path)
    if folder is not None and _has_export(folder / EXPORT_SUBFOLDER, int8):
        return OnnxBackend.from_pretrained(folder, **options)  # refuses other weights' export
    model = _load_for_eval(path, train_cfg)
    logger.info("exporting %s to a temporary folder for onnxruntime (int8: %s)", path, int8)
    with tempfile.TemporaryDirectory(prefix="cofin_eval_onnx_") as tmp:
        out = export(model, Path(tmp) / "export", int8_dynamic=int8, progress=False)
        return OnnxBackend(out, **options)  # the sessions hold the graphs in memory


def _model_folder(path: Path) -> Path | None:
    """The ``save_pretrained`` folder of an eval target (itself, or a run's ``final/``)."""
    from cofin_sdk.models.record import WEIGHTS_NAME

    for folder in (path / "final", path):
        if (folder / WEIGHTS_NAME).is_file():
            return folder
    return None


def _has_export(export_dir: Path, int8: bool) -> bool:
    from cofin_sdk.export import EXPORT_FILE, read_export

    if not (export_dir / EXPORT_FILE).is_file():
        return False
    if int8 and "int8" not in read_export(export_dir)["backbone"].get("variants", {}):
        logger.info("%s has no int8 graphs: exporting again with them", export_dir)
        return False
    return True


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
    backend: str = "torch",
    url: str | None = None,
    int8: bool = False,
    track: bool = False,
    keyframe: str | None = None,
) -> dict[str, Any]:
    """``cofin eval CHECKPOINT_OR_DIR [CONFIG]``: a ``save_pretrained`` folder, a Hub repo id
    (resolved through the Hub cache at ``revision``, written to ``./eval/<org>--<name>`` by
    default), a run folder or a ``step_*.pt`` checkpoint; CONFIG defaults to the training
    config saved with it. ``backend``, ``url``, ``int8``: see :func:`build_backend`.
    ``keyframe``: clip placement of the validation clips (``"centre"`` / ``"causal"``,
    :mod:`cofin_sdk.io.clip_rule`) instead of the config's ``run.keyframe``."""
    from cofin_sdk.models.hub import looks_like_repo_id, resolve_pretrained_dir
    from cofin_sdk.preprocessing import check_placement
    from training.configs.base import apply_overrides, load_config

    check_backend_options(backend, url, int8)  # before anything is loaded
    if keyframe is not None:
        check_placement(keyframe, "--keyframe ")
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
    if keyframe is not None:
        train_cfg.run.keyframe = keyframe
    runner = build_backend(backend, path, train_cfg, device=device, url=url, int8=int8)
    out_dir = Path(out) if out else (path if path.is_dir() else path.parent) / "eval"
    return evaluate_model(
        runner, train_cfg, out_dir, max_batches=max_batches, compare=compare, track=track
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
        backend=getattr(args, "backend", "torch"),
        url=getattr(args, "url", None),
        int8=getattr(args, "int8", False),
        track=getattr(args, "track", False),
        keyframe=getattr(args, "keyframe", None),
    )
    for head, values in metrics.items():
        shown = {
            k: (round(v, 4) if isinstance(v, float) else v)
            for k, v in values.items()
            if k not in ("per_class_ap", "tracking")
        }
        print(f"{head}: {shown}")
        if "tracking" in values:
            tracking = values["tracking"]
            print(
                f"{head} tracks: IDF1 {tracking['IDF1']:.4f}, HOTA {tracking['HOTA']:.4f}; "
                f"timeline segments (tIoU >= 0.5): precision {tracking['segment_precision']:.4f}, "
                f"recall {tracking['segment_recall']:.4f}"
            )
    return 0
