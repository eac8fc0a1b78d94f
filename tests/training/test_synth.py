"""Tests of the synthetic data generator (training/synth)."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import av
import numpy as np
import pytest

from training.synth import PRESETS, generate
from training.synth.ava import AvaVideoSpec, keyframe_labels, plan_shots

SMALL = {"ava_train_videos": 1, "ava_val_videos": 1, "clip_train": 2, "clip_val": 1}


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


def _meta(root: Path) -> dict:
    return json.loads((root / "synth_meta.json").read_text())


def _frame(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"{path} has no frame {index}")


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union if union > 0 else 0.0


def _gt_persons(root: Path, split: str) -> dict[tuple[str, int], dict[int, tuple[float, ...]]]:
    """(video, ts) -> person_id -> box, from the GT CSV."""
    persons: dict[tuple[str, int], dict[int, tuple[float, ...]]] = defaultdict(dict)
    for row in _rows(root / "ava" / "annotations" / f"ava_{split}_v2.2.csv"):
        persons[(row[0], int(row[1]))][int(row[7])] = tuple(float(v) for v in row[2:6])
    return persons


# ------------------------------------------------------------------ layout and formats


def test_ava_annotations_parse(synth_root: Path) -> None:
    meta = _meta(synth_root)["ava"]
    ann = synth_root / "ava" / "annotations"
    n_classes = len(meta["classes"])
    first, last = meta["first_keyframe"], meta["last_keyframe"]
    assert (first, last) == (902, 900 + PRESETS["tiny"].ava_duration - 2)
    for split in ("train", "val"):
        videos = set(meta["videos"][split])
        assert all((synth_root / "ava" / "videos" / f"{v}.mp4").is_file() for v in videos)
        rows = _rows(ann / f"ava_{split}_v2.2.csv")
        assert rows and all(len(r) == 8 for r in rows)
        for vid, ts, x1, y1, x2, y2, action, pid in rows:
            assert vid in videos and first <= int(ts) <= last
            assert 0 <= float(x1) < float(x2) <= 1 and 0 <= float(y1) < float(y2) <= 1
            assert 1 <= int(action) <= n_classes and int(pid) >= 0
        excluded = _rows(ann / f"ava_{split}_excluded_timestamps_v2.2.csv")
        assert excluded and all(len(r) == 2 and r[0] in videos for r in excluded)
        gt_keys = {(r[0], r[1]) for r in rows}
        assert not gt_keys & {(r[0], r[1]) for r in excluded}, "excluded keyframes carry no GT"
        dets = _rows(ann / f"ava_{split}_predicted_boxes.csv")
        assert all(len(r) == 8 and r[6] == "" and 0 <= float(r[7]) <= 1 for r in dets)


def test_label_maps(synth_root: Path) -> None:
    meta = _meta(synth_root)["ava"]
    ann = synth_root / "ava" / "annotations"
    text_2018 = (ann / "ava_action_list_v2.2.pbtxt").read_text()
    items = re.findall(r'item \{\s*name: "([^"]+)"\s*id: (\d+)\s*\}', text_2018)
    assert [(n, int(i)) for n, i in items] == [(c, k + 1) for k, c in enumerate(meta["classes"])]
    text_2019 = (ann / "ava_action_list_v2.2_for_activitynet_2019.pbtxt").read_text()
    labels = re.findall(
        r'label \{\s*name: "([^"]+)"\s*label_id: (\d+)\s*label_type: (\w+)\s*\}', text_2019
    )
    assert [n for n, _, _ in labels] == meta["evaluated"]
    assert 0 < len(labels) < len(items)
    assert all(meta["classes"][int(i) - 1] == n for n, i, _ in labels)


def test_upstream_formats(synth_root: Path) -> None:
    meta = _meta(synth_root)
    tiny = PRESETS["tiny"]
    for name, split in (("train.csv", "train"), ("validate.csv", "val")):
        rows = _rows(synth_root / "kinetics" / name)
        assert rows[0] == ["label", "youtube_id", "time_start", "time_end", "split"]
        for label, yid, start, end, row_split in rows[1:]:
            assert label in meta["kinetics"]["classes"] and row_split == split
            assert int(end) - int(start) == tiny.clip_duration
            assert (
                synth_root / "kinetics" / "videos" / f"{yid}_{int(start):06d}_{int(end):06d}.mp4"
            ).is_file()
    categories = dict(r for r in _rows(synth_root / "mit" / "moments_categories.txt"))
    assert list(categories) == meta["mit"]["classes"]
    for name in ("trainingSet.csv", "validationSet.csv"):
        for file, label, agree, total in _rows(synth_root / "mit" / name):
            assert file.startswith(f"{label}/") and label in categories and int(agree) <= int(total)
            assert (synth_root / "mit" / "videos" / file).is_file()
    labels = json.loads((synth_root / "ssv2" / "something-something-v2-labels.json").read_text())
    assert sorted(int(v) for v in labels.values()) == list(range(len(meta["ssv2"]["templates"])))
    for split in ("train", "validation"):
        entries = json.loads(
            (synth_root / "ssv2" / f"something-something-v2-{split}.json").read_text()
        )
        for e in entries:
            template = e["template"].replace("[", "").replace("]", "")
            assert template in labels
            assert e["label"] == e["template"].replace("[something]", e["placeholders"][0])
            assert (synth_root / "ssv2" / "videos" / f"{e['id']}.mp4").is_file()


def test_meta_counts_match_csv(synth_root: Path) -> None:
    meta = _meta(synth_root)
    classes = meta["ava"]["classes"]
    counted = Counter(
        classes[int(r[6]) - 1] for r in _rows(synth_root / "ava/annotations/ava_train_v2.2.csv")
    )
    assert {c: counted.get(c, 0) for c in classes} == meta["ava"]["train_counts"]
    hmt = meta["ava"]["head_mid_tail"]
    assert hmt["head_above"] >= hmt["tail_below"] and hmt["head"] and hmt["tail"]
    assert sorted(hmt["head"] + hmt["mid"] + hmt["tail"]) == sorted(meta["ava"]["evaluated"])
    assert meta["preset"] == "tiny" and meta["seed"] == 0 and meta["fps"] == PRESETS["tiny"].fps


# ------------------------------------------------------------------ pixels


def test_gt_boxes_land_on_actor_pixels(synth_root: Path) -> None:
    """Each GT box holds its actor's colour; that colour is (almost) nowhere else; boxes are tight."""
    meta = _meta(synth_root)
    width, height = meta["ava"]["size"]
    fps = meta["fps"]
    checked, hits, ious = 0, 0, []
    for (vid, ts), persons in sorted(_gt_persons(synth_root, "train").items())[:12]:
        frame = _frame(synth_root / "ava" / "videos" / f"{vid}.mp4", (ts - 900) * fps).astype(
            np.int32
        )
        for pid, box in persons.items():
            color = np.array(meta["ava"]["actor_colors"][vid][str(pid)])
            mask = np.abs(frame - color).sum(axis=2) < 90  # (H, W)
            x1, y1 = int(box[0] * width) - 2, int(box[1] * height) - 2
            x2, y2 = int(np.ceil(box[2] * width)) + 2, int(np.ceil(box[3] * height)) + 2
            inside = mask[max(0, y1) : y2, max(0, x1) : x2]
            checked += 1
            if inside.sum() < 4:
                continue  # occluded by a nearer actor
            hits += 1
            assert inside.sum() >= 0.8 * mask.sum(), "actor colour found far outside its box"
            ys, xs = np.nonzero(inside)
            drawn = (
                xs.min() + max(0, x1),
                ys.min() + max(0, y1),
                xs.max() + 1 + max(0, x1),
                ys.max() + 1 + max(0, y1),
            )
            ious.append(_iou(tuple(np.array(box) * [width, height, width, height]), drawn))
    assert checked >= 10 and hits >= 0.85 * checked
    assert np.median(ious) > 0.7, f"boxes not tight around the drawn actors: {ious}"


def test_determinism(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", "tiny", seed=5, **SMALL).root
    b = generate(tmp_path / "b", "tiny", seed=5, workers=2, **SMALL).root
    c = generate(tmp_path / "c", "tiny", seed=6, **SMALL).root
    files = sorted(
        p.relative_to(a) for p in a.rglob("*") if p.suffix in (".csv", ".json", ".pbtxt", ".txt")
    )
    assert len(files) >= 15
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert (a / "ava/annotations/ava_train_v2.2.csv").read_bytes() != (
        c / "ava/annotations/ava_train_v2.2.csv"
    ).read_bytes()
    for sub in ("ava/videos", "kinetics/videos", "ssv2/videos"):
        va, vb, vc = (sorted((r / sub).rglob("*.mp4"))[0] for r in (a, b, c))
        assert va.name == vb.name != vc.name
        # libx264 via PyAV is not bit-exact run to run (rarely a few pixels move by a
        # few levels), so "identical" is checked up to that encoder noise.
        same = np.abs(_frame(va, 0).astype(int) - _frame(vb, 0))
        other = np.abs(_frame(va, 0).astype(int) - _frame(vc, 0))
        assert same.mean() < 1.0 and np.mean(same > 12) < 0.01, (same.mean(), np.mean(same > 12))
        assert other.mean() > 5 * max(same.mean(), 1.0)


# ------------------------------------------------------------------ statistics


def test_class_frequency_is_long_tailed() -> None:
    """Label sampling (no rendering): a few head classes dominate, tail classes are rare."""
    preset = PRESETS["bench"]
    counts: Counter = Counter()
    for i in range(40):
        spec = AvaVideoSpec(
            f"v{i}", "train", preset.ava_classes, 128, 96, 15, 24, preset.max_actors
        )
        _, shots, _ = plan_shots(np.random.default_rng(i), spec)
        for shot in shots:
            for k in range(max(2, int(np.ceil(shot.start))), min(23, int(np.ceil(shot.end)))):
                for actor in shot.actors:
                    counts.update(keyframe_labels(actor, k - shot.start))
    ranked = [n for n, _ in counts.most_common()]
    assert set(ranked) == set(preset.ava_classes), "every class occurs"
    total = sum(counts.values())
    assert sum(counts[n] for n in ranked[:4]) > 0.5 * total
    assert counts[ranked[0]] > 20 * counts[ranked[-1]]


def test_detections_are_noisy(synth_root: Path) -> None:
    matched_scores, fp_scores, misses, offsets, persons_total = [], [], 0, [], 0
    for split in ("train", "val"):
        gt = _gt_persons(synth_root, split)
        dets: dict[tuple[str, int], list[tuple[tuple[float, ...], float]]] = defaultdict(list)
        for r in _rows(synth_root / "ava/annotations" / f"ava_{split}_predicted_boxes.csv"):
            dets[(r[0], int(r[1]))].append((tuple(float(v) for v in r[2:6]), float(r[7])))
        for key, persons in gt.items():
            persons_total += len(persons)
            for box in persons.values():
                best = max(((_iou(box, d), d, s) for d, s in dets[key]), default=(0.0, None, 0.0))
                if best[0] < 0.5:
                    misses += 1
                else:
                    matched_scores.append(best[2])
                    offsets.append(np.abs(np.array(box) - np.array(best[1])).max())
            for d, s in dets[key]:
                if max((_iou(d, b) for b in persons.values()), default=0.0) < 0.3:
                    fp_scores.append(s)
    assert persons_total >= 30
    assert 0 < misses < 0.25 * persons_total
    assert np.mean(np.array(matched_scores) >= 0.8) > 0.7
    assert np.mean(np.array(offsets) > 1e-3) > 0.8, "detections are jittered, not copies of GT"
    assert fp_scores and np.mean(np.array(fp_scores) < 0.8) > 0.7


# ------------------------------------------------------------------ errors and CLI


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"preset": "huge"}, "unknown preset"),
        ({"colour": 1}, "unknown preset override"),
        ({"workers": 0}, "workers"),
        ({"ava_size": (95, 72)}, "even"),
        ({"ava_duration": 3}, "ava_duration"),
    ],
)
def test_generate_rejects_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(tmp_path, **kwargs)


def test_cli_registers_synth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cofin_sdk.cli.main import main

    assert main(["synth", "--preset", "huge", "--out", str(tmp_path)]) == 1
    assert "--preset huge: unknown; choose one of tiny, bench" in capsys.readouterr().err
