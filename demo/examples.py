"""Example clips for the demo: synthetic AVA-like videos generated on first start.

Nothing binary is committed: :func:`ensure_examples` renders the ``tiny`` preset's AVA
validation videos with :func:`training.synth.generate` (about a second) into a cache
folder and keeps them with their AVA predicted-person-box CSV, as AVA ships its videos.
The demo uses that CSV for the videos it has rows for (matched by file name, the AVA
video id) and the person detector for every other upload.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["Examples", "default_cache_dir", "ensure_examples"]

_BOXES_CSV = "ava_val_predicted_boxes.csv"
_DONE = "examples.done"  # written last: a half-generated folder is regenerated


@dataclass(frozen=True)
class Examples:
    """Example videos and the AVA person-box CSV that covers them.

    Attributes:
        videos: ``.mp4`` files, sorted by name.
        boxes_csv: AVA-format person boxes (``video_id, t, x1, y1, x2, y2, , score``) for
            ``videos``, timestamps in AVA movie seconds (video time + 900).
    """

    videos: tuple[Path, ...]
    boxes_csv: Path


def default_cache_dir() -> Path:
    """``$COFIN_DEMO_EXAMPLES``, else ``$XDG_CACHE_HOME/cofin/demo-examples`` (~/.cache)."""
    if os.environ.get("COFIN_DEMO_EXAMPLES"):
        return Path(os.environ["COFIN_DEMO_EXAMPLES"])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "cofin" / "demo-examples"


def ensure_examples(cache_dir: str | os.PathLike | None = None, seed: int = 0) -> Examples:
    """The example clips under ``cache_dir``, generated there on first use.

    Args:
        cache_dir: Folder to keep them in (default :func:`default_cache_dir`).
        seed: Generator seed (the same seed gives the same videos).

    Returns:
        :class:`Examples`.

    Raises:
        ImportError: If ``training.synth`` is not installed (the examples need it).
        OSError: If ``cache_dir`` cannot be written.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if not (root / _DONE).is_file():
        _generate(root, seed)
    videos = tuple(sorted(root.glob("*.mp4")))
    return Examples(videos=videos, boxes_csv=root / _BOXES_CSV)


def _generate(root: Path, seed: int) -> None:
    from training.synth import generate

    root.mkdir(parents=True, exist_ok=True)
    logger.info("generating the demo's example clips in %s", root)
    with tempfile.TemporaryDirectory(dir=root, prefix=".synth-") as tmp:
        # Smallest dataset holding two AVA validation videos; the other splits are dropped.
        generate(tmp, preset="tiny", seed=seed, ava_train_videos=1, clip_train=1, clip_val=1)
        ava = Path(tmp) / "ava"
        for video in (ava / "videos").glob("*.mp4"):
            if _has_rows(ava / "annotations" / _BOXES_CSV, video.stem):
                shutil.move(video, root / video.name)
        shutil.move(ava / "annotations" / _BOXES_CSV, root / _BOXES_CSV)
    (root / _DONE).write_text("ok\n", encoding="utf-8")


def _has_rows(csv_path: Path, video_id: str) -> bool:
    with csv_path.open(encoding="utf-8") as lines:
        return any(line.startswith(f"{video_id},") for line in lines)
