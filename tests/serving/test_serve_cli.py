"""``cofin serve build`` / ``cofin serve start``: clear one-line errors before a server
starts, the server's own error lines when a model fails to load, Ctrl-C forwarding."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from cofin_sdk.cli.main import main
from serving.server import check_repository, free_port


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def ports() -> list[str]:
    return [f"--{name}-port={free_port()}" for name in ("http", "grpc", "metrics")]


def test_start_refuses_a_busy_port(built, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run(["serve", "start", str(built["repo"]), f"--grpc-port={port}"], capsys)
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(f"cofin serve: error: port {port} is in use (")
    assert f", pid {os.getpid()}); stop the process holding it or pass --grpc-port" in err


def test_start_on_the_port_of_a_running_server_names_it(built, server, capsys):
    port = server.ports["--http-port"]
    code, _, err = run(["serve", "start", str(built["repo"]), f"--http-port={port}"], capsys)
    assert code == 1 and err.count("\n") == 1, err
    assert f"port {port} is in use (tritonserver, pid " in err
    assert "or pass --http-port with a free port" in err


def test_start_refuses_missing_onnx_files(built, tmp_path, capsys):
    repo = tmp_path / "repo"
    shutil.copytree(built["repo"], repo)
    (repo / "cofin_head_ava" / "1" / "model.onnx").unlink()
    code, _, err = run(["serve", "start", str(repo), *ports()], capsys)
    assert code == 1
    assert "model 'cofin_head_ava'" in err and "model.onnx is missing" in err
    with pytest.raises(FileNotFoundError, match="no version folder"):
        shutil.rmtree(repo / "cofin_head_ava" / "1")
        check_repository(repo)


def test_a_model_that_fails_to_load_shows_the_servers_error(built, tmp_path, capsys):
    repo = tmp_path / "repo"
    shutil.copytree(built["repo"], repo)
    (repo / "cofin_head_ssv2" / "1" / "model.onnx").write_bytes(b"not an onnx graph")
    start = time.monotonic()
    code, _, err = run(["serve", "start", str(repo), *ports()], capsys)
    assert code == 1 and time.monotonic() - start < 60
    assert "tritonserver exited with code" in err
    assert (
        "failed to load 'cofin_head_ssv2'" in err and "INVALID_PROTOBUF" in err
    )  # the server's words
    assert "Traceback" not in err


def test_an_onnxruntime_repository_on_the_bundled_server_gets_a_hint(built, tmp_path, capsys):
    from serving.server import find_tritonserver

    if not find_tritonserver().bundled:
        pytest.skip("a tritonserver on PATH may have the onnxruntime backend")
    code, out, err = run(
        [
            "serve",
            "build",
            str(built["export"]),
            "--out",
            str(tmp_path / "repo"),
            "--max-inflight",
            "0",
        ],
        capsys,
    )
    assert code == 0 and "wrote Triton model repository" in out
    code, _, err = run(["serve", "start", str(tmp_path / "repo"), *ports()], capsys)
    assert code == 1
    assert "unable to find backend library for backend 'onnxruntime'" in err
    assert "--platform python" in err


# Bad input that needs no server (a folder that is no repository, bad build flags) is in
# tests/test_bad_input.py's table.


def test_start_prints_urls_and_stops_on_sigint(built):
    http, grpc, metrics = free_port(), free_port(), free_port()
    code = (
        "import sys; from cofin_sdk.cli.main import main; "
        f"sys.exit(main(['serve', 'start', {str(built['repo'])!r}, '--http-port={http}', "
        f"'--grpc-port={grpc}', '--metrics-port={metrics}']))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "client" in line:
                break
        text = "".join(lines)
        assert "Triton ready" in text, text + process.stderr.read()
        assert f"http://127.0.0.1:{http}" in text and f"grpc://127.0.0.1:{grpc}" in text
        assert f"http://127.0.0.1:{metrics}/metrics" in text
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert "Triton stopped (signal SIGINT)" in process.stderr.read()
        with socket.socket() as sock:  # the server is gone with it
            assert sock.connect_ex(("127.0.0.1", grpc)) != 0
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
