"""Many videos in one call: ``Detector.detect_many`` and ``cofin detect DIR_OR_GLOB``.

One model load serves every video; a progress bar runs over the files; each video gets its
own result (``OUT/<name>.json``: detections, tracks and timeline in one versioned document,
plus ``OUT/<name>.timeline.csv`` when tracking). A video that fails (unreadable, no frames,
...) is reported and skipped, the others still run; with ``resume=True`` a video whose
result file exists is skipped. Result files are written whole or not at all (a temporary
file renamed into place), so an interrupted run never leaves a half file that ``resume``
would take for done.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

__all__ = ["VIDEO_SUFFIXES", "ManyResults", "expand_videos", "run_many"]

logger = logging.getLogger("cofin_sdk.detector")

#: File name endings taken as videos when a folder is given.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts")


@dataclasses.dataclass
class ManyResults:
    """What :meth:`Detector.detect_many` returns.

    Attributes:
        results: ``{video path: Detections}`` of the videos processed in this call.
        failed: ``{video path: one-line reason}`` of the videos that could not be processed.
        skipped: Videos skipped because their result file exists (``resume=True``).
        written: Files written, in order.
    """

    results: dict[Path, Any] = dataclasses.field(default_factory=dict)
    failed: dict[Path, str] = dataclasses.field(default_factory=dict)
    skipped: list[Path] = dataclasses.field(default_factory=list)
    written: list[Path] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no video failed."""
        return not self.failed


def expand_videos(
    spec: str | os.PathLike | Iterable[str | os.PathLike], what: str = "videos"
) -> list[Path]:
    """Video files named by a folder, a glob pattern, a file, or a list of those.

    Args:
        spec: A folder (its files ending in :data:`VIDEO_SUFFIXES`, sorted, not recursive),
            a glob pattern (``"clips/*.mp4"``, ``"**"`` recursive), a file, or a list of them.
        what: How the caller names the argument in messages.

    Raises:
        FileNotFoundError: A path that does not exist.
        ValueError: A folder without videos, a pattern matching no file, or two videos with
            the same file name (their result files would collide).
    """
    items = [spec] if isinstance(spec, (str, os.PathLike)) else list(spec)
    videos: list[Path] = []
    for item in items:
        text = str(item)
        path = Path(item)
        if glob.has_magic(text):
            found = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not found:
                raise ValueError(f"{what} {text!r}: the pattern matches no files")
            videos.extend(found)
        elif path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise ValueError(
                    f"{what} {text}: the folder holds no videos ({', '.join(VIDEO_SUFFIXES[:4])}, ...)"
                )
            videos.extend(found)
        elif path.exists():
            videos.append(path)
        else:
            raise FileNotFoundError(f"{what} {text}: no such file or folder")
    seen: dict[str, Path] = {}
    for video in videos:
        if video.stem in seen and seen[video.stem] != video:
            raise ValueError(
                f"{what}: {seen[video.stem]} and {video} have the same name, so their results "
                "would overwrite each other; process them in separate runs"
            )
        seen[video.stem] = video
    return list(dict.fromkeys(videos))


def result_path(out_dir: Path, video: Path) -> Path:
    """Where the result of ``video`` goes (its presence means done, for ``resume``)."""
    return out_dir / f"{video.stem}.json"


def _write_whole(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def run_many(
    detect: Any,
    videos: Sequence[Path],
    *,
    out_dir: Path | None,
    resume: bool,
    timeline: dict[str, Any] | None,
    progress: bool,
) -> ManyResults:
    """The loop behind ``detect_many``: ``detect(video) -> Detections`` per video.

    ``timeline``: ``Detections.timeline`` arguments when tracking (the timeline then goes
    into the JSON and ``<name>.timeline.csv``), else None.
    """
    report = ManyResults()
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    for video in tqdm(videos, desc="videos", unit="video", disable=not progress):
        if resume and out_dir is not None and result_path(out_dir, video).exists():
            report.skipped.append(video)
            continue
        try:
            result = detect(video)
            segments = result.timeline(**timeline) if timeline is not None else None
        except (
            ValueError,
            OSError,
        ) as exc:  # the SDK's bad-input errors: report, go on (a bug raises)
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            logger.warning("skipping %s: %s", video, reason)
            report.failed[video] = reason
            continue
        report.results[video] = result
        if out_dir is None:
            continue
        target = result_path(out_dir, video)
        if segments is not None:
            csv_path = out_dir / f"{video.stem}.timeline.csv"
            _write_whole(csv_path, segments.to_csv())
            report.written.append(csv_path)
        _write_whole(target, result.to_json(indent=2, timeline=segments))  # last: marks done
        report.written.append(target)
    return report
