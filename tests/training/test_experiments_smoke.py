"""Each study script of ``experiments/`` runs end to end in ``--smoke`` mode.

``--smoke`` trains every arm of the script for 2 steps on the ``tiny`` preset into a
temporary folder (never into ``experiments/results``). The scripts run in this process,
in order, sharing one results folder, so the later tables reuse the earlier tables'
arms exactly as the real study does. Nothing here checks the numbers (2 steps learn
nothing); it checks that every arm trains, lands as a JSON and is summarised.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
# (script, extra flags); the last runs are Table 1 from the two image-pretrained inits
# (issue 22), each of which first pretrains its smoke image ViT
RUNS = (
    ("run_learnability", []),
    ("run_table1", []),
    ("run_table3", []),
    ("run_table4", []),
    ("run_table1", ["--init", "image"]),
    ("run_table1", ["--init", "image_shape"]),
)


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("experiments_smoke")
    sys.path.insert(0, str(EXPERIMENTS))
    argv = sys.argv
    try:
        for script, extra in RUNS:
            sys.argv = [script, "--smoke", "--seeds", "0", "--results", str(root), *extra]
            runpy.run_path(str(EXPERIMENTS / f"{script}.py"), run_name="__main__")
    finally:
        sys.argv = argv
        sys.path.remove(str(EXPERIMENTS))
    return root / "results"


@pytest.mark.parametrize(
    "table, arms",
    [
        ("learnability", 4),
        ("table1", 3),
        ("table3", 2),
        ("table4", 1),
        ("table1_pretrained", 3),
        ("table1_pretrained_shape", 3),
    ],
)
def test_every_arm_lands_and_is_summarised(smoke_results: Path, table: str, arms: int) -> None:
    summary = json.loads((smoke_results / f"{table}.json").read_text())
    markdown = (smoke_results / f"{table}.md").read_text()
    assert markdown.startswith(("Single", "Seeds", "K + MiT"))
    if table != "learnability":
        # every table reports its paired comparisons and its wall time
        assert "| Comparison (B − A, points) |" in markdown and "min of one core" in markdown
    # arms trained by this table (the others were reused from earlier tables' folders)
    landed = sorted((smoke_results / table).glob("*.json"))
    assert len(landed) == arms, [p.name for p in landed]
    record = json.loads(landed[0].read_text())
    assert record["steps"] == 2 and sum(record["steps_per_head"].values()) == 2
    assert summary["records"]
    if table == "table1_pretrained":  # its arms are keyed by the init, and the inits compared
        assert all("_imgvit_" in p.name for p in landed)
        assert "| Arm | metric | random init | image init (colour) |" in markdown
        assert (smoke_results / "pretrain_image_vit.json").is_file()
    if table == "table1_pretrained_shape":
        assert all("_imgshape_" in p.name for p in landed)
        assert (
            "| Arm | metric | random init | image init (colour) | image init (shape) |" in markdown
        )
        pretrained = json.loads((smoke_results / "pretrain_image_vit_shape.json").read_text())
        assert pretrained["recipe"]["target"] == "kind" and pretrained["chance"] == 1 / 7


def test_rerun_reuses_landed_arms(smoke_results: Path) -> None:
    """A second run trains nothing: every arm's JSON is found (the resume path)."""
    sys.path.insert(0, str(EXPERIMENTS))
    argv, before = sys.argv, sorted(p.stat().st_mtime_ns for p in smoke_results.glob("*/*.json"))
    try:
        sys.argv = ["run_table1", "--smoke", "--seeds", "0", "--results", str(smoke_results.parent)]
        runpy.run_path(str(EXPERIMENTS / "run_table1.py"), run_name="__main__")
    finally:
        sys.argv = argv
        sys.path.remove(str(EXPERIMENTS))
    assert sorted(p.stat().st_mtime_ns for p in smoke_results.glob("*/*.json")) == before


def test_paired_statistics() -> None:
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        import _common as C
    finally:
        sys.path.remove(str(EXPERIMENTS))
    a = [{"seed": s, "row": {"mAP": v}} for s, v in ((0, 0.10), (1, 0.12), (2, 0.11))]
    b = [{"seed": s, "row": {"mAP": v}} for s, v in ((0, 0.13), (1, 0.14), (2, 0.15))]
    stat = C.paired(a, b, "mAP")
    assert stat["diffs"] == pytest.approx([0.03, 0.02, 0.04])
    assert stat["mean"] == pytest.approx(0.03) and stat["std"] == pytest.approx(0.01)
    assert stat["ci95"][0] < 0.03 < stat["ci95"][1] and 0 < stat["p"] < 0.05


def test_motion_split_pairs_class_groups_per_seed() -> None:
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        import _report as R
    finally:
        sys.path.remove(str(EXPERIMENTS))

    def record(seed: int, aps: dict[str, float | None]) -> dict:
        return {"seed": seed, "per_class": [{"name": n, "ap": v} for n, v in aps.items()]}

    shared = {"walk", "run"}
    # transfer: walk/run 0.2/0.4, sit/stand 0.5/0.7; co-finetuning gains 0.1 on the
    # shared classes only (seed 0), 0.2 (seed 1); "hit" has no AP and is ignored
    a = [
        record(s, {"walk": 0.2, "run": 0.4, "sit": 0.5, "stand": 0.7, "hit": None}) for s in (0, 1)
    ]
    b = [
        record(0, {"walk": 0.3, "run": 0.5, "sit": 0.5, "stand": 0.7, "hit": None}),
        record(1, {"walk": 0.4, "run": 0.6, "sit": 0.5, "stand": 0.7, "hit": None}),
    ]
    sa, sb = R.motion_split(a, shared), R.motion_split(b, shared)
    assert sa[0]["row"] == pytest.approx({"shared": 0.3, "not_shared": 0.6, "gap": -0.3})
    assert R.paired(sa, sb, "shared")["diffs"] == pytest.approx([0.1, 0.2])
    assert R.paired(sa, sb, "not_shared")["diffs"] == pytest.approx([0.0, 0.0])
    assert R.paired(sa, sb, "gap")["diffs"] == pytest.approx([0.1, 0.2])
    evaluated = ["walk", "run", "sit", "stand", "hit"]
    lines = R.motion_split_lines("B − A", a, b, shared, evaluated)
    assert "share a motion (2: run, walk)" in lines[2] and "+15.0 ± 7.1 [+10.0, +20.0]" in lines[2]
    assert "share no motion (3: hit, sit, stand)" in lines[3]
    assert R.motion_split_lines("B − A", a, [], shared, evaluated) == []  # nothing paired


def test_ava_steps_figure_reads_the_landed_arms(
    smoke_results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = sys.argv
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        sys.argv = ["plot_ava_steps", "--results", str(smoke_results.parent)]
        runpy.run_path(str(EXPERIMENTS / "plot_ava_steps.py"), run_name="__main__")
    finally:
        sys.argv = argv
        sys.path.remove(str(EXPERIMENTS))
    out = capsys.readouterr().out
    with_ava = [
        p
        for p in smoke_results.glob("*/*.json")
        if json.loads(p.read_text())["row"].get("mAP") is not None
    ]
    assert f"({len(with_ava)} arms)" in out and len(with_ava) >= 5
    # one summary line per kind of arm and initialisation, each with its seed count
    kinds = {
        (
            p.parent.name != "learnability",
            p.name.split("_steps")[0],
            "_imgvit_" in p.name,
            "_imgshape_" in p.name,
        )
        for p in with_ava
    }
    assert all(f"{t} " in out for t in ("random init", "image init (colour)", "image init (shape)"))
    assert out.count(" over 1 seed(s)") == len(kinds)
    assert (smoke_results.parent / "figures" / "ava_map_vs_ava_steps.png").stat().st_size > 10_000


def test_probe_separates_informative_from_noise_features() -> None:
    """``probe_init.probe``: labels encoded in the features probe near 1, noise near the
    constant score; isotropic noise spans all its directions."""
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        from probe_init import probe
    finally:
        sys.path.remove(str(EXPERIMENTS))
    rng = np.random.default_rng(0)
    labels = [rng.random((n, 3)) < 0.3 for n in (600, 300)]
    noise = [rng.normal(size=(len(y), 8)) for y in labels]
    informative = [np.c_[2.0 * y + 0.3 * e[:, :3], e[:, 3:]] for y, e in zip(labels, noise)]
    good = probe((informative[0], labels[0]), (informative[1], labels[1]))
    bad = probe((noise[0], labels[0]), (noise[1], labels[1]))
    assert good["probe_mAP"] > 0.95 and good["classes"] == 3
    assert bad["probe_mAP"] < 0.5 and abs(bad["constant_mAP"] - 0.3) < 0.05
    assert 6.5 < bad["participation_ratio"] <= 8.0 and good["boxes"] == [600, 300]
