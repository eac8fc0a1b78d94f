"""Forward-pass benchmark of the ViViT Factorised Encoder (issue 2, item 8).

Prints, in one run, figures measured side by side (STYLE.md rule 9):

(a) our spatial encoder vs timm's ViT holding THE SAME weights (``init_from_vit`` of a
    randomly initialised timm ViT) on the same frames: median time per frame batch of
    each (repetitions interleaved, order alternating), the ratio ours/timm (target
    <= 1.0) and the max abs difference of the outputs (~1e-5: same computation).
(b) ViViT-B FE ``forward_features`` at 16 x 224^2, batch 1: achieved FLOP/s divided by
    the FLOP/s of a large square matmul timed in the same run, interleaved with the
    model (= MFU, target >= 0.6). FLOPs are counted analytically
    (:func:`vivit_fe_flops`) and cross-checked with ``FlopCounterMode``.

``--profile`` adds a torch.profiler table of one forward and a per-component
breakdown (one spatial block, one temporal block, the big Linears alone) measured
against the same matmul reference, to see what bounds the MFU.

Timings on a shared CPU are noisy: every figure is a median over interleaved
repetitions, and only ratios measured in the same run are meaningful.

Example (defaults finish in a few minutes on 2 CPU cores)::

    python benchmarks/model_forward.py
    python benchmarks/model_forward.py --vit tiny --dtype bf16 --profile
    python benchmarks/model_forward.py --device cuda --reps 20
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from cofin_sdk import create_model, init_from_vit
from cofin_sdk.models.config import ViViTConfig

VITS = {  # --vit choice -> (timm model, ViViT variant with the same width/heads/depth)
    "base": ("vit_base_patch16_224", "vivit_b16_fe"),
    "tiny": ("vit_tiny_patch16_224", "vivit_ti16_fe"),
}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


# ----------------------------------------------------------------------------- FLOPs
def vivit_fe_flops(
    config: ViViTConfig, batch: int, num_frames: int, image_size: int
) -> dict[str, int]:
    """Analytic FLOPs of ``ViViT.forward_features`` (FLOPs = 2 x multiply-accumulates).

    Counts every matmul-like op: the tubelet Conv3d, the Linears (qkv, proj, fc1, fc2)
    and the two attention matmuls (Q K^T and softmax(.) V). Bias adds, LayerNorm,
    GELU, softmax, residual adds and position-embedding adds are O(tokens x D) and are
    left out, as in the usual ViT GFLOPs figures and in ``FlopCounterMode``.

    Returns:
        ``{"patch_embed", "spatial", "temporal", "total"}`` in FLOPs.
    """
    C, D = config.in_chans, config.embed_dim
    tt, ph, pw = config.tubelet_size
    t, h, w = num_frames // tt, image_size // ph, image_size // pw
    N = h * w  # spatial tokens per tubelet slice
    hidden = int(D * config.mlp_ratio)
    # Conv3d with stride == kernel: each of the B*t*N output tokens is a (C*tt*ph*pw -> D) dot.
    patch_embed = 2 * batch * t * N * (C * tt * ph * pw) * D

    def block_flops(num_sequences: int, seq_len: int) -> int:
        tokens = num_sequences * seq_len
        linear = 2 * tokens * (D * 3 * D + D * D + 2 * D * hidden)  # qkv, proj, fc1, fc2
        attention = 2 * num_sequences * 2 * seq_len * seq_len * D  # QK^T and AV, all heads
        return linear + attention

    spatial_len = N + (1 if config.class_token else 0)
    spatial = config.spatial_depth * block_flops(
        batch * t, spatial_len
    )  # one sequence per tubelet slice
    temporal = config.temporal_depth * block_flops(
        batch * N, t
    )  # one length-t sequence per position
    return {
        "patch_embed": patch_embed,
        "spatial": spatial,
        "temporal": temporal,
        "total": patch_embed + spatial + temporal,
    }


def counted_flops(fn: Callable[[], Any]) -> tuple[int, int]:
    """FLOPs of ``fn()`` by ``FlopCounterMode``: (default SDPA kernel, SDPA forced to MATH).

    The CPU fused attention kernel (``_scaled_dot_product_flash_attention_for_cpu``) has
    no FLOP formula registered, so the default count misses attention on CPU; with the
    MATH backend SDPA decomposes into counted bmm's (same arithmetic).
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as default:
        fn()
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as math:
        fn()
    return default.get_total_flops(), math.get_total_flops()


# ----------------------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_medians(
    fns: dict[str, Callable[[], Any]], reps: int, warmup: int, device: torch.device
) -> dict[str, float]:
    """Median seconds per call of each function, repetitions interleaved.

    Each repetition runs every function once, in an order that rotates, so a slow
    period of the shared machine hits all sides alike.
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            start = time.perf_counter()
            fns[name]()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def matmul_fn(size: int, dtype: torch.dtype, device: torch.device) -> Callable[[], Tensor]:
    """A ``size x size @ size x size`` matmul in ``dtype``: the peak-FLOP/s reference."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(device, dtype)
    b = torch.randn(size, size, generator=gen).to(device, dtype)
    return lambda: a @ b


def maybe_compile(fn: Callable, enabled: bool) -> Callable:
    return torch.compile(fn) if enabled else fn


# ----------------------------------------------------------------------------- (a)
def build_pair(
    vit: str, num_frames: int, image_size: int, device: torch.device
) -> tuple[nn.Module, nn.Module]:
    """A randomly initialised timm ViT and our ViViT whose spatial encoder holds its weights."""
    import timm

    timm_name, vivit_name = VITS[vit]
    torch.manual_seed(0)
    reference = timm.create_model(timm_name, pretrained=False).eval()
    ours = create_model(vivit_name, num_frames=num_frames, image_size=image_size).eval()
    report = init_from_vit(ours, reference.state_dict(), tubelet_init="central_frame")
    if report.unexpected_keys != ["head.bias", "head.weight"]:
        raise RuntimeError(f"timm weights did not map cleanly: unused {report.unexpected_keys}")
    return reference.to(device), ours.to(device)


def bench_spatial_vs_timm(
    args: argparse.Namespace, device: torch.device, dtype: torch.dtype
) -> None:
    frames = args.frames
    tt = 2  # vivit_*16_fe tubelet 2x16x16: one spatial slice per 2 input frames
    reference, ours = build_pair(args.vit, tt * frames, args.image_size, device)
    gen = torch.Generator().manual_seed(1)
    video = torch.randn(1, 3, tt * frames, args.image_size, args.image_size, generator=gen).to(
        device
    )
    # central_frame inflation: tubelet i sees only frame 2i+1, so timm gets exactly those frames.
    images = video[0, :, 1::tt].transpose(0, 1).contiguous()  # (frames, 3, H, W)

    ours_fn = maybe_compile(ours.forward_spatial, args.compile)
    timm_fn = maybe_compile(reference.forward_features, args.compile)
    with torch.inference_mode(), autocast(device, dtype):
        diff = (ours_fn(video).float() - timm_fn(images).float()).abs().max().item()
        med = interleaved_medians(
            {"ours": lambda: ours_fn(video), "timm": lambda: timm_fn(images)},
            args.reps,
            args.warmup,
            device,
        )
    spatial_flops = vivit_fe_flops(ours.config, 1, tt * frames, args.image_size)
    print(
        f"\n(a) spatial encoder vs timm {VITS[args.vit][0]}, same weights, {frames} frames "
        f"x {args.image_size}^2, {args.dtype}, median of {args.reps} interleaved reps"
    )
    for name in ("ours", "timm"):
        print(f"    {name:4s} forward: {med[name] * 1e3:9.1f} ms per {frames}-frame batch")
    print(f"    ratio ours/timm: {med['ours'] / med['timm']:.3f}   (target <= 1.0)")
    print(
        f"    max |ours - timm| on the output tokens: {diff:.2e}   "
        "(same computation: <= ~1e-5 in fp32; 0 = bitwise identical kernels)"
    )
    print(
        f"    note: our Conv3d tubelet embedding is 2 frames deep ({spatial_flops['patch_embed'] / 1e9:.2f} "
        "GFLOP, half of it on the zero weights of central_frame inflation); timm embeds 1 frame"
    )


# ----------------------------------------------------------------------------- (b)
def bench_mfu(args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    model = (
        create_model("vivit_b16_fe", num_frames=args.num_frames, image_size=args.image_size)
        .eval()
        .to(device)
    )
    gen = torch.Generator().manual_seed(2)
    video = torch.randn(1, 3, args.num_frames, args.image_size, args.image_size, generator=gen).to(
        device
    )
    forward = maybe_compile(model.forward_features, args.compile)
    matmul = matmul_fn(args.matmul_size, dtype, device)

    analytic = vivit_fe_flops(model.config, 1, args.num_frames, args.image_size)
    with torch.inference_mode(), autocast(device, dtype):
        counted_default, counted_math = counted_flops(lambda: model.forward_features(video))
        med = interleaved_medians(
            {"model": lambda: forward(video), "matmul": matmul}, args.mfu_reps, args.warmup, device
        )
    matmul_flops = 2 * args.matmul_size**3
    peak = matmul_flops / med["matmul"]
    achieved = analytic["total"] / med["model"]
    print(
        f"\n(b) vivit_b16_fe forward_features, batch 1, {args.num_frames} x {args.image_size}^2, {args.dtype}, "
        f"median of {args.mfu_reps} interleaved reps"
    )
    print(
        f"    FLOPs analytic : {analytic['total'] / 1e9:8.2f} G  (patch {analytic['patch_embed'] / 1e9:.2f}, "
        f"spatial {analytic['spatial'] / 1e9:.2f}, temporal {analytic['temporal'] / 1e9:.2f})"
    )
    print(
        f"    FLOPs counted  : {counted_math / 1e9:8.2f} G  (FlopCounterMode, SDPA as MATH; "
        f"default CPU kernel counts {counted_default / 1e9:.2f} G: fused attention has no formula)"
    )
    print(f"    model forward  : {med['model'] * 1e3:9.1f} ms -> {achieved / 1e9:7.1f} GFLOP/s")
    print(
        f"    matmul {args.matmul_size}^3   : {med['matmul'] * 1e3:9.1f} ms -> {peak / 1e9:7.1f} GFLOP/s "
        f"({args.dtype})"
    )
    print(f"    MFU = {achieved / peak:.3f}   (target >= 0.6)")
    if args.profile:
        profile_model(model, video, device, dtype, args)


# ----------------------------------------------------------------------------- --profile
def profile_model(
    model: nn.Module,
    video: Tensor,
    device: torch.device,
    dtype: torch.dtype,
    args: argparse.Namespace,
) -> None:
    """Where the time goes: op table of one forward, then per-component FLOP/s vs the matmul."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.inference_mode(), autocast(device, dtype):
        model.forward_features(video)
        with profile(activities=activities) as prof:
            model.forward_features(video)
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print("\n    torch.profiler, one forward, top ops by self time:")
    print(prof.key_averages().table(sort_by=sort, row_limit=12, max_name_column_width=48))

    cfg = model.config
    D, hidden = cfg.embed_dim, int(cfg.embed_dim * cfg.mlp_ratio)
    t, h, w = args.num_frames // cfg.tubelet_size[0], args.image_size // 16, args.image_size // 16
    spatial_x = torch.randn(t, h * w + 1, D, device=device)  # (B*t, 1+N, D)
    temporal_x = torch.randn(h * w, t, D, device=device)  # (B*N, t, D)
    tokens = spatial_x.reshape(-1, D)
    fc1 = model.spatial_blocks[0].mlp.fc1
    sblock, tblock = model.spatial_blocks[0], model.temporal_blocks[0]
    block_cost = {  # analytic FLOPs of one block (depth 1 of vivit_fe_flops' formula)
        "spatial": vivit_fe_flops(_one_block(cfg, 1, 0), 1, args.num_frames, args.image_size)[
            "spatial"
        ],
        "temporal": vivit_fe_flops(_one_block(cfg, 0, 1), 1, args.num_frames, args.image_size)[
            "temporal"
        ],
    }
    fns = {
        "spatial block": lambda: sblock(spatial_x),
        "temporal block": lambda: tblock(temporal_x),
        "fc1 Linear": lambda: fc1(tokens),
        "matmul": matmul_fn(args.matmul_size, dtype, device),
    }
    flops = {
        "spatial block": block_cost["spatial"],
        "temporal block": block_cost["temporal"],
        "fc1 Linear": 2 * tokens.shape[0] * D * hidden,
        "matmul": 2 * args.matmul_size**3,
    }
    with torch.inference_mode(), autocast(device, dtype):
        med = interleaved_medians(fns, args.mfu_reps, args.warmup, device)
    peak = flops["matmul"] / med["matmul"]
    print("    components (interleaved medians, fraction of the matmul's FLOP/s):")
    for name, seconds in med.items():
        rate = flops[name] / seconds
        print(
            f"      {name:15s} {seconds * 1e3:8.2f} ms  {rate / 1e9:7.1f} GFLOP/s  {rate / peak:5.2f}"
        )


def _one_block(config: ViViTConfig, spatial_depth: int, temporal_depth: int) -> ViViTConfig:
    import dataclasses

    return dataclasses.replace(
        config, spatial_depth=spatial_depth, temporal_depth=temporal_depth, heads={}
    )


# ----------------------------------------------------------------------------- CLI
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument(
        "--dtype",
        choices=sorted(DTYPES),
        default="fp32",
        help="bf16 = autocast for the models and a bf16 reference matmul",
    )
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="torch.set_num_threads"
    )
    parser.add_argument("--parts", default="ab", help="which parts to run: a, b or ab")
    parser.add_argument("--vit", choices=sorted(VITS), default="base", help="(a) timm ViT size")
    parser.add_argument(
        "--frames", type=int, default=8, help="(a) frames per batch (timm batch size)"
    )
    parser.add_argument("--reps", type=int, default=7, help="(a) timed repetitions per side")
    parser.add_argument("--num-frames", type=int, default=16, help="(b) clip length")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--mfu-reps", type=int, default=5, help="(b) timed repetitions per side")
    parser.add_argument(
        "--matmul-size", type=int, default=4096, help="(b) reference matmul n (n x n @ n x n)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="untimed repetitions per side first")
    parser.add_argument("--compile", action="store_true", help="torch.compile the timed forwards")
    parser.add_argument(
        "--profile", action="store_true", help="(b) op table and per-component FLOP/s"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    torch.set_num_threads(args.threads)  # both sides of every comparison share this setting
    print(
        f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
        f"dtype {args.dtype}, compile {args.compile}"
    )
    if "a" in args.parts:
        bench_spatial_vs_timm(args, device, dtype)
    if "b" in args.parts:
        bench_mfu(args, device, dtype)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
