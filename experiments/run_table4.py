"""Table 4 analogue (the paper's sampler table): weighted vs alternating minibatch sampling.

AVA + Kinetics-like + Moments-like, as in the paper's sampling experiment (AVA + K400 +
MiT). Both arms: same ``--steps`` optimiser steps at batch 16, same seed; only
``sampler.kind`` differs. Weighted draws each minibatch's dataset ∝ dataset size;
alternating is round robin (equal steps per dataset).

    python experiments/run_table4.py [--seeds 0] [--steps 360] [--out /work/exp_runs]
"""

from __future__ import annotations

import time

import _common as C

UPSTREAM = ("kinetics", "mit")


def main() -> None:
    args = C.parse_args(__doc__, [0], 360)
    t0 = time.perf_counter()
    records = []
    for seed in args.seeds:
        for sampler in ("weighted", "alternating"):
            rec = C.cofin_arm(args, UPSTREAM, seed, sampler)
            rec["arm"] = f"{sampler} (K + MiT + AVA)"
            records.append(rec)
            print(f"[table4] seed {seed} {sampler}: {rec['row']} ({rec['wall_s']:.0f} s)", flush=True)
    groups = C.group_by_arm(records, lambda r: r["arm"])
    lines = [f"Seeds {args.seeds} ({'mean ± std' if len(args.seeds) > 1 else 'single seed'}; AP and top-1 in %). "
             f"{C.settings_text(args.steps)}.", ""] + C.table_lines(groups)
    payload = {"table": "4", "seeds": args.seeds, "steps": args.steps, "overrides": args.overrides,
               "records": records, "total_wall_s": time.perf_counter() - t0}
    C.write_outputs("table4", payload, "\n".join(lines))


if __name__ == "__main__":
    main()
