"""Faults, never hangs: a server killed mid-video, restarted, stopped (SIGSTOP: no answer),
or absent gives a clear error within the timeout; after a restart the next call succeeds.
gRPC and HTTP clients run side by side on the same server."""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest

from cofin_sdk import Detector
from cofin_sdk.backends import TritonBackend
from serving._guard import _mapped_shm, shm_regions
from serving.server import free_port

PROTOCOLS = ["grpc", "http"]
TIMEOUT = 5.0


def url(server, protocol: str) -> str:
    return server.grpc_url if protocol == "grpc" else server.http_url


def ports(server) -> tuple[int, int, int]:
    return tuple(server.ports[f"--{name}-port"] for name in ("http", "grpc", "metrics"))


def _stream_until_error(
    detector: Detector, video: np.ndarray, outcome: dict, started: threading.Event
) -> None:
    infer = detector.backend.infer

    def counting(inputs, outputs=None):
        started.set()
        return infer(inputs, outputs)

    detector.backend.infer = counting
    try:
        for _ in range(50):  # bounded: 20 requests per pass
            detector.detect(video, fps=25, every=0.5, boxes=[[4, 4, 40, 40]])
    except BaseException as exc:
        outcome["error"], outcome["at"] = exc, time.monotonic()


def test_kill_mid_video_restart_and_stale_connections(built, launch_server, random_inputs):
    regions_before = shm_regions()
    servers = [launch_server(built["repo"])]
    try:
        first = servers[0]
        detectors = {
            p: Detector.from_triton(url(first, p), timeout_s=TIMEOUT, batch_size=1, progress=False)
            for p in PROTOCOLS
        }
        video = np.random.default_rng(0).integers(0, 256, (250, 48, 64, 3), dtype=np.uint8)  # 10 s
        outcomes = {p: {} for p in PROTOCOLS}
        started = {p: threading.Event() for p in PROTOCOLS}
        threads = [
            threading.Thread(
                target=_stream_until_error, args=(detectors[p], video, outcomes[p], started[p])
            )
            for p in PROTOCOLS
        ]
        for thread in threads:
            thread.start()
        assert all(started[p].wait(30) for p in PROTOCOLS), outcomes
        time.sleep(0.3)  # requests in flight
        killed = time.monotonic()
        first.kill()
        # a SIGKILLed Python backend leaves its shared memory; kill() removes it
        assert not shm_regions() - regions_before - _mapped_shm()
        for thread in threads:
            thread.join(timeout=TIMEOUT * 3)
            assert not thread.is_alive(), "a client hung after the server died"
        for protocol, outcome in outcomes.items():
            error = outcome["error"]
            assert isinstance(error, ConnectionError), (protocol, repr(error))
            assert f"Triton server at {detectors[protocol].backend.url} is not reachable" in str(
                error
            )
            assert outcome["at"] - killed < TIMEOUT, protocol

        servers.append(launch_server(built["repo"], ports(first)))  # restart on the same ports
        frames, boxes = random_inputs(0, 2, 3)
        before = {}
        for protocol, detector in detectors.items():
            result = detector.detect(video[:50], fps=25, every=1.0, boxes=[[4, 4, 40, 40]])
            assert len(result) == 2, protocol
            before[protocol] = detector.backend.run_all(frames, boxes)

        servers[-1].stop()  # graceful: the clients' connections go stale
        servers.append(launch_server(built["repo"], ports(first)))
        for protocol, detector in detectors.items():
            after = detector.backend.run_all(frames, boxes)  # stale -> one fresh retry
            for head, scores in before[protocol].items():
                np.testing.assert_array_equal(after[head], scores)

        no_retry = {
            p: TritonBackend(url(first, p), timeout_s=TIMEOUT, retries=0) for p in PROTOCOLS
        }
        servers[-1].stop()
        for protocol, backend in no_retry.items():
            start = time.monotonic()
            with pytest.raises(ConnectionError, match="is not reachable"):
                backend.run_all(frames, boxes)
            assert time.monotonic() - start < TIMEOUT, protocol
    finally:
        for server in servers:
            server.stop()


def test_a_server_that_does_not_answer_times_out(server, random_inputs):
    backends = {p: TritonBackend(url(server, p), timeout_s=1.0) for p in PROTOCOLS}
    frames, _ = random_inputs(0, 1, 0)
    for backend in backends.values():
        backend.run_all(frames)
    server.send_signal(signal.SIGSTOP)  # still listening, never answering
    try:
        for protocol, backend in backends.items():
            start = time.monotonic()
            with pytest.raises(TimeoutError, match="did not answer within 1 s"):
                backend.run_all(frames)
            assert time.monotonic() - start < 4, protocol
    finally:
        server.send_signal(signal.SIGCONT)
    for backend in backends.values():  # a fresh client afterwards
        assert set(backend.run_all(frames)) == {"kinetics", "ssv2"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_server_is_a_connection_error(protocol):
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="is not reachable"):
        TritonBackend(f"{protocol}://127.0.0.1:{free_port()}", timeout_s=TIMEOUT)
    assert time.monotonic() - start < TIMEOUT
