"""Table 4 analogue (the paper's sampler table): weighted vs alternating minibatch sampling.

AVA + Kinetics-like + Moments-like, as in the paper's sampling experiment (AVA + K400 +
MiT). Both arms: same ``--steps`` optimiser steps at batch 16, same seed; only
``sampler.kind`` differs. Weighted (exact quota) gives each dataset steps ∝ its size;
alternating is round robin (equal steps per dataset). The weighted arm is Table 3's
K + MiT + AVA arm (same key: trained once, shared).

    python experiments/run_table4.py [--seeds 0 1 2] [--steps 700] [--commit] [--smoke]
"""

from __future__ import annotations

import time

import _common as C

UPSTREAM = ("kinetics", "mit")


def main() -> None:
    args = C.parse_args(__doc__, [0, 1, 2])
    table = C.table_name("table4", args)
    t0 = time.perf_counter()
    recs: dict[str, list] = {"weighted (exact quota)": [], "alternating": []}
    for seed in args.seeds:
        for name, sampler in (
            ("weighted (exact quota)", "weighted"),
            ("alternating", "alternating"),
        ):
            recs[name].append(
                C.run_arm(C.Arm("cofin", UPSTREAM, seed, args.steps, sampler), args, table)
            )
    w, a = recs["weighted (exact quota)"], recs["alternating"]
    metrics = ("mAP", "mAP_head", "mAP_mid", "mAP_tail", "kinetics_top1", "mit_top1")
    lines = [
        f"K + MiT + AVA; seeds {args.seeds}; mean ± std over the seeds done (AP and top-1 in %). "
        f"{C.settings_text(args.steps, args.init)}.",
        "",
        *C.table_lines(recs),
        "",
        "Paired differences, weighted − alternating (same seed), in points:",
        "",
        *C.comparison_lines([("weighted − alternating", a, w)], metrics),
    ]
    fig = C.plot_difference(a, w, f"{table}_ap_difference", ("alternating", "weighted"))
    if fig:
        lines += ["", f"Per-class AP difference weighted vs alternating: `figures/{fig.name}`"]
    lines += ["", *C.wall_lines(w + a)]
    payload = {
        "table": table,
        "seeds": args.seeds,
        "steps": args.steps,
        "records": recs,
        "paired": {m: C.paired(a, w, m) for m in metrics},
        "session_wall_s": time.perf_counter() - t0,
    }
    C.write_summary(table, payload, "\n".join(lines))


if __name__ == "__main__":
    main()
