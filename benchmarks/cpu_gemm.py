"""CPU GEMM ceiling of the export benchmark (issue 21, item 3): ViViT-B's four Linear shapes
in torch eager (MKL) vs onnxruntime (MLAS) fp32 vs onnxruntime dynamic int8, side by side.

ViViT-B's backbone is ~96 % Linear FLOPs (``vivit_fe_flops``), so what a graph runtime can
win over torch eager on a CPU is bounded by how fast each side multiplies these matrices.
One "block" = the four MatMuls of a spatial transformer block at batch 1 (32 frames ->
16 x 197 = 3152 tokens): qkv 768->2304, proj 768->768, fc1 768->3072, fc2 3072->768, on
LayerNorm-like (standard normal) and GELU-like inputs. int8 schemes are the export's
(:data:`cofin_sdk.export.format.INT8`, 7-bit weights) and the same with full 8-bit weights,
built by :func:`cofin_sdk.export.onnx.quantize_int8`; "rel err" is max |y - y_fp32| over
max |y_fp32|, the worst of the four outputs. Rounds interleave the backends (order
rotating); medians. Same thread count for torch and onnxruntime (inter-op 1, no spinning,
as ``OnnxBackend``).

Example::

    python benchmarks/cpu_gemm.py                 # 2 threads, 7 rounds, ~1 min idle
    python benchmarks/cpu_gemm.py --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from cofin_sdk.export.format import INT8
from cofin_sdk.export.onnx import quantize_int8

SHAPES = {"qkv": (768, 2304), "proj": (768, 768), "fc1": (768, 3072), "fc2": (3072, 768)}
SCHEMES = {
    "ort int8 (export: 7-bit weights)": INT8,
    "ort int8 8-bit weights": {**INT8, "reduce_range": False},
}


def block_graph(tokens: int, weights: dict[str, np.ndarray]) -> object:
    """An ONNX graph of the four MatMuls (inputs ``x768`` and ``x3072``, one output each)."""
    from onnx import TensorProto, helper, numpy_helper

    def value(name: str, width: int) -> object:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [tokens, width])

    nodes = [
        helper.make_node("MatMul", [f"x{k}", f"w_{n}"], [f"y_{n}"]) for n, (k, _) in SHAPES.items()
    ]
    graph = helper.make_graph(
        nodes,
        "vivit_b_block_matmuls",
        [value("x768", 768), value("x3072", 3072)],
        [value(f"y_{n}", m) for n, (_, m) in SHAPES.items()],
        [numpy_helper.from_array(w, f"w_{n}") for n, w in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 10
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=16 * 197, help="rows (tokens) per MatMul")
    args = parser.parse_args()
    import onnx
    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    weights = {
        n: (rng.standard_normal((k, m)) / np.sqrt(k)).astype(np.float32)
        for n, (k, m) in SHAPES.items()
    }
    x768 = rng.standard_normal((args.tokens, 768)).astype(np.float32)
    x3072 = torch.nn.functional.gelu(
        torch.randn(args.tokens, 3072, generator=torch.Generator().manual_seed(0))
    ).numpy()
    feeds = {"x768": x768, "x3072": x3072}
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    runners: dict[str, Callable[[], list[np.ndarray]]] = {}
    tw = {n: torch.from_numpy(w) for n, w in weights.items()}
    tx = {k: torch.from_numpy(v) for k, v in feeds.items()}

    def torch_block() -> list[np.ndarray]:
        with torch.inference_mode():
            return [torch.mm(tx[f"x{k}"], tw[n]).numpy() for n, (k, _) in SHAPES.items()]

    runners["torch eager fp32 (MKL)"] = torch_block
    with tempfile.TemporaryDirectory(prefix="cofin_bench_gemm_") as tmp:
        fp32 = Path(tmp) / "block.onnx"
        onnx.save(block_graph(args.tokens, weights), fp32)
        paths = {"ort fp32 (MLAS)": fp32}
        for i, (label, scheme) in enumerate(SCHEMES.items()):
            paths[label] = Path(tmp) / f"block.int8.{i}.onnx"
            quantize_int8(fp32, paths[label], scheme)
        for label, path in paths.items():
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            runners[label] = lambda s=session: s.run(None, feeds)
    names = list(runners)
    times: dict[str, list[float]] = {n: [] for n in names}
    outputs: dict[str, list[np.ndarray]] = {}
    for r in range(args.rounds + 1):  # round 0 warms up
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            outputs[name] = runners[name]()
            if r:
                times[name].append(time.perf_counter() - start)
    flops = 2 * args.tokens * sum(k * m for k, m in SHAPES.values())
    base, ref = statistics.median(times[names[0]]), outputs["ort fp32 (MLAS)"]
    print(
        f"torch {torch.__version__}, onnxruntime {ort.__version__}, {args.threads} threads, "
        f"{args.rounds} rounds; one block = {flops / 1e9:.1f} GFLOP"
    )
    print("| backend | ms / block | GFLOP/s | vs torch | rel err vs fp32 |")
    print("|---|---|---|---|---|")
    for name in names:
        t = statistics.median(times[name])
        err = max(float(np.abs(o - f).max() / np.abs(f).max()) for o, f in zip(outputs[name], ref))
        print(f"| {name} | {1e3 * t:.1f} | {flops / t / 1e9:.1f} | {base / t:.2f}x | {err:.1e} |")


if __name__ == "__main__":
    main()
