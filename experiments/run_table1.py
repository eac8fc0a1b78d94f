"""Table 1 analogue: transfer (Kinetics → AVA finetune) vs co-finetuning (Kinetics + AVA).

Equal total data and equal steps: both arms take ``--steps`` optimiser steps at batch 16.
The transfer baseline spends the Kinetics share of the steps (Kinetics size / total, the
share exact-quota weighted co-finetuning gives it) on Kinetics only, then the rest on AVA
with a new AVA head and a fresh optimiser (``training.configs._synthetic.transfer_stages``).
Its stage 1 is also the single-dataset Kinetics model at equal Kinetics steps, for the
paper's "co-finetuning also helps the upstream task" comparison. ``--steps 1400`` is the
2× training-length run (results under ``results/table1_steps1400/``).

The third arm is the control: an AVA-only model with the AVA steps of the transfer
baseline's AVA stage (474 at 700 steps), nothing else. ``--init image`` runs the table
from the image-pretrained spatial encoder (``results/table1_pretrained/``).

    python experiments/run_table1.py [--seeds 0 1 2] [--steps 700] [--init image] [--commit] [--smoke]
"""

from __future__ import annotations

import time

import _common as C

UPSTREAM = ("kinetics",)


def main() -> None:
    args = C.parse_args(__doc__, [0, 1, 2])
    table = C.table_name("table1", args)
    t0 = time.perf_counter()
    arms = {
        m: [C.Arm(m, UPSTREAM, s, args.steps) for s in args.seeds] for m in ("transfer", "cofin")
    }
    # the control: AVA only, with the AVA steps of the transfer baseline's AVA stage
    ava_steps = C.steps_per_head(*C.arm_stages(arms["transfer"][0], args))["ava"]
    arms["ava_only"] = [C.Arm("single", ("ava",), s, ava_steps) for s in args.seeds]
    recs = {m: [] for m in arms}
    for i in range(len(args.seeds)):  # seed by seed, so an interrupted run leaves complete sets
        for m in arms:
            recs[m].append(C.run_arm(arms[m][i], args, table))
    groups = {
        "Kinetics → AVA (transfer baseline)": recs["transfer"],
        "Kinetics + AVA (co-finetuning)": recs["cofin"],
        f"AVA only, {ava_steps} steps (control)": recs["ava_only"],
    }
    metrics = ("mAP", "mAP_head", "mAP_mid", "mAP_tail", "kinetics_top1")
    lines = [
        f"Seeds {args.seeds}; mean ± std over the seeds done (AP and top-1 in %). {C.settings_text(args.steps, args.init)}.",
        "",
        *C.table_lines(groups),
        "",
        "Transfer baseline: K top-1 is its stage-1 (Kinetics-only) model's, trained for the same number of "
        "Kinetics steps as co-finetuning gives the Kinetics head; the finetuned model has no Kinetics head.",
        "",
        "Paired differences (same seed), in points:",
        "",
        *C.comparison_lines(
            [("co-finetuning − transfer", recs["transfer"], recs["cofin"])], metrics
        ),
        *C.comparison_lines(
            [
                ("co-finetuning − AVA only", recs["ava_only"], recs["cofin"]),
                ("transfer − AVA only", recs["ava_only"], recs["transfer"]),
            ],
            metrics[:4],
        )[2:],
    ]
    shared, evaluated = C.shared_motions(args.data, UPSTREAM)
    split = C.motion_split_lines(
        "co-finetuning − transfer", recs["transfer"], recs["cofin"], shared, evaluated
    )
    if split:
        lines += [
            "",
            "By whether an AVA class's motion also occurs in a Kinetics-like class:",
            "",
            *split,
        ]
    fig = C.plot_difference(
        recs["transfer"], recs["cofin"], f"{table}_ap_difference", ("transfer", "co-finetuning")
    )
    if fig:
        lines += [
            "",
            f"Per-class AP difference (seed-averaged; paper Fig. 1): `figures/{fig.name}`",
        ]
    lines += ["", *C.wall_lines(recs["transfer"] + recs["cofin"] + recs["ava_only"])]
    payload = {
        "table": table,
        "seeds": args.seeds,
        "steps": args.steps,
        "records": recs,
        "init": args.init,
        "paired": {m: C.paired(recs["transfer"], recs["cofin"], m) for m in metrics},
        "paired_vs_ava_only": {
            name: {m: C.paired(recs["ava_only"], recs[name], m) for m in metrics[:4]}
            for name in ("cofin", "transfer")
        },
        "per_class_mean_ap": {
            "transfer": C.mean_per_class([r for r in recs["transfer"] if r]),
            "cofin": C.mean_per_class([r for r in recs["cofin"] if r]),
        },
        "session_wall_s": time.perf_counter() - t0,
    }
    C.write_summary(table, payload, "\n".join(lines))


if __name__ == "__main__":
    main()
