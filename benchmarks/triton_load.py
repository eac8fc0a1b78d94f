"""Load benchmark of the Triton serving path against in-process onnxruntime (issue 11, item 5).

One run, side by side (STYLE.md rule 9): the same clips (one clip and 1-6 person boxes per
request) sent by 1, 2, 4 and 8 client threads for a fixed duration each

* to a real ``tritonserver`` on loopback (``cofin serve build --platform python`` +
  ``cofin serve start``: nvidia-pytriton's server here) through ``TritonBackend`` over gRPC
  and over HTTP: one ``cofin`` ensemble request per clip (backbone + every head);
* through ``OnnxBackend`` in this process with the same thread counts (``features`` then
  every head): the same ONNX graphs without serving.

It prints requests/s, p50/p90/p99 latency, errors, the ratio of each Triton row to the
in-process row at the same concurrency, and the mean batch the backbone's dynamic batcher
formed (from Triton's statistics). Bounded: ``--duration`` per cell, a per-request timeout,
loopback only, the server is stopped at the end.

The model is the quickstart's size (``training/configs/synthetic_tiny.py``: vivit_ti16_fe,
2 spatial + 1 temporal layers, 8 frames of 96 px, heads of the ``tiny`` synthetic data)
with random weights, unless ``--model`` names a ``save_pretrained`` folder.

Example::

    python benchmarks/triton_load.py                      # ~3 min on 2 cores
    python benchmarks/triton_load.py --duration 5 --concurrency 1,4
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def quickstart_model(folder: Path) -> Path:
    """A random-weight model of the quickstart's size, saved to ``folder``."""
    import torch

    from cofin_sdk import create_model
    from training.synth.presets import PRESETS

    tiny = PRESETS["tiny"]
    heads = {
        "ava": {"task": "detection", "num_classes": len(tiny.ava_classes)},
        "kinetics": {"task": "classification", "num_classes": len(tiny.kinetics_classes)},
        "ssv2": {"task": "classification", "num_classes": len(tiny.ssv2_templates)},
    }
    torch.manual_seed(0)
    model = create_model(
        "vivit_ti16_fe", spatial_depth=2, temporal_depth=1, num_frames=8, image_size=96, heads=heads
    )
    model.save_pretrained(folder)
    return folder


IN_PROCESS_NO_SPIN = "onnxruntime, no spinning"


def no_spin_sessions(export_dir: Path) -> dict[str, Any]:
    """The export's graphs in plain onnxruntime sessions whose idle threads do not spin
    (what the Python-backend models use): ``{"backbone": session, head: session}``."""
    import json

    import onnxruntime as ort

    manifest = json.loads((export_dir / "cofin_export.json").read_text())
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    files = {"backbone": manifest["backbone"]["file"]}
    files.update({head: entry["file"] for head, entry in manifest["heads"].items()})
    return {
        name: ort.InferenceSession(
            str(export_dir / file), options, providers=["CPUExecutionProvider"]
        )
        for name, file in files.items()
    }


def make_requests(prep: Any, count: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` requests: ``uint8 [1, T, S, S, 3]`` clip and ``float32 [1, N, 4]`` boxes, N in 1..6."""
    rng = np.random.default_rng(seed)
    T, S = prep.num_frames, prep.image_size
    requests = []
    for _ in range(count):
        frames = rng.integers(0, 256, (1, T, S, S, 3), dtype=np.uint8)
        n = int(rng.integers(1, 7))
        xy = rng.uniform(0, S * 0.6, (1, n, 2))
        wh = rng.uniform(4, S * 0.4, (1, n, 2))
        requests.append((frames, np.concatenate([xy, xy + wh], -1).astype(np.float32)))
    return requests


def load(call: Callable[[int], Any], threads: int, duration: float) -> dict[str, Any]:
    """``threads`` threads calling ``call(i)`` for ``duration`` s: rate, latency, errors."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    first_error: list[str] = []
    start_at = time.perf_counter() + 0.05
    end_at = start_at + duration

    def worker(t: int) -> None:
        i = t
        while time.perf_counter() < start_at:
            time.sleep(0.001)
        while time.perf_counter() < end_at:
            begin = time.perf_counter()
            try:
                call(i)
            except Exception as exc:  # counted and reported, the load goes on
                errors[t] += 1
                if not first_error:
                    first_error.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies[t].append(time.perf_counter() - begin)
            i += threads

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=duration + 120)  # a request has its own timeout; never hang here
    elapsed = max(time.perf_counter(), end_at) - start_at
    done = sorted(x for per in latencies for x in per)

    def pct(q: float) -> float:
        return 1e3 * done[min(len(done) - 1, int(q * len(done)))] if done else float("nan")

    return {
        "rps": len(done) / elapsed,
        "p50": pct(0.50),
        "p90": pct(0.90),
        "p99": pct(0.99),
        "errors": sum(errors),
        "first_error": first_error[0] if first_error else "",
        "requests": len(done),
    }


class BatchStats:
    """Mean batch the backbone executed between two snapshots (Triton's statistics)."""

    def __init__(self, url: str) -> None:
        import tritonclient.grpc as grpc

        self.client = grpc.InferenceServerClient(url.removeprefix("grpc://"))

    def snapshot(self) -> tuple[int, int]:
        stats = self.client.get_inference_statistics("cofin_backbone", as_json=True)
        model = stats["model_stats"][0]
        return int(model.get("inference_count", 0)), int(model.get("execution_count", 0))

    @staticmethod
    def mean(before: tuple[int, int], after: tuple[int, int]) -> float:
        clips, runs = after[0] - before[0], after[1] - before[1]
        return clips / runs if runs else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", type=Path, help="save_pretrained folder (default: quickstart size, random)"
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds per cell (default 10)"
    )
    parser.add_argument("--concurrency", default="1,2,4,8", help="client thread counts")
    parser.add_argument("--protocols", default="grpc,http")
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--delay-us", type=int, default=1000, help="dynamic batching delay")
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout (s)")
    args = parser.parse_args()
    if not 0 < args.duration <= 120:
        parser.error("--duration must be in (0, 120] seconds")
    threads = [int(c) for c in args.concurrency.split(",")]
    if any(not 1 <= c <= 32 for c in threads):
        parser.error("--concurrency values must be 1..32")
    protocols = [p for p in args.protocols.split(",") if p]

    from cofin_sdk.backends import OnnxBackend, TritonBackend
    from cofin_sdk.export import export
    from serving.repository import build_repository
    from serving.server import TritonServer, free_port

    with tempfile.TemporaryDirectory(prefix="cofin_triton_load_") as tmp:
        root = Path(tmp)
        model = args.model or quickstart_model(root / "model")
        export(model, root / "export", progress=False)
        build_repository(
            root / "export",
            root / "repo",
            platform="python",
            max_batch=args.max_batch,
            instances=args.instances,
            dynamic_batching_delay_us=args.delay_us,
        )
        onnx = OnnxBackend(root / "export", providers=["CPUExecutionProvider"])
        requests = make_requests(onnx.preprocessing, 64)
        heads = list(onnx.heads)

        def in_process(i: int) -> None:
            frames, boxes = requests[i % len(requests)]
            features = onnx.features(frames)
            for head in heads:
                onnx.head(head, features, boxes if onnx.heads[head].task == "detection" else None)

        quiet = no_spin_sessions(root / "export")

        def in_process_no_spin(i: int) -> None:
            frames, boxes = requests[i % len(requests)]
            (features,) = quiet["backbone"].run(["features"], {"frames": frames})
            for head in heads:
                feeds = {"features": features}
                if onnx.heads[head].task == "detection":
                    feeds["boxes"] = boxes
                quiet[head].run(["scores"], feeds)

        server = TritonServer(
            root / "repo",
            http_port=free_port(),
            grpc_port=free_port(),
            metrics_port=free_port(),
            exit_timeout_s=2,
        )
        with server:
            backends = {
                p: TritonBackend(
                    server.grpc_url if p == "grpc" else server.http_url, timeout_s=args.timeout
                )
                for p in protocols
            }
            stats = BatchStats(server.grpc_url)
            calls: dict[str, Callable[[int], Any]] = {
                "onnxruntime in-process": in_process,
                IN_PROCESS_NO_SPIN: in_process_no_spin,
            }
            for protocol, backend in backends.items():
                calls[f"triton {protocol}"] = lambda i, b=backend: b.run_all(
                    *requests[i % len(requests)]
                )
            for call in calls.values():  # warm-up, not timed
                for i in range(8):
                    call(i)
            rows = []
            for k, c in enumerate(threads):
                names = list(calls)
                names = names[k % len(names) :] + names[: k % len(names)]  # rotate the order
                for name in names:
                    before = stats.snapshot()
                    result = load(calls[name], c, args.duration)
                    triton = name.startswith("triton")
                    result["batch"] = BatchStats.mean(before, stats.snapshot()) if triton else None
                    rows.append((name, c, result))
                    print(f"  {name:24s} c={c}: {result['rps']:.1f} req/s", flush=True)
            for backend in backends.values():
                backend.close()
            stats.client.close()
    report(rows, args)


def report(rows: list[tuple[str, int, dict[str, Any]]], args: argparse.Namespace) -> None:
    base = {c: r["rps"] for name, c, r in rows if name == "onnxruntime in-process"}
    quiet = {c: r["rps"] for name, c, r in rows if name == IN_PROCESS_NO_SPIN}
    print(
        f"\nduration {args.duration:g} s per cell, max_batch {args.max_batch}, dynamic batching delay "
        f"{args.delay_us} us, {args.instances} instance(s) per model\n"
    )
    print(
        "| path | concurrency | req/s | p50 ms | p90 ms | p99 ms | errors | backbone batch "
        "| vs OnnxBackend | vs no-spin ORT |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    order = {"onnxruntime in-process": 0, IN_PROCESS_NO_SPIN: 1}
    for name, c, r in sorted(rows, key=lambda row: (order.get(row[0], 2), row[0], row[1])):
        ratios = [r["rps"] / ref[c] if ref.get(c) else float("nan") for ref in (base, quiet)]
        batch = "" if r["batch"] is None else f"{r['batch']:.2f}"
        print(
            f"| {name} | {c} | {r['rps']:.1f} | {r['p50']:.1f} | {r['p90']:.1f} | {r['p99']:.1f} | "
            f"{r['errors']} | {batch} | {ratios[0]:.2f} | {ratios[1]:.2f} |"
        )
    for name, c, r in rows:
        if r["errors"]:
            print(f"first error of {name} c={c}: {r['first_error']}")
    for name in sorted({row[0] for row in rows if row[0].startswith("triton")}):
        one = next((r["rps"] for n, c, r in rows if n == name and c == 1), None)
        best = max((r["rps"], c) for n, c, r in rows if n == name)
        if one:
            print(
                f"{name}: best {best[0]:.1f} req/s at concurrency {best[1]} = {best[0] / one:.2f}x concurrency 1"
            )


if __name__ == "__main__":
    main()
