"""The onnxruntime backend: runs a ``cofin export`` folder with no torch at all.

Heads, class names and preprocessing come from the export's metadata alone
(``cofin_export.json``, cross-checked against every graph's ``metadata_props``), so the
Detector built on it behaves like the torch one (DESIGN.md, "Inference graph").

Providers: by default TensorRT, then CUDA, when onnxruntime offers them, then CPU. What
actually runs is read back from ``session.get_providers()``: onnxruntime-gpu lists CUDA
even where it cannot load it (no GPU, no CUDA libraries) and then silently falls back to
CPU. Install ``cofin-sdk[onnx]`` (onnxruntime, CPU) OR ``cofin-sdk[onnx-gpu]``
(onnxruntime-gpu), never both: they provide the same module and the later one wins.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cofin_sdk.export.format import EXPORT_FILE, META_GRAPH, META_RECORD, read_export, sha256_file
from cofin_sdk.models.config import HeadSpec
from cofin_sdk.models.hub_cache import looks_like_repo_id, snapshot
from cofin_sdk.models.record import CONFIG_NAME, WEIGHTS_NAME, ModelRecord
from cofin_sdk.preprocessing import Preprocessing

from .base import check_frames, check_head_inputs

logger = logging.getLogger(__name__)

__all__ = ["OnnxBackend", "default_providers", "providers_for_device"]

_PREFERRED = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
_ORT_TYPES = {"tensor(float)": "float32", "tensor(uint8)": "uint8", "tensor(float16)": "float16"}
EXPORT_SUBFOLDER = "onnx"  # where a save_pretrained folder / Hub repo carries its export


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ImportError(
            'OnnxBackend needs onnxruntime: pip install "cofin-sdk[onnx]" (CPU) or '
            '"cofin-sdk[onnx-gpu]" (NVIDIA GPU), not both'
        ) from None
    return onnxruntime


def default_providers() -> list[str]:
    """TensorRT, CUDA (when onnxruntime offers them), then CPU."""
    available = set(_onnxruntime().get_available_providers())
    return [p for p in _PREFERRED if p in available] or ["CPUExecutionProvider"]


def providers_for_device(device: str | None) -> list[Any] | None:
    """onnxruntime providers for a torch-style device string (``None``: the default order).

    Raises:
        ValueError: Not ``cpu``, ``cuda`` or ``cuda:N``.
    """
    if device is None:
        return None
    if device == "cpu":
        return ["CPUExecutionProvider"]
    kind, _, index = str(device).partition(":")
    if kind == "cuda" and (not index or index.isdigit()):
        return [("CUDAExecutionProvider", {"device_id": int(index or 0)}), "CPUExecutionProvider"]
    raise ValueError(f"device={device!r}: the onnx backend runs on 'cpu', 'cuda' or 'cuda:N'")


def _first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """The first JSON path where ``a`` and ``b`` differ (``model.heads.ava.class_names``)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                return where
            found = _first_difference(a[key], b[key], where)
            if found:
                return found
        return None
    return None if a == b else (path or "<root>")


class OnnxBackend:
    """Runs an export folder (``backbone.onnx`` + ``head_<name>.onnx``) with onnxruntime.

    Args:
        export_dir: A folder written by ``cofin export`` / :func:`cofin_sdk.export.export`.
        providers: onnxruntime execution providers (names or ``(name, options)``); default
            :func:`default_providers`. The ones that really run are in :attr:`providers`.
        intra_op_threads: Threads inside one operator (onnxruntime default: all cores).
        inter_op_threads: Threads across operators.
        int8: Run the ``--int8-dynamic`` graphs (``*.int8.onnx``; CPU).
        fp16: Run the ``--fp16`` graphs (``*.fp16.onnx``; meant for GPUs).
        allow_spinning: Let idle intra-op threads busy-wait (onnxruntime's default). Off by
            default: the backbone and head sessions take turns, and a spinning idle session
            starves the busy one on a small CPU (measured 2-3x slower on 2 cores).

    Raises:
        ImportError: onnxruntime is not installed (the extra to install is named).
        FileNotFoundError: No such folder, no ``cofin_export.json``, or a graph it lists is
            missing (the file is named).
        ValueError: A graph whose file, I/O or metadata (record, weights sha256, role)
            disagrees with ``cofin_export.json`` (file and field are named), or a variant the
            export does not hold.

    Example:
        >>> import numpy as np
        >>> backend = OnnxBackend("exported")  # doctest: +SKIP
        >>> features = backend.features(np.zeros((1, 4, 32, 32, 3), np.uint8))  # doctest: +SKIP
        >>> backend.head("k400", features).shape  # doctest: +SKIP
        (1, 3)
    """

    name = "onnxruntime"

    def __init__(
        self,
        export_dir: str | os.PathLike,
        providers: Sequence[Any] | None = None,
        intra_op_threads: int | None = None,
        inter_op_threads: int | None = None,
        int8: bool = False,
        fp16: bool = False,
        allow_spinning: bool = False,
    ) -> None:
        ort = _onnxruntime()
        if int8 and fp16:
            raise ValueError("choose int8=True or fp16=True, not both")
        self.export_dir = Path(export_dir)
        self.manifest = read_export(self.export_dir)
        self._json = self.export_dir / EXPORT_FILE
        self.record = ModelRecord.from_dict(self.manifest["record"], source=f"{self._json}: record")
        self.preprocessing: Preprocessing = self.record.preprocessing
        unknown = [name for name in self.manifest["heads"] if name not in self.record.heads]
        if unknown:
            raise ValueError(f"{self._json}: heads {unknown} are not in its record's model.heads")
        self.heads: Mapping[str, HeadSpec] = {
            n: self.record.heads[n] for n in self.manifest["heads"]
        }
        self.variant = "int8" if int8 else "fp16" if fp16 else None
        options = ort.SessionOptions()
        for attr, value in (
            ("intra_op_num_threads", intra_op_threads),
            ("inter_op_num_threads", inter_op_threads),
        ):
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{attr.replace('_num', '')}={value!r}: must be an int >= 0")
                setattr(options, attr, value)
        self.allow_spinning = bool(allow_spinning)
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if allow_spinning else "0"
        )
        self.requested_providers = list(providers) if providers is not None else default_providers()
        graphs = {
            "backbone": self.manifest["backbone"],
            **{f"head {n}": e for n, e in self.manifest["heads"].items()},
        }
        self._sessions = {
            role: self._session(ort, role, entry, options) for role, entry in graphs.items()
        }
        self.providers: list[str] = self._sessions["backbone"].get_providers()
        self._check_providers()
        self._features_shape = tuple(self.manifest["backbone"]["outputs"][0]["shape"][1:])
        logger.info(
            "onnxruntime %s: %s (%s), providers %s",
            ort.__version__,
            self.export_dir,
            self.variant or "fp32",
            self.providers,
        )

    # ------------------------------------------------------------------ loading
    def _graph_file(self, role: str, entry: Mapping[str, Any]) -> tuple[Path, str]:
        if self.variant is None:
            return self.export_dir / entry["file"], entry["sha256"]
        variant = entry.get("variants", {}).get(self.variant)
        if variant is None:
            flag = {"int8": "--int8-dynamic", "fp16": "--fp16"}[self.variant]
            raise ValueError(
                f"{self._json}: the {role} graph has no {self.variant} variant; export with {flag}"
            )
        return self.export_dir / variant["file"], variant["sha256"]

    def _session(self, ort: Any, role: str, entry: Mapping[str, Any], options: Any) -> Any:
        path, sha = self._graph_file(role, entry)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: {EXPORT_FILE} lists it for the {role} graph; export again"
            )
        if sha256_file(path) != sha:
            raise ValueError(
                f"{path}: its sha256 differs from the one {EXPORT_FILE} records: the file was "
                "changed or comes from another export; export again"
            )
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=self.requested_providers
        )
        self._check_metadata(path, session.get_modelmeta().custom_metadata_map, entry)
        self._check_io(path, session, entry)
        return session

    def _check_metadata(
        self, path: Path, meta: Mapping[str, str], entry: Mapping[str, Any]
    ) -> None:
        """The graph's own metadata must say what cofin_export.json says about it."""
        try:
            record = json.loads(meta[META_RECORD])
            graph = json.loads(meta[META_GRAPH])
        except (KeyError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"{path}: no readable cofin metadata ({exc}); not a cofin export graph"
            ) from None
        field = _first_difference(record, self.manifest["record"])
        if field:
            raise ValueError(
                f"{path}: its metadata_props {META_RECORD} differs from {EXPORT_FILE}'s record at "
                f"field {field!r}: the graphs come from different models; export again"
            )
        expected = {
            "weights_sha256": self.manifest["weights_sha256"],
            "role": entry["role"],
            "head": entry["head"],
            "inputs": entry["inputs"],
            "outputs": entry["outputs"],
            "clip": self.manifest["clip"],
            "precision": self.variant or "fp32",
        }
        for key, value in expected.items():
            if graph.get(key) != value:
                raise ValueError(
                    f"{path}: its metadata_props {META_GRAPH}.{key} is {graph.get(key)!r} but "
                    f"{EXPORT_FILE} says {value!r}: the graphs come from different exports; export again"
                )

    @staticmethod
    def _check_io(path: Path, session: Any, entry: Mapping[str, Any]) -> None:
        def describe(values: Any) -> list[dict[str, Any]]:
            return [
                {"name": v.name, "dtype": _ORT_TYPES.get(v.type, v.type), "shape": list(v.shape)}
                for v in values
            ]

        got = (describe(session.get_inputs()), describe(session.get_outputs()))
        if got != (entry["inputs"], entry["outputs"]):
            raise ValueError(
                f"{path}: graph inputs/outputs {got} differ from {EXPORT_FILE}'s {entry['inputs']} -> {entry['outputs']}"
            )

    def _check_providers(self) -> None:
        names = [p if isinstance(p, str) else p[0] for p in self.requested_providers]
        lost = [p for p in names if p not in self.providers and p != "CPUExecutionProvider"]
        if lost:
            logger.warning(
                "onnxruntime could not use %s here (no GPU or its CUDA/TensorRT libraries are "
                "missing); running on %s",
                lost,
                self.providers,
            )

    # ------------------------------------------------------------------ Backend
    def features(self, frames: np.ndarray) -> np.ndarray:
        """See :meth:`cofin_sdk.backends.Backend.features` (the export's fixed clip shape)."""
        frames = check_frames(frames, self.preprocessing)
        return self._sessions["backbone"].run(["features"], {"frames": frames})[0]

    def head(self, name: str, features: np.ndarray, boxes: np.ndarray | None = None) -> np.ndarray:
        """See :meth:`cofin_sdk.backends.Backend.head`."""
        if name not in self.heads:
            extra = [n for n in self.record.heads if n not in self.heads]
            hint = f" (not exported: {extra}; export them with --heads)" if extra else ""
            raise ValueError(
                f"unknown head {name!r}; this export has heads {list(self.heads)}{hint}"
            )
        boxes = check_head_inputs(self.heads, name, features, boxes)
        if tuple(features.shape[1:]) != self._features_shape:
            raise ValueError(
                f"features must be float32 [B, {', '.join(map(str, self._features_shape))}] (the "
                f"backbone's output), got shape {tuple(features.shape)}"
            )
        feeds = {"features": np.ascontiguousarray(features, dtype=np.float32)}
        if boxes is not None:
            feeds["boxes"] = boxes
        return self._sessions[f"head {name}"].run(["scores"], feeds)[0]

    # ------------------------------------------------------------------ pretrained folders
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        **kwargs: Any,
    ) -> OnnxBackend:
        """The ``onnx/`` export of a ``save_pretrained`` folder or Hub repo, else a fresh one.

        Looks for ``<folder>/onnx/cofin_export.json`` (how a Hub repo carries its export; a
        repo's ``onnx/*`` files come from the local Hub cache). An export folder itself is
        accepted too. Without one, the weights are exported to a temporary folder first
        (needs torch and the ``onnx`` extra; logged), which costs seconds to minutes: run
        ``cofin export MODEL --out MODEL/onnx`` once instead.

        Raises:
            ValueError: The ``onnx/`` export was made from other weights than the folder's
                ``model.safetensors``.
            FileNotFoundError: No such folder / uncached repo.
        """
        found = _pretrained_export(name_or_path, revision, cache_dir)
        if found is not None:
            return cls(found, **kwargs)
        logger.info(
            "%s has no %s/ export: exporting it to a temporary folder first (save it with "
            "`cofin export %s --out %s/%s` to skip this)",
            name_or_path,
            EXPORT_SUBFOLDER,
            name_or_path,
            name_or_path,
            EXPORT_SUBFOLDER,
        )
        from cofin_sdk.export import export

        with tempfile.TemporaryDirectory(prefix="cofin_export_") as tmp:
            out = Path(tmp) / "export"
            export(name_or_path, out, revision=revision, cache_dir=cache_dir, progress=False)
            return cls(out, **kwargs)  # sessions hold the graphs in memory

    def __repr__(self) -> str:
        return f"OnnxBackend({str(self.export_dir)!r}, {self.variant or 'fp32'}, providers={self.providers})"


def _pretrained_export(
    name_or_path: str | os.PathLike, revision: str | None, cache_dir: str | os.PathLike | None
) -> Path | None:
    """An export folder for a model folder / repo id, or None (torch-free)."""
    path = Path(name_or_path)
    if (path / EXPORT_FILE).is_file():
        return path
    if path.is_dir():
        sub = path / EXPORT_SUBFOLDER
        if not (sub / EXPORT_FILE).is_file():
            return None
        _check_same_weights(path, sub)
        return sub
    text = os.fspath(name_or_path)
    if not looks_like_repo_id(text):
        return None  # not a repo id: the exporter names the problem
    try:
        folder = snapshot(text, revision, cache_dir, [f"{EXPORT_SUBFOLDER}/*", CONFIG_NAME])
    except FileNotFoundError as exc:  # offline, not cached, no such repo: try exporting
        logger.debug("no cached %s/ export for %s: %s", EXPORT_SUBFOLDER, text, exc)
        return None
    sub = folder / EXPORT_SUBFOLDER
    return sub if (sub / EXPORT_FILE).is_file() else None


def _check_same_weights(folder: Path, export_dir: Path) -> None:
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        return
    recorded = read_export(export_dir)["weights_sha256"]
    if sha256_file(weights) != recorded:
        raise ValueError(
            f"{export_dir} was exported from other weights than {weights} (sha256 "
            f"{recorded[:12]}... vs {sha256_file(weights)[:12]}...); export again with "
            f"`cofin export {folder} --out {export_dir}`"
        )
