"""The server's lifetime is its launcher's: a ``cofin serve start`` killed with SIGKILL (a
supervisor, the OOM killer, a CI timeout) takes its ``tritonserver``, the Python-backend
stubs and the temporary backend folder with it, and frees the ports; a server started from
a thread that then ends keeps running (PR_SET_PDEATHSIG would have killed it)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from serving.server import free_port

psutil = pytest.importorskip("psutil")

SERVER_NAMES = ("tritonserver", "triton_python_backend_stub")


def _wait_for_line(log: Path, text: str, process: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log.read_text(errors="replace")
        if text in content:
            return content
        assert process.poll() is None, f"the launcher exited with {process.returncode}:\n{content}"
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} after {timeout} s:\n{log.read_text(errors='replace')}")


def _name(process) -> str:
    """The executable's file name (``name()`` is cut at 15 characters)."""
    try:
        return Path(process.exe()).name
    except psutil.Error:
        return ""


def _server_processes(launcher_pid: int) -> list:
    """The tritonserver and stub processes under the launcher."""
    children = psutil.Process(launcher_pid).children(recursive=True)
    return [p for p in children if _name(p) in SERVER_NAMES]


def _alive(processes: list) -> list:
    alive = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
    return alive


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_a_sigkilled_launcher_takes_server_stubs_ports_and_folder_with_it(built, tmp_path):
    ports = {name: free_port() for name in ("http", "grpc", "metrics")}
    argv = ["serve", "start", str(built["repo"]), *(f"--{n}-port={p}" for n, p in ports.items())]
    code = f"import sys; from cofin_sdk.cli.main import main; sys.exit(main({argv!r}))"
    log = tmp_path / "launcher.log"
    with log.open("wb") as out:  # its own session: the SIGKILL below reaches only the launcher
        launcher = subprocess.Popen(
            [sys.executable, "-c", code], stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    processes: list = []
    backend_dir: Path | None = None
    try:
        _wait_for_line(log, "Triton ready", launcher, timeout=90)
        processes = _server_processes(launcher.pid)
        names = sorted(_name(p) for p in processes)
        assert names.count("tritonserver") == 1 and "triton_python_backend_stub" in names, names
        server = next(p for p in processes if _name(p) == "tritonserver")
        flags = dict(arg.split("=", 1) for arg in server.cmdline() if "=" in arg)
        backend_dir = Path(flags["--backend-directory"])
        assert backend_dir.is_dir() and all(_listening(p) for p in ports.values())

        os.kill(launcher.pid, signal.SIGKILL)
        killed = time.monotonic()
        launcher.wait(timeout=10)
        while time.monotonic() - killed < 5.0:
            busy = [p for p in ports.values() if _listening(p)]
            if not _alive(processes) and not busy and not backend_dir.exists():
                break
            time.sleep(0.1)
        alive = [f"{p.pid} {p.name()}" for p in _alive(processes)]
        assert not alive, f"still running 5 s after the launcher's SIGKILL: {alive}"
        assert not [p for p in ports.values() if _listening(p)], "a port is still served"
        assert not backend_dir.exists(), f"{backend_dir} was left behind"
    finally:  # a failing run must not leave its own orphans behind
        if launcher.poll() is None:
            os.kill(launcher.pid, signal.SIGKILL)
            launcher.wait(timeout=10)
        for process in _alive(processes):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        if backend_dir is not None:
            shutil.rmtree(backend_dir, ignore_errors=True)


def test_a_server_started_from_a_thread_outlives_the_thread(built, launch_server):
    started = []
    thread = threading.Thread(target=lambda: started.append(launch_server(built["repo"])))
    thread.start()
    thread.join(timeout=120)
    assert started, "the server did not start"
    server = started[0]
    try:
        time.sleep(1.5)  # PR_SET_PDEATHSIG tied to the ended thread would have fired by now
        signals = [line for line in server.lines if line.startswith("Signal (")]
        assert not signals, signals  # tritonserver logs every signal it gets at once
        assert server.process.poll() is None
        assert _listening(server.ports["--grpc-port"])
    finally:
        server.stop()
