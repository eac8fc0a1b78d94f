"""Start a local ``tritonserver`` on a model repository, wait for its models, stop it.

Which binary: ``tritonserver`` on ``PATH`` if there is one (an NGC container, a local
build), else the one bundled in ``nvidia-pytriton`` (server 2.51, Python backend only).
The bundled one needs two fixes (ENVIRONMENT.md, "Triton Inference Server"):

* ``LD_LIBRARY_PATH`` starts with the running Python's ``LIBDIR``, or the Python
  backend's stub loads the system libpython and every Python model fails
  (``'_thread.RLock' object has no attribute '_recursion_count'``);
* a backend directory whose ``python/`` holds links to ``libtriton_python.so``,
  ``triton_python_backend_utils.py`` and the stub built for the running Python
  (nvidia-pytriton ships stubs per Python version outside ``backends/python``); it is a
  temporary folder, nothing is written into site-packages.

The server binds loopback by default and is stopped with SIGTERM (it then waits up to
``exit_timeout_s`` for in-flight requests and open HTTP connections), then SIGKILL.

**It dies with its launcher**, however the launcher ends (SIGKILL from a supervisor, the OOM
killer, a CI timeout). The launcher cannot clean up after SIGKILL, so something that
outlives it must: ``tritonserver`` runs under a small guard process (:mod:`serving._guard`,
standard library only) in a process group of its own. The guard's standard input is a pipe
whose write end only the launcher holds: end-of-file there means the launcher is gone, and
the guard sends SIGTERM, SIGKILL ``ORPHAN_GRACE_S`` later (an orphan gets no
``exit_timeout_s``: nobody owns its answers), waits for the Python-backend stubs (they exit
within about a second of their server; on Linux the guard is their subreaper) and removes the
temporary backend folder, which it alone owns. On Linux the server also gets
``PR_SET_PDEATHSIG`` = SIGKILL, so a SIGKILLed guard takes it along. PDEATHSIG is not used
between launcher and guard because it fires when the *thread* that forked the child ends: a
server started from a worker thread would die with that thread. The pipe belongs to the
process. Simpler designs fall short: PDEATHSIG alone leaves the backend folder behind, and
removing stale folders at the next start leaves them until someone starts a server again.

Example:
    >>> with TritonServer("repo", http_port=8000, grpc_port=8001) as server:  # doctest: +SKIP
    ...     print(server.grpc_url)
    grpc://127.0.0.1:8001
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from serving._guard import processes, remove_orphan_shm, shm_regions
from serving.ports import check_port_free, free_port

logger = logging.getLogger(__name__)

__all__ = [
    "TritonBinary",
    "TritonServer",
    "TritonStartError",
    "check_port_free",
    "check_repository",
    "find_tritonserver",
    "free_port",
]

ORPHAN_GRACE_S = 2.0  # SIGTERM -> SIGKILL for a server whose launcher is gone
_GUARD = Path(__file__).with_name("_guard.py")


def _group_running(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies hold no memory maps)."""
    return any(state != "Z" and group == pgid for _, state, _, group in processes())


_ERROR_LINE = re.compile(r"^E\d{4} ")
_HARMLESS = ("CudaDriverHelper", "cuda", "CUDA", "GPU metrics", "dcgm", "DCGM", "pinned memory")
_FILES = {
    "onnxruntime_onnx": ("model.onnx",),
    "onnxruntime": ("model.onnx",),
    "tensorrt_plan": ("model.plan",),
    "tensorrt": ("model.plan",),
    "python": ("model.py",),
}


class TritonStartError(ChildProcessError):
    """The server did not come up (exited, or a model did not get ready in time), or exited
    by itself later. An ``OSError``: the environment failed, not the caller's code.

    Attributes:
        lines: The server's own error lines (model load failures, bind errors).
    """

    def __init__(self, message: str, lines: list[str]) -> None:
        super().__init__(message)
        self.lines = lines


# --------------------------------------------------------------------------- checks
def _config_field(text: str, field: str) -> str | None:
    match = re.search(rf'^\s*{field}\s*:\s*"([^"]*)"', text, re.MULTILINE)
    return match.group(1) if match else None


def check_repository(repository: str | os.PathLike) -> list[str]:
    """The model names of a repository, after checking every model has its files.

    Checks what a server would otherwise report late or vaguely: a folder that is not a
    repository, a model without a version folder, a version folder without its model
    file (``model.onnx`` / ``model.plan`` / ``model.py``), a cofin Python model without
    the ``model.onnx`` it runs.

    Raises:
        FileNotFoundError: No such folder, or a model's files are missing (named).
        ValueError: A folder without any ``<model>/config.pbtxt``.
    """
    repo = Path(repository)
    if not repo.exists():
        raise FileNotFoundError(f"model repository not found: {repo}")
    if not repo.is_dir():
        raise ValueError(f"{repo} is a file, not a Triton model repository folder")
    models = sorted(p.name for p in repo.iterdir() if (p / "config.pbtxt").is_file())
    if not models:
        raise ValueError(
            f"{repo} is not a Triton model repository: no <model>/config.pbtxt in it (build one "
            "with `cofin serve build EXPORT_DIR --out REPO`)"
        )
    for name in models:
        folder = repo / name
        text = (folder / "config.pbtxt").read_text(encoding="utf-8", errors="replace")
        kind = _config_field(text, "platform") or _config_field(text, "backend") or ""
        versions = [p for p in folder.iterdir() if p.is_dir() and p.name.isdigit()]
        if not versions:
            raise FileNotFoundError(
                f"model {name!r} has no version folder ({folder}/1/); rebuild the repository"
            )
        needed = list(_FILES.get(kind, ()))
        filename = _config_field(text, "default_model_filename")
        if filename and needed:
            needed = [filename]
        if kind == "python" and "onnx_file" in text:  # a cofin Python model runs an ONNX graph
            match = re.search(r'key:\s*"onnx_file"\s*value\s*\{\s*string_value:\s*"([^"]+)"', text)
            needed.append(match.group(1) if match else "model.onnx")
        for version in versions:
            for file in needed:
                if not (version / file).exists():
                    raise FileNotFoundError(
                        f"model {name!r}: {version / file} is missing (a repository copied without "
                        "its graph files?); rebuild it with `cofin serve build`"
                    )
    return models


# --------------------------------------------------------------------------- binary
@dataclasses.dataclass
class TritonBinary:
    """A ``tritonserver`` executable and how to run it.

    Attributes:
        path: The executable.
        bundled: Whether it is nvidia-pytriton's (Python backend only).
        env: Extra environment variables.
        stub: The Python backend stub for the running Python (bundled server only).
        python_backend: Folder with ``libtriton_python.so`` (bundled server only).
    """

    path: Path
    bundled: bool
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    stub: Path | None = None
    python_backend: Path | None = None

    def make_backend_dir(self) -> Path | None:
        """A temporary backend directory with ``python/`` for the bundled server (or None)."""
        if not self.bundled:
            return None
        assert self.python_backend is not None and self.stub is not None
        root = Path(tempfile.mkdtemp(prefix="cofin_triton_backends_"))
        python = root / "python"
        python.mkdir()
        for source in (
            self.python_backend / "libtriton_python.so",
            self.python_backend / "triton_python_backend_utils.py",
            self.stub,
        ):
            (python / source.name).symlink_to(source)
        return root


def find_tritonserver() -> TritonBinary:
    """The ``tritonserver`` to run: on PATH, else nvidia-pytriton's bundled one.

    Raises:
        FileNotFoundError: Neither exists, or the bundled server has no Python backend stub
            for this Python version (names the install to do).
    """
    on_path = shutil.which("tritonserver")
    if on_path:
        return TritonBinary(Path(on_path), bundled=False)
    try:
        import pytriton
    except ImportError:
        raise FileNotFoundError(
            "no tritonserver on PATH and nvidia-pytriton is not installed: pip install "
            '"cofin-sdk[triton]" (bundles a CPU tritonserver with the Python backend), or run '
            "the NGC container (README, Serving)"
        ) from None
    root = Path(pytriton.__file__).parent / "tritonserver"
    binary = root / "bin" / "tritonserver"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not binary.is_file():
        raise FileNotFoundError(f"nvidia-pytriton has no tritonserver binary at {binary}")
    if not stub.is_file():
        have = sorted(p.name for p in (root / "python_backend_stubs").iterdir())
        raise FileNotFoundError(
            f"nvidia-pytriton has no Python backend stub for Python {version} (it has {have}); "
            "run cofin with one of those Python versions"
        )
    libdir = sysconfig.get_config_var("LIBDIR") or str(Path(sys.executable).parent.parent / "lib")
    paths = [libdir, *filter(None, os.environ.get("LD_LIBRARY_PATH", "").split(":"))]
    env = {
        "LD_LIBRARY_PATH": ":".join(paths),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    return TritonBinary(binary, True, env, stub, root / "backends" / "python")


# --------------------------------------------------------------------------- server
class TritonServer:
    """A ``tritonserver`` process on a model repository.

    Args:
        repository: The model repository (checked by :func:`check_repository`).
        host: Address of every endpoint (default loopback).
        http_port, grpc_port, metrics_port: Ports (checked free before starting).
        startup_timeout_s: How long to wait for every model to be ready.
        exit_timeout_s: How long the server waits on SIGTERM for in-flight requests and open
            HTTP connections (``--exit-timeout-secs``); SIGKILL follows 10 s later.
        echo: Also copy the server's log lines to stderr.
        extra_args: More ``tritonserver`` arguments.

    Raises:
        (from :meth:`start`) FileNotFoundError / ValueError: Bad repository or no binary;
        OSError: A busy port; TritonStartError: The server exited or a model did not get
        ready (with the server's own error lines).
    """

    def __init__(
        self,
        repository: str | os.PathLike,
        *,
        host: str = "127.0.0.1",
        http_port: int = 8000,
        grpc_port: int = 8001,
        metrics_port: int = 8002,
        startup_timeout_s: float = 120.0,
        exit_timeout_s: int = 30,
        echo: bool = False,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.repository = Path(repository)
        self.host = host
        self.ports = {
            "--http-port": http_port,
            "--grpc-port": grpc_port,
            "--metrics-port": metrics_port,
        }
        self.startup_timeout_s = startup_timeout_s
        if (
            isinstance(exit_timeout_s, bool)
            or not isinstance(exit_timeout_s, int)
            or exit_timeout_s < 0
        ):
            raise ValueError(f"exit_timeout_s={exit_timeout_s!r}: must be an int >= 0 (seconds)")
        self.exit_timeout_s = exit_timeout_s
        self.stop_timeout_s = exit_timeout_s + 10.0
        self.echo = echo
        self.extra_args = tuple(extra_args)
        self.models: list[str] = []
        self.binary: TritonBinary | None = None
        self.process: subprocess.Popen | None = None
        self.lines: collections.deque[str] = collections.deque(maxlen=5000)
        self._backend_dir: Path | None = None
        self._reader: threading.Thread | None = None

    # ------------------------------------------------------------------ URLs
    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.ports['--http-port']}"

    @property
    def grpc_url(self) -> str:
        return f"grpc://{self.host}:{self.ports['--grpc-port']}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.ports['--metrics-port']}/metrics"

    # ------------------------------------------------------------------ start
    def command(self) -> list[str]:
        assert self.binary is not None
        args = [str(self.binary.path), f"--model-repository={self.repository.resolve()}"]
        if self._backend_dir is not None:
            args.append(f"--backend-directory={self._backend_dir}")
        for flag in ("--http-address", "--grpc-address", "--metrics-address"):
            args.append(f"{flag}={self.host}")
        args += [f"{flag}={port}" for flag, port in self.ports.items()]
        args += ["--exit-on-error=true", "--strict-readiness=true", "--log-verbose=0"]
        args.append(f"--exit-timeout-secs={self.exit_timeout_s}")
        return args + list(self.extra_args)

    def start(self) -> TritonServer:
        """Starts the server and waits until it and every model are ready (see the class)."""
        if self.process is not None:
            raise RuntimeError("this TritonServer was already started")
        self.models = check_repository(self.repository)
        for flag, port in self.ports.items():
            check_port_free(self.host, port, flag)
        self.binary = find_tritonserver()
        self._backend_dir = self.binary.make_backend_dir()
        self._shm_before = shm_regions()  # what a SIGKILL leaves behind is removed by kill()
        env = {**os.environ, **self.binary.env}
        logger.debug("starting %s", " ".join(self.command()))
        self.process = subprocess.Popen(
            self._guarded(self.command()),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE,  # the guard's lifeline: end-of-file when this process ends
            env=env,
            start_new_session=True,  # its own process group: guard, server and stubs
        )
        self._reader = threading.Thread(target=self._read_log, name="tritonserver-log", daemon=True)
        self._reader.start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _guarded(self, command: list[str]) -> list[str]:
        """``command`` run under the guard (module docstring): it dies with this process."""
        guard = [sys.executable, "-I", str(_GUARD), f"--grace={ORPHAN_GRACE_S:g}"]  # stdlib only
        if self._backend_dir is not None:
            guard.append(f"--backend-dir={self._backend_dir}")
        return [*guard, "--", *command]

    def _read_log(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            self.lines.append(line)
            if self.echo:
                print(line, file=sys.stderr, flush=True)

    def _wait_ready(self) -> None:
        import tritonclient.http as http

        deadline = time.monotonic() + self.startup_timeout_s
        client = http.InferenceServerClient(
            f"{self.host}:{self.ports['--http-port']}", connection_timeout=2.0, network_timeout=2.0
        )
        try:
            pending = list(self.models)
            while True:
                if self.process.poll() is not None:  # type: ignore[union-attr]
                    self._reader.join(timeout=5)  # type: ignore[union-attr]
                    raise self._start_error(
                        f"tritonserver exited with code {self.process.returncode}"
                    )
                with contextlib.suppress(Exception):  # not listening yet
                    if client.is_server_live():
                        pending = [m for m in pending if not client.is_model_ready(m)]
                        if not pending and client.is_server_ready():
                            return
                if time.monotonic() > deadline:
                    raise self._start_error(
                        f"models {pending} were not ready after {self.startup_timeout_s:g} s"
                    )
                time.sleep(0.2)
        finally:
            client.close()

    def error_lines(self) -> list[str]:
        """The server's error messages so far, one line each: its ``E...`` log lines (without
        the log prefix and Python tracebacks), else its UNAVAILABLE model rows, and its
        final ``error:`` line."""
        errors, rows, final = [], [], []
        for line in self.lines:
            if _ERROR_LINE.match(line) and not any(word in line for word in _HARMLESS):
                message = line.split("] ", 1)[-1].strip().strip('"')
                message = message.split("\\n\\nAt:", 1)[0].replace("\\n", " ").strip()
                if message not in errors:
                    errors.append(message)
            elif line.startswith("|") and "UNAVAILABLE" in line:
                rows.append(" ".join(line.strip("| ").split()))
            elif line.startswith("error: "):
                final.append(line)
        return (errors or rows) + final

    def _start_error(self, what: str) -> TritonStartError:
        lines = self.error_lines() or list(self.lines)[-10:]
        message = f"{what} (repository {self.repository}):\n" + "\n".join(f"  {ln}" for ln in lines)
        text = "\n".join(lines)
        if "unable to find backend library" in text and self.binary and self.binary.bundled:
            message += (
                "\nhint: the tritonserver bundled in nvidia-pytriton has only the Python backend; "
                "build the repository with `cofin serve build ... --platform python`, or serve it "
                "with the NGC container (README, Serving)"
            )
        if "max_inflight_requests" in text or (
            "failed to read text proto" in text and self._has_max_inflight()
        ):
            message += (
                "\nhint: this server predates ensemble max_inflight_requests (Triton 25.10); "
                "rebuild with `--max-inflight 0`"
            )
        if "already in use" in text or "Address already" in text:
            message += (
                "\nhint: a port is busy; choose others with --http-port/--grpc-port/--metrics-port"
            )
        return TritonStartError(message, lines)

    def _has_max_inflight(self) -> bool:
        configs = self.repository.glob("*/config.pbtxt")
        return any("max_inflight_requests" in path.read_text(errors="replace") for path in configs)

    # ------------------------------------------------------------------ stop
    def send_signal(self, signum: int) -> None:
        """Sends ``signum`` to the server (its process group: guard, server and stubs)."""
        if self.process is not None and self.process.poll() is None:
            self._signal_group(signum)

    def _signal_group(self, signum: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL: the server vanishes at once (fault tests)."""
        if self.process is not None:
            self._signal_group(signal.SIGKILL)
            self.process.wait(timeout=30)
            self._remove_orphans()

    def _remove_orphans(self) -> None:
        """Shared-memory regions of the stubs a SIGKILL ended (nobody else removes them)."""
        deadline = time.monotonic() + 5.0
        while _group_running(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)  # SIGKILLed stubs unmap their regions as they die
        removed = remove_orphan_shm(getattr(self, "_shm_before", shm_regions()))
        if removed:
            logger.debug("removed %d shared-memory regions of the killed server", removed)

    def wait(self, timeout: float | None = None) -> int:
        """Waits for the server to exit; its exit code."""
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL 10 s after ``exit_timeout_s``; removes the temporary backend dir."""
        code = None
        if self.process is not None:
            if self.process.poll() is None:
                self.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    self.send_signal(signal.SIGKILL)
                    self.process.wait(timeout=30)
            # the stubs may outlive a SIGKILLed server for a moment: end its group
            self._signal_group(signal.SIGKILL)
            code = self.process.returncode
            self._remove_orphans()
            if self._reader is not None:
                self._reader.join(timeout=5)
            for pipe in (self.process.stdout, self.process.stdin):
                if pipe is not None:
                    with contextlib.suppress(OSError):  # a broken lifeline is fine now
                        pipe.close()
        if self._backend_dir is not None:
            shutil.rmtree(self._backend_dir, ignore_errors=True)
            self._backend_dir = None
        return code

    def __enter__(self) -> TritonServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "not started" if self.process is None else f"pid {self.process.pid}"
        return f"TritonServer({str(self.repository)!r}, {self.http_url}, {self.grpc_url}, {state})"
