"""The Triton backend: the ensemble ``cofin`` of a ``cofin serve build`` repository, over
HTTP or gRPC with ``tritonclient``. No torch, no onnxruntime, no local weights.

Everything comes from the server: the model record (heads, class names, preprocessing) is
the ensemble config's ``cofin_record`` parameter, the batch limit its ``max_batch_size``,
the box buckets its ``cofin_box_buckets`` parameter.

One backbone pass per batch of clips. The features never leave the server, so
``features(frames)`` sends nothing: it returns a :class:`TritonClips` handle holding the
clips. The first ``head()`` call on a handle runs the ensemble ONCE (backbone and every
head) and caches every classification head's scores on it; further classification heads
are read from that cache. A detection head call sends its boxes with that run, so call the
detection head first when both are needed (the Detector does). :meth:`TritonBackend.run_all`
is the same run without handles: ``frames, boxes -> {head: scores}``.

Box counts are padded up to a bucket (8, 16, 32, then multiples of 32) with copies of a
clip's first box, so Triton's dynamic batcher can stack requests with different numbers of
people; the padded rows are dropped from the scores. The ensemble needs boxes whenever the
model has a detection head (Triton runs every step), so classification-only calls send
one whole-input box per clip and ignore its detection scores.

Failures are errors, never hangs: every call has ``timeout_s`` (gRPC deadline, HTTP socket
timeout) -> :class:`TimeoutError`; a server that refuses or drops the connection ->
``retries`` fresh connections (inference is stateless, so resending is safe; this also
gets through a server restart) -> :class:`ConnectionError`; an answer with an error ->
:class:`TritonRequestError` (the request was rejected: wrong dtype / shape, unknown model;
also a ``ValueError``) or :class:`TritonServerError` (the model failed), both carrying
the server's own message.

Threads: the HTTP client is not thread-safe, so each thread gets its own client (gRPC too,
for symmetry); :meth:`close` closes them all.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import numpy as np

from cofin_sdk.models.config import HeadSpec
from cofin_sdk.models.record import ModelRecord
from cofin_sdk.preprocessing import Preprocessing

from .base import check_frames, check_head_inputs

logger = logging.getLogger(__name__)

__all__ = [
    "TritonBackend",
    "TritonClips",
    "TritonRequestError",
    "TritonServerError",
    "bucket_size",
    "pad_boxes",
]

DEFAULT_BUCKETS = (8, 16, 32)
RECORD_PARAMETER, BUCKETS_PARAMETER = "cofin_record", "cofin_box_buckets"
_SCHEMES = {"http": "http", "https": "http", "grpc": "grpc"}
_REJECTED = ("400", "404", "StatusCode.INVALID_ARGUMENT", "StatusCode.NOT_FOUND")
_T = TypeVar("_T")


class TritonServerError(RuntimeError):
    """The Triton server answered with an error.

    Attributes:
        status: The server's status (``"400"``, ``"StatusCode.INTERNAL"``, ...).
        server_message: The server's own message.
    """

    def __init__(self, message: str, status: str | None, server_message: str) -> None:
        super().__init__(message)
        self.status, self.server_message = status, server_message


class TritonRequestError(TritonServerError, ValueError):
    """The server rejected the request (bad dtype or shape, unknown model or tensor)."""


def _tritonclient(protocol: str) -> tuple[Any, Any]:
    """``(tritonclient.http | tritonclient.grpc, tritonclient.utils)``."""
    try:
        if protocol == "http":
            import tritonclient.http as client
        else:
            import tritonclient.grpc as client
        import tritonclient.utils as utils
    except ImportError as exc:
        raise ImportError(
            f'TritonBackend needs tritonclient ({exc}); pip install "cofin-sdk[triton]"'
        ) from None
    return client, utils


def _parse_url(url: str) -> tuple[str, str]:
    """``("http" | "grpc", "host:port")`` of ``http://host:port`` / ``grpc://host:port``."""
    parts = urlsplit(str(url))
    protocol = _SCHEMES.get(parts.scheme)
    if protocol is None or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(
            f"Triton URL {url!r}: expected http://HOST:PORT or grpc://HOST:PORT (e.g. "
            "grpc://127.0.0.1:8001, what `cofin serve start` prints)"
        )
    if parts.scheme == "https":
        raise ValueError(f"Triton URL {url!r}: https is not supported; use http:// or grpc://")
    port = parts.port or (8000 if protocol == "http" else 8001)
    return protocol, f"{parts.hostname}:{port}"


# --------------------------------------------------------------------------- boxes
def bucket_size(count: int, buckets: Sequence[int] = DEFAULT_BUCKETS) -> int:
    """The padded box count for ``count`` boxes: the smallest bucket that holds them, or
    the next multiple of the largest bucket.

    Example:
        >>> [bucket_size(n) for n in (1, 8, 9, 33)]
        [8, 8, 16, 64]
    """
    for bucket in sorted(buckets):
        if count <= bucket:
            return bucket
    top = max(buckets)
    return -(-count // top) * top


def pad_boxes(boxes: np.ndarray, buckets: Sequence[int] = DEFAULT_BUCKETS) -> np.ndarray:
    """``boxes [B, N, 4]`` padded to ``[B, bucket_size(N), 4]`` with copies of each clip's
    first box (a valid box: the padded rows cost one ROI-Align each and are dropped)."""
    size = bucket_size(boxes.shape[1], buckets)
    if size == boxes.shape[1]:
        return boxes
    pad = np.repeat(boxes[:, :1], size - boxes.shape[1], axis=1)  # (B, size - N, 4)
    return np.ascontiguousarray(np.concatenate([boxes, pad], axis=1))


# --------------------------------------------------------------------------- handle
class TritonClips:
    """What :meth:`TritonBackend.features` returns: the clips, not features (those stay on
    the server), plus the scores of the ensemble run made for them.

    Indexing (``clips[rows]``) gives a view on some clips; a head call on a view runs the
    ensemble on all the clips of its source (padding the other clips with a whole-input
    box) so that one run serves every head. Not thread-safe: one handle per thread.
    """

    def __init__(
        self, frames: np.ndarray, rows: np.ndarray | None = None, root: TritonClips | None = None
    ) -> None:
        self.root = root or self
        self.frames = frames
        self.rows = np.arange(len(frames)) if rows is None else rows
        self.cache: dict[str, np.ndarray] = {}

    @property
    def num_clips(self) -> int:
        return len(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: Any) -> TritonClips:
        rows = np.atleast_1d(self.rows[index])
        return TritonClips(self.root.frames, rows, self.root)

    def __repr__(self) -> str:
        return f"TritonClips({len(self)} clips of {len(self.root.frames)})"


# --------------------------------------------------------------------------- backend
class TritonBackend:
    """Runs the ``cofin`` ensemble of a Triton server (see the module docstring).

    Args:
        url: ``grpc://HOST:PORT`` or ``http://HOST:PORT``.
        model: The ensemble's name (``cofin`` in a ``cofin serve build`` repository).
        timeout_s: Limit of every call to the server (connect and answer), seconds.
        retries: Fresh connections tried after a refused or dropped connection.
        box_buckets: Box counts to pad to (default: the server's ``cofin_box_buckets``).

    Raises:
        ImportError: tritonclient is not installed (names the extra).
        ValueError: A bad URL; a model that is not a cofin ensemble (no record, no frames).
        TritonRequestError: The server has no such model (its models are listed).
        ConnectionError / TimeoutError: The server is not reachable / does not answer.

    Example:
        >>> backend = TritonBackend("grpc://127.0.0.1:8001")  # doctest: +SKIP
        >>> clips = backend.features(np.zeros((2, 4, 32, 32, 3), np.uint8))  # doctest: +SKIP
        >>> backend.head("kinetics", clips).shape  # doctest: +SKIP
        (2, 4)
    """

    name = "triton"

    def __init__(
        self,
        url: str,
        model: str = "cofin",
        *,
        timeout_s: float = 30.0,
        retries: int = 1,
        box_buckets: Sequence[int] | None = None,
    ) -> None:
        self.protocol, self.address = _parse_url(url)
        self.url = f"{self.protocol}://{self.address}"
        self._client_module, self._utils = _tritonclient(self.protocol)
        if not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
            raise ValueError(f"timeout_s={timeout_s!r}: must be a positive number of seconds")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries={retries!r}: must be an int >= 0")
        self.model, self.timeout_s, self.retries = model, float(timeout_s), retries
        self._local = threading.local()
        self._lock = threading.Lock()
        self._clients: list[Any] = []
        config = self._model_config()
        self._read_config(config, box_buckets)
        logger.info(
            "triton %s model %r: heads %s, max batch %d, box buckets %s",
            self.url,
            model,
            list(self.heads),
            self.max_batch,
            self.box_buckets,
        )

    # ------------------------------------------------------------------ config
    def _model_config(self) -> dict[str, Any]:
        try:
            config = self._call(self._get_config, f"read the config of model {self.model!r}")
        except TritonRequestError as exc:
            models = self._models()
            raise TritonRequestError(
                f"Triton server at {self.url} has no model {self.model!r} (it serves "
                f"{models}); the server said: {exc.server_message}",
                exc.status,
                exc.server_message,
            ) from None
        return config

    def _get_config(self, client: Any) -> dict[str, Any]:
        if self.protocol == "grpc":
            return client.get_model_config(self.model, as_json=True, client_timeout=self.timeout_s)[
                "config"
            ]
        return client.get_model_config(self.model)

    def _models(self) -> list[str]:
        def index(client: Any) -> list[Any]:
            if self.protocol == "grpc":
                found = client.get_model_repository_index(
                    as_json=True, client_timeout=self.timeout_s
                )
                return found.get("models", [])
            return client.get_model_repository_index()

        try:
            return sorted(entry.get("name", "?") for entry in self._call(index, "list models"))
        except (TritonServerError, ConnectionError, TimeoutError):
            return []

    def _read_config(self, config: Mapping[str, Any], box_buckets: Sequence[int] | None) -> None:
        where = f"model {self.model!r} at {self.url}"
        parameters = config.get("parameters") or {}
        text = (parameters.get(RECORD_PARAMETER) or {}).get("string_value")
        if not text:
            raise ValueError(
                f"{where} has no {RECORD_PARAMETER!r} parameter: not a repository written by "
                "`cofin serve build` (or not its ensemble; the default model is 'cofin')"
            )
        try:
            self.record = ModelRecord.from_dict(
                json.loads(text), source=f"{where}: {RECORD_PARAMETER}"
            )
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{where}: parameter {RECORD_PARAMETER!r} is not JSON ({exc})"
            ) from None
        self.preprocessing: Preprocessing = self.record.preprocessing
        inputs = {spec["name"] for spec in config.get("input", [])}
        outputs = {spec["name"] for spec in config.get("output", [])}
        if "frames" not in inputs:
            raise ValueError(f"{where} has no 'frames' input: not the cofin ensemble")
        self.heads: Mapping[str, HeadSpec] = {
            name: spec for name, spec in self.record.heads.items() if f"scores_{name}" in outputs
        }
        self._takes_boxes = "boxes" in inputs
        self.max_batch = int(config.get("max_batch_size") or 0) or 1
        served = (parameters.get(BUCKETS_PARAMETER) or {}).get("string_value", "")
        buckets = box_buckets or [int(b) for b in served.split(",") if b.strip()] or DEFAULT_BUCKETS
        if any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in buckets):
            raise ValueError(f"box_buckets={box_buckets!r}: must be ints >= 1")
        self.box_buckets = tuple(sorted(set(buckets)))

    # ------------------------------------------------------------------ clients
    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            if self.protocol == "http":
                client = self._client_module.InferenceServerClient(
                    self.address,
                    connection_timeout=self.timeout_s,
                    network_timeout=self.timeout_s,
                )
            else:
                client = self._client_module.InferenceServerClient(self.address)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def _drop_client(self) -> None:
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            with self._lock:
                if client in self._clients:
                    self._clients.remove(client)
            try:
                client.close()
            except Exception as exc:  # a broken connection may fail to close; it is dropped anyway
                logger.debug("closing a broken Triton client: %s", exc)

    def close(self) -> None:
        """Closes every thread's client (a later call opens new ones)."""
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            try:
                client.close()
            except Exception as exc:
                logger.debug("closing a Triton client: %s", exc)
        self._local = threading.local()

    def __enter__(self) -> TritonBackend:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ errors
    def _kind(self, exc: BaseException) -> str:
        """``"timeout"``, ``"connection"``, ``"server"`` or ``"other"`` (not a transport error)."""
        if isinstance(exc, self._utils.InferenceServerException):
            status = str(exc.status() or "")
            if status == "StatusCode.DEADLINE_EXCEEDED":
                return "timeout"
            if status in ("StatusCode.UNAVAILABLE", "StatusCode.CANCELLED"):
                return "connection"
            return "server"
        if isinstance(exc, TimeoutError):
            return "timeout"
        module = type(exc).__module__.split(".")[0]
        if isinstance(exc, OSError) or module in ("geventhttpclient", "gevent", "grpc"):
            return "connection"
        return "other"

    def _call(self, fn: Callable[[Any], _T], what: str, retry: bool = True) -> _T:
        """``fn(client)`` with the error rules of the module docstring."""
        attempts = 1 + (self.retries if retry else 0)
        last: BaseException | None = None
        for attempt in range(attempts):
            client = self._client()
            try:
                return fn(client)
            except Exception as exc:
                kind = self._kind(exc)
                if kind == "other":
                    raise
                if kind == "server":
                    raise self._server_error(exc, what) from None
                self._drop_client()  # its connection is broken or stuck
                if kind == "timeout":
                    raise TimeoutError(
                        f"Triton server at {self.url} did not answer within {self.timeout_s:g} s "
                        f"({what}); raise timeout_s or check the server's load"
                    ) from exc
                last = exc
                if attempt + 1 < attempts:
                    logger.info("Triton %s: %s failed (%s); retrying once", self.url, what, exc)
                    time.sleep(0.1 * (attempt + 1))
        raise ConnectionError(
            f"Triton server at {self.url} is not reachable ({what}: {_describe(last)}); is "
            f"`cofin serve start` running there?"
        ) from last

    def _server_error(self, exc: Any, what: str) -> TritonServerError:
        status, message = str(exc.status() or ""), str(exc.message())
        cls = TritonRequestError if status in _REJECTED else TritonServerError
        verb = "rejected the request" if cls is TritonRequestError else "failed"
        return cls(f"Triton server at {self.url} {verb} ({what}): {message}", status, message)

    # ------------------------------------------------------------------ inference
    def infer(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """One raw request to :attr:`model`: arrays sent as they are (no checks here: the
        server's answer is the check), binary tensors.

        Returns:
            ``{output name: array}`` (every output of the model when ``outputs`` is None).
        """
        module, utils = self._client_module, self._utils
        binary = {"binary_data": True} if self.protocol == "http" else {}
        tensors = []
        for name, array in inputs.items():
            array = np.ascontiguousarray(array)
            tensor = module.InferInput(
                name, list(array.shape), utils.np_to_triton_dtype(array.dtype)
            )
            tensor.set_data_from_numpy(array, **binary)
            tensors.append(tensor)
        names = list(outputs) if outputs is not None else self._output_names()
        requested = [module.InferRequestedOutput(name, **binary) for name in names]
        timeout = {"client_timeout": self.timeout_s} if self.protocol == "grpc" else {}

        def send(client: Any) -> dict[str, np.ndarray]:
            result = client.infer(self.model, tensors, outputs=requested, **timeout)
            return {name: result.as_numpy(name) for name in names}

        return self._call(send, f"infer {self.model!r}")

    def _output_names(self) -> list[str]:
        return [f"scores_{name}" for name in self.heads]

    def run_all(self, frames: np.ndarray, boxes: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Every head's scores of ``frames`` from ONE ensemble run per ``max_batch`` clips.

        Args:
            frames: ``uint8 [B, T, S, S, 3]`` letterboxed clips.
            boxes: ``float32 [B, N, 4]`` for the detection head (``N >= 1``), or None: then
                the detection head's scores are left out.

        Returns:
            ``{head: scores}``: ``[B, C]`` per classification head, ``[B, N, C]`` for the
            detection head when ``boxes`` are given.
        """
        frames = check_frames(frames, self.preprocessing)
        detection = [n for n, s in self.heads.items() if s.task == "detection"]
        count = None
        if boxes is not None:
            if not detection:
                raise ValueError("boxes given, but the served model has no detection head")
            placeholder = np.empty((len(frames), 0, 0, 0), np.float32)  # the shared checks
            boxes = check_head_inputs(self.heads, detection[0], placeholder, boxes)
            count = boxes.shape[1]
        elif self._takes_boxes:  # the ensemble runs every step: one whole-input box per clip
            S = float(self.preprocessing.image_size)
            boxes = np.tile(np.array([0.0, 0.0, S, S], np.float32), (len(frames), 1, 1))
        padded = None if boxes is None else pad_boxes(boxes, self.box_buckets)
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(frames), self.max_batch):
            feeds = {"frames": frames[start : start + self.max_batch]}
            if padded is not None:
                feeds["boxes"] = padded[start : start + self.max_batch]
            for name, scores in self.infer(feeds).items():
                parts.setdefault(name[len("scores_") :], []).append(scores)
        scores = {name: np.concatenate(chunks) for name, chunks in parts.items()}
        for name in detection:
            if count is None:
                scores.pop(name, None)
            else:
                scores[name] = np.ascontiguousarray(scores[name][:, :count])
        return scores

    # ------------------------------------------------------------------ Backend
    def features(self, frames: np.ndarray) -> TritonClips:
        """A :class:`TritonClips` handle on the clips (nothing is sent yet; see the module)."""
        return TritonClips(check_frames(frames, self.preprocessing))

    def head(self, name: str, features: TritonClips, boxes: np.ndarray | None = None) -> np.ndarray:
        """See :meth:`cofin_sdk.backends.Backend.head`; ``features`` is a :class:`TritonClips`."""
        if not isinstance(features, TritonClips):
            raise TypeError(
                "TritonBackend.head takes what TritonBackend.features returned (a TritonClips "
                f"handle: the features stay on the server), got {type(features).__name__}"
            )
        placeholder = np.empty((len(features), 0, 0, 0), np.float32)
        boxes = check_head_inputs(self.heads, name, placeholder, boxes)
        root, rows = features.root, features.rows
        if boxes is None:
            if name not in root.cache:
                root.cache.update(self.run_all(root.frames))
            return root.cache[name][rows]
        if len(np.unique(rows)) != len(rows):  # repeated clips: run just these
            return self.run_all(root.frames[rows], boxes)[name]
        S = float(self.preprocessing.image_size)
        full = np.tile(
            np.array([0.0, 0.0, S, S], np.float32), (len(root.frames), boxes.shape[1], 1)
        )
        full[rows] = boxes  # (B_root, N, 4): the other clips get whole-input boxes
        scores = self.run_all(root.frames, full)
        root.cache.update(
            {k: v for k, v in scores.items() if self.heads[k].task == "classification"}
        )
        return scores[name][rows]

    def __repr__(self) -> str:
        return f"TritonBackend({self.url!r}, model={self.model!r}, timeout_s={self.timeout_s:g})"


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no answer"
    message = exc.message() if hasattr(exc, "message") and callable(exc.message) else str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
