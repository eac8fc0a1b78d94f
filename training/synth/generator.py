"""Python API of the synthetic data generator: ``generate(out_dir, preset, seed, workers)``.

Writes the data layout of docs/CONVENTIONS.md under ``out_dir``: AVA-like videos
+ annotations, Kinetics-like, Moments-like and SSv2-like clips in their real
formats, and ``synth_meta.json``. Every video draws from its own
``numpy.random.SeedSequence([seed, dataset, index])`` stream, so the output
does not depend on the number of workers.

Example:
    >>> from training.synth import generate
    >>> summary = generate("/tmp/synth", preset="tiny", seed=0)  # doctest: +SKIP
    >>> summary.counts["ava"]["train"]["stand"]  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import math
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from training.synth.ava import (
    MOVIE_OFFSET,
    AvaVideoResult,
    AvaVideoSpec,
    noisy_detections,
    render_ava_video,
)
from training.synth.clips import ClipTask, render_clip
from training.synth.meta import build_meta, label_kinds
from training.synth.presets import PRESETS, SynthPreset
from training.synth.taxonomy import SSV2_OBJECTS, appearance_cue
from training.synth.writers import (
    write_csv,
    write_json,
    write_label_map_2018,
    write_label_map_2019,
    write_mp4,
)

__all__ = ["generate", "SynthSummary", "resolve_preset"]

logger = logging.getLogger(__name__)

_DATASET_CODES = {"ava": 0, "kinetics": 1, "mit": 2, "ssv2": 3}
_MIT_TOTAL_VOTES = 3


@dataclass
class SynthSummary:
    """What ``generate`` wrote.

    Attributes:
        root: Output directory.
        preset: The (possibly overridden) preset used.
        seed: Seed used.
        seconds: Wall-clock generation time.
        counts: ``counts[dataset][split][class] -> number of labels`` (AVA: box-labels;
            others: clips).
        num_videos: Number of mp4 files written per dataset.
    """

    root: Path
    preset: SynthPreset
    seed: int
    seconds: float = 0.0
    counts: dict[str, dict[str, Counter]] = field(default_factory=dict)
    num_videos: dict[str, int] = field(default_factory=dict)


def resolve_preset(preset: str | SynthPreset, overrides: dict[str, Any]) -> SynthPreset:
    """Look up a preset by name and apply field overrides.

    Raises:
        ValueError: Unknown preset name or override field.
    """
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
        preset = PRESETS[preset]
    fields = {f.name for f in dataclasses.fields(SynthPreset)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown preset override(s) {unknown}; valid fields: {sorted(fields)}")
    return dataclasses.replace(preset, **overrides) if overrides else preset


def _rng(seed: int, dataset: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, _DATASET_CODES[dataset], index]))


def _youtube_id(seed: int, dataset: str, index: int) -> str:
    """A deterministic 11-character YouTube-like id."""
    digest = hashlib.blake2b(f"{seed}:{dataset}:{index}".encode(), digest_size=9).digest()
    text = base64.urlsafe_b64encode(digest).decode()[:11]
    return ("v" + text[1:]) if not text[0].isalnum() else text


# ---------------------------------------------------------------- worker tasks


def _ava_task(args: tuple[AvaVideoSpec, int, int, str, int]) -> AvaVideoResult:
    spec, index, seed, root, crf = args
    render_rng, det_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence([seed, 0, index]).spawn(2)
    )
    frames, result = render_ava_video(spec, render_rng)
    write_mp4(Path(root) / "ava" / "videos" / f"{spec.video_id}.mp4", frames, spec.fps, crf)
    keyframes = range(MOVIE_OFFSET + 2, MOVIE_OFFSET + spec.duration - 1)
    result.detection_rows = noisy_detections(det_rng, result, keyframes)
    return result


def _clip_task(args: tuple[ClipTask, int, int, str, int]) -> None:
    task, seed, index, path, crf = args
    frames = render_clip(task, _rng(seed, task.dataset, index))
    write_mp4(Path(path), frames, task.fps, crf)


def _dispatch(fn: Callable, jobs: list, workers: int, desc: str, progress: bool) -> Iterator[Any]:
    bar = tqdm(total=len(jobs), desc=desc, unit="video", disable=not progress, leave=False)
    try:
        if workers <= 1:
            for job in jobs:
                yield fn(job)
                bar.update()
            return
        # forkserver: workers fork from one clean process that imported the heavy modules
        # (cofin_sdk pulls in torch) once, instead of each worker importing them again;
        # plain fork is unsafe once the parent has used OpenCV/OpenMP thread pools.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["training.synth.generator", "cofin_sdk.io.video"])
        with context.Pool(workers, initializer=_init_worker) as pool:
            for out in pool.imap(fn, jobs, chunksize=max(1, min(8, len(jobs) // (4 * workers)))):
                yield out
                bar.update()
    finally:
        bar.close()


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


# ---------------------------------------------------------------- datasets


def _generate_ava(
    p: SynthPreset, seed: int, root: Path, workers: int, progress: bool
) -> list[AvaVideoResult]:
    n = p.ava_train_videos + p.ava_val_videos
    jobs = []
    for i in range(n):
        split = "train" if i < p.ava_train_videos else "val"
        spec = AvaVideoSpec(
            _youtube_id(seed, "ava", i),
            split,
            p.ava_classes,
            p.ava_size[0],
            p.ava_size[1],
            p.fps,
            p.ava_duration,
            p.max_actors,
            p.ava_actor_scale,
        )
        jobs.append((spec, i, seed, str(root), p.crf))
    results = list(_dispatch(_ava_task, jobs, workers, "ava videos", progress))
    ann = root / "ava" / "annotations"
    evaluated = [c for c in p.ava_classes if c not in p.ava_not_evaluated]
    write_label_map_2018(ann / "ava_action_list_v2.2.pbtxt", p.ava_classes)
    write_label_map_2019(
        ann / "ava_action_list_v2.2_for_activitynet_2019.pbtxt",
        p.ava_classes,
        evaluated,
        label_kinds(p.ava_classes),
    )
    for split in ("train", "val"):
        part = [r for r in results if r.split == split]
        write_csv(ann / f"ava_{split}_v2.2.csv", [row for r in part for row in r.gt_rows])
        write_csv(
            ann / f"ava_{split}_excluded_timestamps_v2.2.csv",
            [(r.video_id, ts) for r in part for ts in r.excluded],
        )
        write_csv(
            ann / f"ava_{split}_predicted_boxes.csv",
            [row for r in part for row in r.detection_rows],
        )
    return results


def _balanced_labels(rng: np.random.Generator, classes: Iterable[str], count: int) -> list[str]:
    names = list(classes)
    labels = (names * math.ceil(count / len(names)))[:count]
    return [labels[i] for i in rng.permutation(count)]


def _clip_jobs(
    p: SynthPreset, seed: int, root: Path, dataset: str, classes: tuple[str, ...]
) -> tuple[list, list[dict]]:
    """Jobs for one upstream dataset and the per-clip records used to write its index files."""
    rng = _rng(seed, dataset, 10**6)
    n = p.clip_train + p.clip_val
    labels = _balanced_labels(rng, classes, p.clip_train) + _balanced_labels(
        rng, classes, p.clip_val
    )
    width, height = p.clip_size
    jobs, records = [], []
    ssv2_ids = rng.permutation(np.arange(1000, 1000 + 10 * n))[:n]
    for i, label in enumerate(labels):
        split = "train" if i < p.clip_train else "val"
        yid = _youtube_id(seed, dataset, i)
        record: dict[str, Any] = {"label": label, "split": split, "youtube_id": yid}
        placeholder = ""
        if dataset == "kinetics":
            start = int(rng.integers(0, 300))
            record.update(time_start=start, time_end=start + p.clip_duration)
            path = (
                root
                / "kinetics"
                / "videos"
                / f"{yid}_{start:06d}_{start + p.clip_duration:06d}.mp4"
            )
        elif dataset == "mit":
            record.update(
                file=f"{label}/{yid}.mp4", agree=int(rng.integers(2, _MIT_TOTAL_VOTES + 1))
            )
            path = root / "mit" / "videos" / record["file"]
        else:
            placeholder = str(rng.choice(sorted(SSV2_OBJECTS)))
            record.update(id=str(int(ssv2_ids[i])), placeholder=placeholder)
            path = root / "ssv2" / "videos" / f"{record['id']}.mp4"
        cue = None
        if p.appearance_cues > 0 and dataset != "ssv2":
            cue = appearance_cue(dataset, classes.index(label))
        task = ClipTask(
            dataset,
            label,
            width,
            height,
            p.fps,
            p.clip_duration,
            placeholder,
            cue,
            p.appearance_cues,
            p.ssv2_object_scale,
        )
        jobs.append((task, seed, i, str(path), p.crf))
        records.append(record)
    return jobs, records


def _write_kinetics(root: Path, records: list[dict]) -> None:
    header = ("label", "youtube_id", "time_start", "time_end", "split")
    for split, name in (("train", "train.csv"), ("val", "validate.csv")):
        rows = [tuple(r[k] for k in header) for r in records if r["split"] == split]
        write_csv(root / "kinetics" / name, rows, header=header)


def _write_mit(root: Path, records: list[dict], classes: tuple[str, ...]) -> None:
    for split, name in (("train", "trainingSet.csv"), ("val", "validationSet.csv")):
        rows = [
            (r["file"], r["label"], r["agree"], _MIT_TOTAL_VOTES)
            for r in records
            if r["split"] == split
        ]
        write_csv(root / "mit" / name, rows)
    write_csv(root / "mit" / "moments_categories.txt", [(c, i) for i, c in enumerate(classes)])


def _write_ssv2(root: Path, records: list[dict], templates: tuple[str, ...]) -> None:
    for split, name in (("train", "train"), ("val", "validation")):
        entries = [
            {
                "id": r["id"],
                "label": r["label"].replace("[something]", r["placeholder"]),
                "template": r["label"],
                "placeholders": [r["placeholder"]],
            }
            for r in records
            if r["split"] == split
        ]
        write_json(root / "ssv2" / f"something-something-v2-{name}.json", entries)
    labels = {t.replace("[", "").replace("]", ""): str(i) for i, t in enumerate(templates)}
    write_json(root / "ssv2" / "something-something-v2-labels.json", labels)


def _generate_clips(
    p: SynthPreset, seed: int, root: Path, workers: int, progress: bool
) -> dict[str, list[dict]]:
    vocab = {"kinetics": p.kinetics_classes, "mit": p.mit_classes, "ssv2": p.ssv2_templates}
    all_jobs, records = [], {}
    for dataset, classes in vocab.items():
        jobs, records[dataset] = _clip_jobs(p, seed, root, dataset, classes)
        all_jobs += jobs
    for _ in _dispatch(_clip_task, all_jobs, workers, "clips", progress):
        pass
    _write_kinetics(root, records["kinetics"])
    _write_mit(root, records["mit"], p.mit_classes)
    _write_ssv2(root, records["ssv2"], p.ssv2_templates)
    return records


def _counts(
    results: list[AvaVideoResult], records: dict[str, list[dict]], p: SynthPreset
) -> dict[str, dict[str, Counter]]:
    counts: dict[str, dict[str, Counter]] = {"ava": {"train": Counter(), "val": Counter()}}
    for r in results:
        counts["ava"][r.split].update(p.ava_classes[row[6] - 1] for row in r.gt_rows)
    for dataset, recs in records.items():
        counts[dataset] = {"train": Counter(), "val": Counter()}
        for rec in recs:
            counts[dataset][rec["split"]][rec["label"]] += 1
    return counts


def generate(
    out_dir: str | Path,
    preset: str | SynthPreset = "tiny",
    seed: int = 0,
    workers: int = 1,
    *,
    progress: bool = False,
    **overrides: Any,
) -> SynthSummary:
    """Generate a synthetic AVA + Kinetics + Moments + SSv2 dataset under ``out_dir``.

    Args:
        out_dir: Output root (created; existing files are overwritten).
        preset: ``"tiny"``, ``"bench"``, ``"bench2"`` or a ``SynthPreset``.
        seed: Seed; the same seed gives identical annotations and frames.
        workers: Processes rendering videos (the output does not depend on it).
        progress: Show tqdm progress bars.
        **overrides: ``SynthPreset`` fields to override, e.g. ``ava_train_videos=2``.

    Returns:
        A ``SynthSummary`` with per-class counts and timing.

    Raises:
        ValueError: Unknown preset or override, invalid sizes, ``workers < 1``.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    p = resolve_preset(preset, overrides)
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    (root / "ava" / "annotations").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = _generate_ava(p, seed, root, workers, progress)
    records = _generate_clips(p, seed, root, workers, progress)
    summary = SynthSummary(root=root, preset=p, seed=seed, counts=_counts(results, records, p))
    summary.num_videos = {"ava": len(results), **{d: len(r) for d, r in records.items()}}
    write_json(root / "synth_meta.json", build_meta(p, seed, results, summary.counts))
    summary.seconds = time.perf_counter() - started
    logger.info(
        "synthetic %s dataset (seed %d) written to %s in %.1f s",
        p.name,
        seed,
        root,
        summary.seconds,
    )
    return summary
