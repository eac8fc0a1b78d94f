"""A Triton model repository from a cofin export (DESIGN.md, "Serving").

Layout (``build_repository(export_dir, "repo")``)::

    repo/
      cofin_repository.json        what was built (platform, batch, box buckets, record)
      cofin_backbone/              config.pbtxt  1/model.onnx  (model.plan; model.py + model.onnx)
      cofin_head_<name>/           one per head, same files
      cofin/                       config.pbtxt  1/  (ensemble: no files)

The ensemble ``cofin`` takes ``frames uint8 [B, T, S, S, 3]`` and, when the model has a
detection head, ``boxes float32 [B, N, 4]`` (config dims ``[-1, 4]``, the batch dimension
comes from ``max_batch_size``), runs the backbone ONCE and every head on its features,
and returns ``scores_<name>`` per head. The features never leave the server.

Variable box count: the dynamic batchers of the backbone and of the classification heads
batch any requests; the detection head's batcher only stacks requests whose ``N`` is
equal, so clients pad ``N`` up to a bucket (``box_buckets``, recorded in the ensemble's
``cofin_box_buckets`` parameter) and drop the padded rows. Every ensemble input is
required by Triton as soon as a step consumes it (an ensemble cannot skip the detection
step: "expected 2 inputs but got 1 inputs for model 'cofin_head_ava'"), so a client that
only wants classification still sends one box per clip (the whole input) and ignores the
detection scores; ``TritonBackend`` does this. A model without a detection head has no
``boxes`` input; one without classification heads has no classification outputs.

Every model's config carries the model record as ``parameters { key: "cofin_record" }``,
so a client rebuilds labels and preprocessing from the server alone.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cofin_sdk.export.format import sha256_file
from serving.pbtxt import (
    DynamicBatching,
    EnsembleStep,
    InstanceGroup,
    TensorSpec,
    Warmup,
    ensemble_config,
    model_config,
)

logger = logging.getLogger(__name__)

__all__ = [
    "BACKBONE",
    "BOX_BUCKETS",
    "ENSEMBLE",
    "PLATFORMS",
    "RECORD_PARAMETER",
    "REPOSITORY_FILE",
    "build_repository",
    "check_repository_out",
    "head_model",
]

ENSEMBLE, BACKBONE, HEAD_PREFIX = "cofin", "cofin_backbone", "cofin_head_"
RECORD_PARAMETER, BUCKETS_PARAMETER = "cofin_record", "cofin_box_buckets"
REPOSITORY_FILE = "cofin_repository.json"
PLATFORMS = ("onnxruntime", "tensorrt", "python")
BOX_BUCKETS = (8, 16, 32)
DEFAULT_KIND = {"onnxruntime": "auto", "tensorrt": "gpu", "python": "cpu"}
MODEL_FILE = {"onnxruntime": "model.onnx", "tensorrt": "model.plan", "python": "model.py"}
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_TEMPLATE = Path(__file__).with_name("python_model.py")


def head_model(head: str) -> str:
    """The Triton model name of head ``head``."""
    return f"{HEAD_PREFIX}{head}"


# --------------------------------------------------------------------------- checks
def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} {value!r}: must be an int >= {low}")
    return value


def _check_buckets(box_buckets: Sequence[int]) -> tuple[int, ...]:
    buckets = tuple(box_buckets)
    if not buckets or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in buckets):
        raise ValueError(f"box_buckets {box_buckets!r}: must be ints >= 1, e.g. (8, 16, 32)")
    return tuple(sorted(set(buckets)))


def check_repository_out(out: str | os.PathLike, flag: str = "out=") -> Path:
    """``out`` may receive a repository: new, empty, or an earlier cofin repository (replaced).

    Raises:
        ValueError: A file, or a non-empty folder that is not a cofin repository.
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag}{path} is a file; give a folder for the model repository")
    if path.is_dir() and any(path.iterdir()) and not (path / REPOSITORY_FILE).is_file():
        raise ValueError(
            f"{flag}{path} is a non-empty folder that holds no cofin repository (no "
            f"{REPOSITORY_FILE}); choose a new or empty folder"
        )
    return path


# --------------------------------------------------------------------------- tensors
def _specs(entries: Sequence[Mapping[str, Any]], where: str) -> list[TensorSpec]:
    """Manifest I/O (``shape`` ``["batch", ...]``) -> TensorSpecs without the batch dim."""
    specs = []
    for entry in entries:
        shape = list(entry["shape"])
        if not shape or shape[0] != "batch":
            raise ValueError(f"{where}: tensor {entry['name']!r} has no dynamic batch dim: {shape}")
        dims = tuple(-1 if isinstance(d, str) else int(d) for d in shape[1:])
        specs.append(TensorSpec(entry["name"], entry["dtype"], dims))
    return specs


def _with_dims(spec: TensorSpec, size: int) -> TensorSpec:
    """``spec`` with its variable dims set to ``size`` (a warm-up shape)."""
    return TensorSpec(spec.name, spec.dtype, tuple(size if d == -1 else d for d in spec.dims))


def _warmups(inputs: list[TensorSpec], buckets: tuple[int, ...]) -> list[Warmup]:
    """Random clips / features, zero boxes; one warm-up per box bucket for a detection head."""
    data = {spec.name: "zero" if spec.name == "boxes" else "random" for spec in inputs}
    if not any(-1 in spec.dims for spec in inputs):
        return [Warmup("random", 1, tuple(inputs), data)]
    return [Warmup(f"boxes_{n}", 1, tuple(_with_dims(s, n) for s in inputs), data) for n in buckets]


# --------------------------------------------------------------------------- build
def _graph_file(export_dir: Path, entry: Mapping[str, Any], platform: str, role: str) -> Path:
    """The export's file for one model (``.onnx``, or the ``.plan`` engine), checked."""
    if platform == "tensorrt":
        engine = entry.get("tensorrt")
        if not engine:
            raise ValueError(
                f"--platform tensorrt needs TensorRT engines, but {export_dir} holds only ONNX "
                f"graphs (no engine for the {role}); build them on the GPU machine with "
                "`cofin export MODEL --format tensorrt`, or use --platform onnxruntime"
            )
        name, sha = engine["file"], engine["sha256"]
    else:
        name, sha = entry["file"], entry["sha256"]
    path = export_dir / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the export lists it for the {role}; export again"
        )
    if sha256_file(path) != sha:
        raise ValueError(f"{path}: its sha256 differs from the export's record of it; export again")
    return path


def _check_engine_profile(
    entry: Mapping[str, Any], max_batch: int, buckets: tuple[int, ...], role: str
) -> None:
    """A TensorRT engine only runs the shapes of its optimisation profile."""
    for name, shapes in entry["tensorrt"].get("profile", {}).items():
        top = shapes["max"]
        if top[0] < max_batch:
            raise ValueError(
                f"the {role} engine takes batches up to {top[0]} but --max-batch is {max_batch}; "
                f"export with --max-batch {max_batch} or lower --max-batch"
            )
        if name == "boxes" and top[1] < buckets[-1]:
            raise ValueError(
                f"the {role} engine takes up to {top[1]} boxes but the largest box bucket is "
                f"{buckets[-1]}; export with --max-boxes {buckets[-1]}"
            )


def _write_model(
    folder: Path,
    name: str,
    source: Path,
    platform: str,
    inputs: list[TensorSpec],
    outputs: list[TensorSpec],
    settings: Mapping[str, Any],
) -> None:
    version = folder / name / "1"
    version.mkdir(parents=True)
    if platform == "python":
        shutil.copyfile(_TEMPLATE, version / "model.py")
        shutil.copyfile(source, version / "model.onnx")
    else:
        shutil.copyfile(source, version / MODEL_FILE[platform])
    parameters = {RECORD_PARAMETER: settings["record_json"]}
    if platform == "python":
        parameters.update(onnx_file="model.onnx", intra_op_threads="0")
    text = model_config(
        name,
        platform,
        settings["max_batch"],
        inputs,
        outputs,
        batching=DynamicBatching(settings["delay_us"], (settings["max_batch"],)),
        instances=InstanceGroup(settings["instances"], settings["kind"]),
        warmup=_warmups(inputs, settings["buckets"]),
        parameters=parameters,
    )
    (folder / name / "config.pbtxt").write_text(text, encoding="utf-8")


def _write_ensemble(
    folder: Path,
    manifest: Mapping[str, Any],
    heads: dict[str, tuple[list[TensorSpec], list[TensorSpec]]],
    settings: Mapping[str, Any],
) -> None:
    frames = _specs(manifest["backbone"]["inputs"], "backbone")
    has_boxes = any(any(s.name == "boxes" for s in inputs) for inputs, _ in heads.values())
    inputs = frames + ([TensorSpec("boxes", "float32", (-1, 4))] if has_boxes else [])
    steps = [EnsembleStep(BACKBONE, {"frames": "frames"}, {"features": "features"})]
    outputs = []
    for head, (head_inputs, head_outputs) in heads.items():
        mapping = {spec.name: spec.name for spec in head_inputs}  # features, boxes
        steps.append(EnsembleStep(head_model(head), mapping, {"scores": f"scores_{head}"}))
        (scores,) = head_outputs
        outputs.append(TensorSpec(f"scores_{head}", scores.dtype, scores.dims))
    text = ensemble_config(
        ENSEMBLE,
        settings["max_batch"],
        inputs,
        outputs,
        steps,
        max_inflight_requests=settings["max_inflight"],
        parameters={
            RECORD_PARAMETER: settings["record_json"],
            BUCKETS_PARAMETER: ",".join(map(str, settings["buckets"])),
        },
    )
    (folder / ENSEMBLE / "1").mkdir(parents=True)  # Triton wants a version folder, even empty
    (folder / ENSEMBLE / "config.pbtxt").write_text(text, encoding="utf-8")


def _write_repository(export_dir: Path, folder: Path, settings: dict[str, Any]) -> dict[str, Any]:
    from cofin_sdk.export import read_export

    manifest = read_export(export_dir)
    platform = settings["platform"]
    settings["record_json"] = json.dumps(manifest["record"], separators=(",", ":"))
    entries = {
        "backbone": manifest["backbone"],
        **{f"head {n}": e for n, e in manifest["heads"].items()},
    }
    for head in manifest["heads"]:
        if not _NAME.match(head):
            raise ValueError(
                f"head {head!r}: a Triton model name needs letters, digits, _ . - only"
            )
    if platform == "tensorrt":
        for role, entry in entries.items():
            if entry.get("tensorrt"):
                _check_engine_profile(entry, settings["max_batch"], settings["buckets"], role)
    backbone = manifest["backbone"]
    _write_model(
        folder,
        BACKBONE,
        _graph_file(export_dir, backbone, platform, "backbone"),
        platform,
        _specs(backbone["inputs"], "backbone"),
        _specs(backbone["outputs"], "backbone"),
        settings,
    )
    heads = {}
    for head, entry in manifest["heads"].items():
        role = f"head {head}"
        heads[head] = (_specs(entry["inputs"], role), _specs(entry["outputs"], role))
        source = _graph_file(export_dir, entry, platform, role)
        _write_model(folder, head_model(head), source, platform, *heads[head], settings)
    _write_ensemble(folder, manifest, heads, settings)
    return manifest


def build_repository(
    export_dir_or_model: str | os.PathLike,
    out: str | os.PathLike,
    *,
    platform: str = "onnxruntime",
    max_batch: int = 8,
    instances: int = 1,
    dynamic_batching_delay_us: int = 1000,
    box_buckets: Sequence[int] = BOX_BUCKETS,
    instance_kind: str | None = None,
    max_inflight_requests: int | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """Writes a Triton model repository for an export (or a model, exported first).

    Args:
        export_dir_or_model: A ``cofin export`` folder, or a ``save_pretrained`` folder / Hub
            repo id, which is exported first into a temporary folder (needs torch and the
            ``onnx`` extra).
        out: New or empty folder, or an earlier cofin repository (replaced).
        platform: ``"onnxruntime"`` (``onnxruntime_onnx`` models; the NGC container, CPU or
            GPU), ``"tensorrt"`` (``tensorrt_plan``; needs an export with engines built on
            the serving GPU) or ``"python"`` (Python-backend ``model.py`` running
            onnxruntime on the same graphs; for servers with only the Python backend).
        max_batch: ``max_batch_size`` of every model and the ensemble.
        instances: Instances of each model (``instance_group`` count).
        dynamic_batching_delay_us: The dynamic batchers' ``max_queue_delay_microseconds``.
        box_buckets: Box counts clients pad to (warm-up shapes; recorded for clients).
        instance_kind: ``"auto"``, ``"cpu"`` or ``"gpu"`` (default: auto for onnxruntime,
            gpu for tensorrt, cpu for python).
        max_inflight_requests: The ensemble's backpressure (default ``4 * max_batch``, except
            for python: 0, as the 2.51 server bundled in nvidia-pytriton does not know the
            field). 0 leaves it out.
        revision: Hub revision of a repo id.
        cache_dir: Hub cache folder for a repo id.

    Returns:
        The repository folder.

    Raises:
        ValueError: Bad settings, an output folder that holds something else, an export
            without TensorRT engines for ``"tensorrt"``, a graph file that changed.
        FileNotFoundError: No such export / model, or a graph file missing from the export.
    """
    if platform not in PLATFORMS:
        raise ValueError(f"platform {platform!r}: choose one of {', '.join(PLATFORMS)}")
    kind = instance_kind or DEFAULT_KIND[platform]
    max_inflight = (
        (0 if platform == "python" else 4 * max_batch)
        if max_inflight_requests is None
        else max_inflight_requests
    )
    settings = {
        "platform": platform,
        "max_batch": _check_int("max_batch", max_batch, 1),
        "instances": _check_int("instances", instances, 1),
        "delay_us": _check_int("dynamic_batching_delay_us", dynamic_batching_delay_us, 0),
        "buckets": _check_buckets(box_buckets),
        "kind": kind,
        "max_inflight": _check_int("max_inflight_requests", max_inflight, 0),
    }
    InstanceGroup(1, kind)  # checks the kind before any work
    out = check_repository_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        source = Path(export_dir_or_model)
        from cofin_sdk.export import EXPORT_FILE

        if (source / EXPORT_FILE).is_file():
            manifest = _write_repository(source, staging, settings)
        else:
            manifest = _export_and_write(
                export_dir_or_model, staging, settings, revision, cache_dir
            )
        info = {
            key: settings[key]
            for key in ("platform", "max_batch", "instances", "kind", "max_inflight")
        }
        info.update(
            dynamic_batching_delay_us=settings["delay_us"],
            box_buckets=list(settings["buckets"]),
            models=[ENSEMBLE, BACKBONE, *map(head_model, manifest["heads"])],
            weights_sha256=manifest.get("weights_sha256"),
            record=manifest["record"],
        )
        (staging / REPOSITORY_FILE).write_text(json.dumps(info, indent=2), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.debug("wrote Triton repository %s (%s, %d models)", out, platform, len(info["models"]))
    return out


def _export_and_write(
    model: str | os.PathLike,
    staging: Path,
    settings: dict[str, Any],
    revision: str | None,
    cache_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Exports a save_pretrained folder / Hub repo id to a temporary folder, then builds."""
    path = Path(model)
    if path.is_dir() and not (path / "config.json").is_file():
        raise ValueError(
            f"{path} is neither a cofin export (no cofin_export.json) nor a save_pretrained "
            "model folder (no config.json)"
        )
    if settings["platform"] == "tensorrt":
        raise ValueError(
            "--platform tensorrt needs TensorRT engines built on the serving GPU: run "
            "`cofin export MODEL --format tensorrt --out EXPORT` there, then "
            "`cofin serve build EXPORT --platform tensorrt`"
        )
    from cofin_sdk.export import export

    with tempfile.TemporaryDirectory(prefix="cofin_export_") as tmp:
        logger.info("exporting %s to ONNX first", model)
        export_dir = export(
            model, Path(tmp) / "export", revision=revision, cache_dir=cache_dir, progress=False
        )
        return _write_repository(export_dir, staging, settings)
