"""Table 3 analogue: co-finetuning AVA with 1, 2 and 3 upstream datasets.

Kinetics-like, + Moments-like (same "people" domain), + SSv2-like (different domain:
hands manipulating objects). Every arm takes the same ``--steps`` optimiser steps at
batch 16 with weighted sampling, so adding a dataset spreads the same compute over more
data (AVA gets fewer steps). The transfer baseline row is Table 1's (same seeds/steps).

    python experiments/run_table3.py [--seeds 0] [--steps 360] [--out /work/exp_runs]
"""

from __future__ import annotations

import copy
import time

import _common as C

ARMS = (("kinetics",), ("kinetics", "mit"), ("kinetics", "mit", "ssv2"))


def main() -> None:
    args = C.parse_args(__doc__, [0], 360)
    t0 = time.perf_counter()
    records = []
    for seed in args.seeds:
        # transfer baseline (shared with Table 1)
        up = ("kinetics",)
        sizes = C.dataset_sizes(args.data, up)
        base = C.base_config(args.data, up, seed, C.run_dir(args.out, args.steps, up, "transfer", seed), args.steps,
                             extra=args.overrides, sizes=sizes)
        stages = C.transfer_config(base, sizes, args.steps)
        res = C.train_stages(stages, args.fresh)
        records.append({"arm": "Kinetics → AVA (transfer baseline)", "seed": seed,
                        "row": C.summary_row(res["stages"][1]["metrics"], res["stages"][0]["metrics"]),
                        "steps_per_head": {"ava": round(stages[1].schedule.epochs * (sizes["ava"] // C.BATCH)),
                                           "kinetics": round(stages[0].schedule.epochs * (sizes["kinetics"] // C.BATCH))},
                        "wall_s": res["wall_s"], "run_dirs": [s["out_dir"] for s in res["stages"]]})
        for upstream in ARMS:
            rec = C.cofin_arm(args, upstream, seed)
            rec["arm"] = " + ".join({"kinetics": "K", "mit": "MiT", "ssv2": "SSv2"}[u] for u in upstream) + " + AVA"
            records.append(copy.deepcopy(rec))
            print(f"[table3] seed {seed} {rec['arm']}: {rec['row']} ({rec['wall_s']:.0f} s)", flush=True)
    groups = C.group_by_arm(records, lambda r: r["arm"])
    lines = [f"Seeds {args.seeds} ({'mean ± std' if len(args.seeds) > 1 else 'single seed'}; AP and top-1 in %). "
             f"{C.settings_text(args.steps)}. Weighted sampling.", ""] + C.table_lines(groups)
    lines += ["", "Transfer baseline: Kinetics top-1 is the stage-1 (Kinetics-only) model's."]
    payload = {"table": "3", "seeds": args.seeds, "steps": args.steps, "overrides": args.overrides,
               "records": records, "total_wall_s": time.perf_counter() - t0}
    C.write_outputs("table3", payload, "\n".join(lines))


if __name__ == "__main__":
    main()
