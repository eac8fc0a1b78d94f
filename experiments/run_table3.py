"""Table 3 analogue: co-finetuning AVA with 1, 2 and 3 upstream datasets.

Kinetics-like, + Moments-like (same "people" domain), + SSv2-like (different domain:
hands manipulating objects). Every arm takes the same ``--steps`` optimiser steps at
batch 16 with exact-quota weighted sampling, so an added dataset spreads the same
compute over more data (AVA gets fewer steps). The transfer and K + AVA rows are Table
1's arms (same keys: trained once, shared).

    python experiments/run_table3.py [--seeds 0 1 2] [--steps 700] [--commit] [--smoke]
"""

from __future__ import annotations

import time

import _common as C

ARMS = (("kinetics",), ("kinetics", "mit"), ("kinetics", "mit", "ssv2"))


def main() -> None:
    args = C.parse_args(__doc__, [0, 1, 2])
    table = C.table_name("table3", args)
    t0 = time.perf_counter()
    names = ["Kinetics → AVA (transfer baseline)"] + [
        " + ".join(C.SHORT[u] for u in a) + " + AVA" for a in ARMS
    ]
    recs: dict[str, list] = {n: [] for n in names}
    for seed in args.seeds:
        recs[names[0]].append(
            C.run_arm(C.Arm("transfer", ("kinetics",), seed, args.steps), args, table)
        )
        for name, up in zip(names[1:], ARMS):
            recs[name].append(C.run_arm(C.Arm("cofin", up, seed, args.steps), args, table))
    base, k = recs[names[0]], recs[names[1]]
    pairs = [(f"{n} − K + AVA", k, recs[n]) for n in names[2:]] + [
        (f"{n} − transfer", base, recs[n]) for n in names[1:]
    ]
    lines = [
        f"Seeds {args.seeds}; mean ± std over the seeds done (AP and top-1 in %). {C.settings_text(args.steps, args.init)}.",
        "",
        *C.table_lines(recs),
        "",
        "Transfer baseline: K top-1 is its stage-1 (Kinetics-only) model's.",
        "",
        "Paired differences (same seed), in points:",
        "",
        *C.comparison_lines(
            pairs, ("mAP", "mAP_head", "mAP_mid", "mAP_tail", "kinetics_top1", "mit_top1")
        ),
    ]
    split = []
    for n, up in zip(names[1:], ARMS):
        shared, evaluated = C.shared_motions(args.data, up)
        split += C.motion_split_lines(f"{n} − transfer", base, recs[n], shared, evaluated)[
            (2 if split else 0) :
        ]
    if split:
        lines += [
            "",
            "By whether an AVA class's motion also occurs in one of the arm's upstream classes:",
            "",
            *split,
        ]
    for n in names[2:]:
        fig = C.plot_difference(
            k,
            recs[n],
            f"{table}_ap_difference_" + n.replace(" + ", "_").replace(" ", ""),
            ("K + AVA", n),
        )
        if fig:
            lines.append(f"\nPer-class AP difference {n} vs K + AVA: `figures/{fig.name}`")
    lines += ["", *C.wall_lines([r for rs in recs.values() for r in rs])]
    payload = {
        "table": table,
        "seeds": args.seeds,
        "steps": args.steps,
        "records": recs,
        "paired": {
            label: {m: C.paired(a, b, m) for m in ("mAP", "mAP_head", "mAP_mid", "mAP_tail")}
            for label, a, b in pairs
        },
        "session_wall_s": time.perf_counter() - t0,
    }
    C.write_summary(table, payload, "\n".join(lines))


if __name__ == "__main__":
    main()
