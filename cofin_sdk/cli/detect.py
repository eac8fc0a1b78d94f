"""``cofin detect`` and ``cofin classify``: the Detector from the command line.

Examples::

    cofin detect movie.mp4 --model runs/quickstart/model --json out.json --csv out.csv \\
        --out annotated.mp4
    cofin detect clip.mp4 --model user/cofin-vivit-b --boxes ava_val_predicted_boxes.csv \\
        --time-offset 900 --csv submission.csv
    cofin classify clip.mp4 --model runs/quickstart/model --head kinetics --top-k 5
"""

from __future__ import annotations

import argparse
import collections
import glob
import logging
import sys
from pathlib import Path
from typing import Any

from cofin_sdk.io.paths import check_output_folder, check_output_path

logger = logging.getLogger(__name__)

__all__ = ["register_classify", "register_detect"]

_WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "video",
        help="video file (anything PyAV/FFmpeg can read); for cofin detect also a folder or a "
        "quoted glob pattern ('clips/*.mp4') with --out-dir",
    )
    parser.add_argument(
        "--model",
        required=True,
        help="folder written by save_pretrained, or a Hugging Face Hub repo id",
    )
    parser.add_argument(
        "--revision", help="Hub branch, tag or commit of a --model repo id (default main)"
    )
    parser.add_argument("--cache-dir", help="Hugging Face Hub cache folder (default: HF_HUB_CACHE)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per forward pass")
    parser.add_argument("--json", type=Path, help="write the result as JSON here")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def register_detect(subparsers: Any) -> None:
    """Adds ``cofin detect``."""
    parser = subparsers.add_parser(
        "detect",
        help="person-box action detection on a video",
        description="Detect people on keyframes and score their actions (AVA-style).",
    )
    _add_common(parser)
    parser.add_argument("--head", help="detection head (default: the model's first)")
    parser.add_argument(
        "--boxes",
        type=Path,
        help="AVA-format person-box CSV (video_id,t,x1,y1,x2,y2,action,score); "
        "keyframes default to its timestamps",
    )
    parser.add_argument(
        "--boxes-person-ids",
        action="store_true",
        help="--boxes is AVA ground truth (column 8 = person id, e.g. ava_val_v2.2.csv): every "
        "box is used and, with --track, keeps its person id as its track id",
    )
    parser.add_argument(
        "--video-id",
        help="video_id for --boxes rows and --csv output "
        "(default: the video file name without extension)",
    )
    parser.add_argument(
        "--time-offset",
        type=float,
        default=0.0,
        help="CSV time = video time + this, for --boxes and --csv (900 for AVA 15-minute cuts)",
    )
    parser.add_argument("--every", type=float, help="keyframe spacing in seconds (default 1.0)")
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.3,
        help="hide actions below this score in the summary and drawing",
    )
    parser.add_argument(
        "--person-detector",
        default="hog",
        help="hog | torchvision | PATH (AVA CSV, or Faster R-CNN .pth/.safetensors)",
    )
    parser.add_argument(
        "--person-threshold", type=float, help="minimum person score (default: the detector's own)"
    )
    parser.add_argument("--out", type=Path, help="write an annotated mp4 here")
    parser.add_argument("--csv", type=Path, help="write AVA-format detections CSV here")
    add_tracking(parser)
    many = parser.add_argument_group("many videos (VIDEO is a folder or a glob pattern)")
    many.add_argument("--out-dir", type=Path, help="write OUT/<name>.json per video here")
    many.add_argument(
        "--resume", action="store_true", help="skip videos whose OUT/<name>.json exists"
    )
    parser.set_defaults(func=run_detect)


def add_tracking(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("people over time (tracks and timelines)")
    group.add_argument(
        "--track", action="store_true", help="give each person a track id stable over the video"
    )
    group.add_argument(
        "--track-fps",
        type=float,
        default=5.0,
        help="rate at which people are found between keyframes for tracking (default 5)",
    )
    group.add_argument(
        "--reid",
        action="store_true",
        help="also re-identify people who come back (or whom a shot cut moves) by their "
        "clothes' colours; helps with distinct clothes, merges look-alikes",
    )
    group.add_argument(
        "--timeline", type=Path, help="write per-person action segments here (.csv or .json)"
    )
    group.add_argument(
        "--timeline-threshold", type=float, default=0.5, help="score that opens a segment"
    )
    group.add_argument(
        "--off-threshold",
        type=float,
        help="score below which an open segment closes (default: --timeline-threshold)",
    )
    group.add_argument(
        "--max-gap", type=float, default=1.0, help="merge segments at most this many s apart"
    )
    group.add_argument(
        "--min-duration", type=float, default=0.0, help="drop segments shorter than this (s)"
    )


_TIMELINE_FLAGS = {
    "threshold": "--timeline-threshold ",
    "off_threshold": "--off-threshold ",
    "max_gap_s": "--max-gap ",
    "min_duration_s": "--min-duration ",
}


def timeline_rule(args: argparse.Namespace) -> dict[str, Any]:
    """The timeline flags as ``Detections.timeline`` arguments, checked in CLI words."""
    from cofin_sdk.results.timeline import check_rule
    from cofin_sdk.tracking import check_track_fps

    values = {
        "threshold": args.timeline_threshold,
        "off_threshold": args.off_threshold,
        "max_gap_s": args.max_gap,
        "min_duration_s": args.min_duration,
    }
    check_rule(values, _TIMELINE_FLAGS)
    check_track_fps(args.track_fps, "--track-fps ")
    if args.timeline is not None and not args.track:
        raise ValueError("--timeline needs --track (segments belong to tracked people)")
    if getattr(args, "boxes_person_ids", False) and args.boxes is None:
        raise ValueError("--boxes-person-ids needs --boxes GROUND_TRUTH.csv")
    return values


def write_timeline(timeline: Any, path: Path) -> None:
    """``--timeline``: JSON for a ``.json`` name, CSV otherwise (the suffix is checked first)."""
    if path.suffix.lower() == ".json":
        timeline.to_json(path, indent=2)
    else:
        timeline.to_csv(path)


def register_classify(subparsers: Any) -> None:
    """Adds ``cofin classify``."""
    parser = subparsers.add_parser(
        "classify",
        help="clip classification of a video",
        description="Classify a whole video with one classification head.",
    )
    _add_common(parser)
    parser.add_argument("--head", help="classification head (default: the model's first)")
    parser.add_argument("--top-k", type=int, default=5, help="labels to print")
    parser.add_argument(
        "--num-clips",
        type=int,
        default=1,
        help="clips evenly spaced over the video, probabilities averaged",
    )
    parser.set_defaults(func=run_classify)


def _load_detector(args: argparse.Namespace, **kwargs: Any) -> Any:
    from cofin_sdk.backends import check_device
    from cofin_sdk.detector import Detector

    check_device(args.device, "--device")
    return Detector.from_pretrained(
        args.model,
        device=args.device,
        revision=args.revision,
        cache_dir=args.cache_dir,
        batch_size=args.batch_size,
        progress=not args.no_progress,
        **kwargs,
    )


def _check_inputs(args: argparse.Namespace, outputs: dict[str, tuple[str, ...]]) -> None:
    """Everything that can be checked before the model loads and the video decodes.

    ``outputs``: ``{flag: allowed suffixes}`` of the output flags this command has.
    """
    video = Path(args.video)
    if not video.exists():
        raise FileNotFoundError(f"video not found: {args.video}")
    if video.is_dir():
        raise ValueError(f"{args.video} is a folder; pass a video file")
    for flag, suffixes in outputs.items():
        path = getattr(args, flag.lstrip("-").replace("-", "_"))
        if path is not None:
            check_output_path(path, flag, suffixes)
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")


def _check_head(detector: Any, head: str | None, task: str) -> None:
    """--head names a head of ``task`` (or is unset and the model has one)."""
    from cofin_sdk.detector import resolve_head

    words = {"head": "--head ", "detection": "cofin detect", "classification": "cofin classify"}
    resolve_head(detector.heads, head, task, words)


def _video_id(args: argparse.Namespace) -> str:
    video_id = args.video_id if args.video_id is not None else Path(args.video).stem
    if not video_id or any(c in video_id for c in ',"\n'):
        raise ValueError(
            f"--video-id {video_id!r}: an AVA video id must be non-empty and hold no comma, "
            "quote or newline"
        )
    return video_id


def _person_source(args: argparse.Namespace, video_id: str | None) -> Any:
    """The person detector chosen by --boxes / --person-detector (a name or an object).

    ``video_id=None`` (a folder run): an AVA CSV stays unbound, each video takes its rows.
    """
    from cofin_sdk.person_detection import AvaCsvBoxes, get_person_detector

    kwargs = {} if args.person_threshold is None else {"score_threshold": args.person_threshold}
    csv_path, flag = args.boxes, "--boxes"
    choice = str(args.person_detector)
    if csv_path is None and choice.lower().endswith(".csv"):
        csv_path, flag = Path(choice), "--person-detector"
    if csv_path is not None:
        try:
            if getattr(args, "boxes_person_ids", False):
                kwargs = {"person_ids": True}
            boxes = AvaCsvBoxes(csv_path, time_offset=args.time_offset, **kwargs)
            return boxes if video_id is None else boxes.for_video(video_id)
        except (ValueError, FileNotFoundError) as exc:
            hint = " (or pass --video-id ID)" if "no rows for video id" in str(exc) else ""
            raise type(exc)(f"{flag}: {exc}{hint}") from None
    try:
        if choice.lower().endswith(_WEIGHT_SUFFIXES):
            return get_person_detector("torchvision", weights=choice, device=args.device, **kwargs)
        if choice == "torchvision":
            kwargs["device"] = args.device
        return get_person_detector(choice, **kwargs)
    except (ValueError, FileNotFoundError, TypeError) as exc:
        raise type(exc)(f"--person-detector {choice}: {exc}") from None


def run_detect(args: argparse.Namespace) -> int:
    """Runs ``cofin detect``; prints a summary and the files written.

    Every argument, output path and the video id are checked before the model loads and
    anything is decoded, so a long run is never lost to a typo at the end.
    """
    from cofin_sdk.detector import check_every
    from cofin_sdk.io.video import probe

    if glob.has_magic(args.video) or Path(args.video).is_dir() or args.out_dir is not None:
        return _run_many(args)
    if args.resume:
        raise ValueError("--resume skips videos already in --out-dir: it needs a folder run")
    _check_inputs(
        args, {"--json": (), "--csv": (), "--out": (".mp4",), "--timeline": (".csv", ".json")}
    )
    video_id = _video_id(args)
    if not 0 <= args.threshold <= 1:
        raise ValueError(f"--threshold must be in [0, 1], got {args.threshold}")
    rule = timeline_rule(args)
    info = probe(args.video)
    if args.every is not None:
        check_every(args.every, info.fps, "--every ")
    person = _person_source(args, video_id)
    detector = _load_detector(args, person_detector=person)
    _check_track_head(detector, args)
    result = detector.detect(args.video, **_detect_options(args))
    timeline = result.timeline(**rule) if args.track else None
    print(_detect_summary(result, args.video, timeline))
    written = []
    if args.json:
        result.to_json(args.json, indent=2, timeline=timeline)
        written.append(args.json)
    if args.timeline:
        write_timeline(timeline, args.timeline)
        written.append(args.timeline)
    if args.csv:
        result.to_ava_csv(args.csv, video_id=video_id, timestamp_offset=args.time_offset)
        written.append(args.csv)
    if args.out:
        result.save_video(args.out, args.video)
        written.append(args.out)
    for path in written:
        print(f"wrote {path}")
    return 0


def _detect_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``Detector.detect`` keywords the flags give (one video or a folder alike)."""
    return {
        "every": args.every,
        "threshold": args.threshold,
        "head": args.head,
        "track": args.track,
        "track_fps": args.track_fps,
        "reid": args.reid,
    }


def _check_track_head(detector: Any, args: argparse.Namespace) -> None:
    if args.track and all(spec.task != "detection" for spec in detector.heads.values()):
        raise ValueError(
            "--track follows the people a detection head scores; these weights have only "
            "classification heads (use cofin classify, without --track)"
        )
    _check_head(detector, args.head, "detection")


def _run_many(args: argparse.Namespace) -> int:
    """``cofin detect DIR_OR_GLOB --out-dir OUT``: every video, one model load."""
    from cofin_sdk.detector.many import expand_videos

    if args.out_dir is None:
        raise ValueError(
            f"{args.video} names many videos: pass --out-dir OUT for their results "
            "(one OUT/<name>.json each)"
        )
    for flag in ("json", "csv", "out", "timeline", "video_id"):
        if getattr(args, flag) is not None:
            option = "--" + flag.replace("_", "-")
            raise ValueError(f"{option} is for one video; a folder run writes to --out-dir")
    check_output_folder(args.out_dir, "--out-dir")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if not 0 <= args.threshold <= 1:
        raise ValueError(f"--threshold must be in [0, 1], got {args.threshold}")
    rule = timeline_rule(args)
    videos = expand_videos(args.video, "VIDEO")
    detector = _load_detector(args, person_detector=_person_source(args, None))
    _check_track_head(detector, args)
    report = detector.detect_many(
        videos,
        out_dir=args.out_dir,
        resume=args.resume,
        timeline=rule if args.track else None,
        **_detect_options(args),
    )
    print(
        f"{len(videos)} video(s): {len(report.results)} done, {len(report.skipped)} skipped "
        f"(already in {args.out_dir}), {len(report.failed)} failed; results in {args.out_dir}"
    )
    for video, reason in report.failed.items():
        print(f"failed: {video}: {reason}", file=sys.stderr)
    return 0 if report.ok else 1


def _detect_summary(result: Any, video: str, timeline: Any = None) -> str:
    keyframes = len(set(result.timestamps.tolist()))
    lines = [
        f"{video}: {len(result)} person boxes on {keyframes} keyframe(s) with people "
        f"(person detector: {result.detector}, frame {result.frame_size[0]}x"
        f"{result.frame_size[1]})"
    ]
    if timeline is not None:
        lines.append(
            f"{len(result.tracks())} track(s), {len(timeline)} action segment(s) on the timeline"
        )
    counts = collections.Counter(name for actions in result.top_actions(3) for name, _ in actions)
    if counts:
        top = ", ".join(f"{name} ({n})" for name, n in counts.most_common(5))
        lines.append(f"most frequent actions >= {result.threshold:g}: {top}")
    for time, frame_result in result.keyframes()[:5]:
        labels = "; ".join(label or "-" for label in frame_result.labels(2))
        lines.append(f"  t={time:7.2f}s  {len(frame_result)} person(s): {labels}")
    if keyframes > 5:
        lines.append(f"  ... {keyframes - 5} more keyframes")
    return "\n".join(lines)


def run_classify(args: argparse.Namespace) -> int:
    """Runs ``cofin classify``; prints the top-k labels (arguments checked first)."""
    from cofin_sdk.io.video import probe

    _check_inputs(args, {"--json": ()})
    for flag, value in (("--top-k", args.top_k), ("--num-clips", args.num_clips)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    probe(args.video)
    detector = _load_detector(args, person_detector=None)
    _check_head(detector, args.head, "classification")
    result = detector.classify(
        args.video, head=args.head, top_k=args.top_k, num_clips=args.num_clips
    )
    print(f"{args.video}: head {result.head!r}, {result.num_clips} clip(s)")
    for rank, (name, prob) in enumerate(result.top_k(args.top_k), start=1):
        print(f"  {rank}. {name:<30} {prob:.3f}")
    if args.json:
        result.to_json(args.json, indent=2)
        print(f"wrote {args.json}")
    return 0
