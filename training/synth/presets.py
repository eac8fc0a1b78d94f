"""Generator presets.

``tiny`` (test fixture; ~3 s on one idle core, < 10 s on a loaded machine):
    AVA: 6 videos (4 train, 2 val) × 10 s at 96×72, 10 fps, 12 classes
    (10 evaluated), up to 3 actors per frame, keyframes 902…908 (~100 box-labels);
    Kinetics-like 8 classes, Moments-like 6, SSv2-like 6; 24 clips each
    (18 train, 6 val) × 2 s at 64×48, 10 fps.
``bench`` (miniature co-finetuning study on a 2-core CPU; ~45 s with ``--workers 2``):
    AVA: 52 videos (40 train, 12 val) × 24 s at 128×96, 15 fps, 24 classes
    (21 evaluated), up to 4 actors, keyframes 902…922 (1,092 keyframes;
    seed 0: ~3,500 train / ~1,000 val box-labels, from ~900 for ``stand``
    down to ~5-20 for the rarest classes, so head/mid/tail are all populated);
    Kinetics-like 16 classes, Moments-like 10, SSv2-like 10; 600 clips each
    (480 train, 120 val, balanced) × 3 s at 128×96, 15 fps.

``bench2`` (the learnable bench of issue 13; ~40 s with ``--workers 2``): smaller
    frames, more data, and appearance cues on the upstream classes:
    AVA: 160 videos (128 train, 32 val) × 20 s at 96×72, 10 fps, the 24 ``bench`` classes
    (21 evaluated), up to 3 actors 1.6× as tall as in ``bench`` (0.58-0.9 of the frame
    height, so a gesture spans more than one 12-px token); 2,010 training keyframes;
    Kinetics-like 16 / Moments-like 10 / SSv2-like 10 classes; 1,120 clips each (960
    train, 160 val, balanced) × 2 s at 96×72, 10 fps. Kinetics-/Moments-like classes
    show a scene colour, a clothing colour and a landmark object typical of the class,
    each with probability 0.6 (``taxonomy.appearance_cue``; listed per class in
    ``synth_meta.json``); SSv2-like objects and hand are 1.8× as large as in ``bench``.

All videos are H.264 (yuv420p, CRF 23, one keyframe per second).
"""

from __future__ import annotations

from dataclasses import dataclass

from training.synth.taxonomy import KINETICS_SPECS, MIT_SPECS, SSV2_TEMPLATES

__all__ = ["SynthPreset", "PRESETS"]

_BENCH_AVA = (
    "stand", "walk", "sit", "run", "lie_down", "crouch", "jump", "spin", "fall",
    "talk_to", "watch", "carry", "wave", "point", "phone", "hand_shake", "push",
    "clap", "drink", "hug", "hit", "throw", "kick", "give",
)  # fmt: skip
_TINY_AVA = (
    "stand",
    "walk",
    "sit",
    "run",
    "lie_down",
    "jump",
    "fall",
    "talk_to",
    "carry",
    "wave",
    "hand_shake",
    "push",
)


@dataclass(frozen=True)
class SynthPreset:
    """All knobs of one synthetic dataset (override any with ``generate(**overrides)``).

    Attributes:
        name: Preset name.
        ava_classes: AVA-like class names; class id = position + 1.
        ava_not_evaluated: Classes left out of the 2019-style evaluated label map.
        ava_train_videos, ava_val_videos: Number of AVA-like videos per split.
        ava_duration: Length of each AVA-like video in seconds.
        ava_size: (width, height) of AVA-like videos.
        max_actors: Maximum actors on screen.
        fps: Frame rate of every video.
        kinetics_classes, mit_classes, ssv2_templates: Upstream vocabularies.
        clip_train, clip_val: Clips per split and upstream dataset.
        clip_duration: Upstream clip length in seconds (integer).
        clip_size: (width, height) of upstream clips.
        crf: x264 quality.
        ava_actor_scale: Height multiplier of the AVA-like actors (1.0: 0.36-0.56 of the
            frame height).
        appearance_cues: Probability that each appearance cue of a Kinetics-/Moments-like
            class (scene colour, clothing colour, landmark) is shown; 0 = no cues.
        ssv2_object_scale: Size multiplier of the SSv2-like object and hand (1.0: objects
            10-16 % of the clip width across).
    """

    name: str
    ava_classes: tuple[str, ...]
    ava_not_evaluated: tuple[str, ...]
    ava_train_videos: int
    ava_val_videos: int
    ava_duration: int
    ava_size: tuple[int, int]
    max_actors: int
    fps: int
    kinetics_classes: tuple[str, ...]
    mit_classes: tuple[str, ...]
    ssv2_templates: tuple[str, ...]
    clip_train: int
    clip_val: int
    clip_duration: int
    clip_size: tuple[int, int]
    crf: int = 23
    appearance_cues: float = 0.0
    ava_actor_scale: float = 1.0
    ssv2_object_scale: float = 1.0

    def __post_init__(self) -> None:
        unknown = [c for c in self.ava_not_evaluated if c not in self.ava_classes]
        if unknown:
            raise ValueError(f"ava_not_evaluated has classes not in ava_classes: {unknown}")
        if self.ava_duration < 5:
            raise ValueError(
                f"ava_duration must be >= 5 s (keyframes 2..duration-2), got {self.ava_duration}"
            )
        if not 0.5 <= self.ava_actor_scale <= 1.6:
            raise ValueError(f"ava_actor_scale must be in [0.5, 1.6], got {self.ava_actor_scale}")
        if not 0.5 <= self.ssv2_object_scale <= 2.0:
            raise ValueError(
                f"ssv2_object_scale must be in [0.5, 2.0], got {self.ssv2_object_scale}"
            )
        if not 0.0 <= self.appearance_cues <= 1.0:
            raise ValueError(f"appearance_cues must be in [0, 1], got {self.appearance_cues}")
        if min(self.ava_train_videos, self.ava_val_videos, self.clip_train, self.clip_val) < 1:
            raise ValueError("every split needs at least one video/clip")
        for w, h in (self.ava_size, self.clip_size):
            if w % 2 or h % 2 or w < 32 or h < 24:
                raise ValueError(
                    f"sizes must be even and at least 32x24 (H.264 yuv420p), got {w}x{h}"
                )


PRESETS: dict[str, SynthPreset] = {
    "tiny": SynthPreset(
        name="tiny",
        ava_classes=_TINY_AVA,
        ava_not_evaluated=("jump", "push"),
        ava_train_videos=4,
        ava_val_videos=2,
        ava_duration=10,
        ava_size=(96, 72),
        max_actors=3,
        fps=10,
        kinetics_classes=tuple(list(KINETICS_SPECS)[:8]),
        mit_classes=tuple(list(MIT_SPECS)[:6]),
        ssv2_templates=tuple(list(SSV2_TEMPLATES)[:6]),
        clip_train=18,
        clip_val=6,
        clip_duration=2,
        clip_size=(64, 48),
    ),
    "bench": SynthPreset(
        name="bench",
        ava_classes=_BENCH_AVA,
        ava_not_evaluated=("throw", "kick", "give"),
        ava_train_videos=40,
        ava_val_videos=12,
        ava_duration=24,
        ava_size=(128, 96),
        max_actors=4,
        fps=15,
        kinetics_classes=tuple(KINETICS_SPECS),
        mit_classes=tuple(MIT_SPECS),
        ssv2_templates=tuple(SSV2_TEMPLATES),
        clip_train=480,
        clip_val=120,
        clip_duration=3,
        clip_size=(128, 96),
    ),
    "bench2": SynthPreset(
        name="bench2",
        ava_classes=_BENCH_AVA,
        ava_not_evaluated=("throw", "kick", "give"),
        ava_train_videos=128,
        ava_val_videos=32,
        ava_duration=20,
        ava_size=(96, 72),
        max_actors=3,
        fps=10,
        kinetics_classes=tuple(KINETICS_SPECS),
        mit_classes=tuple(MIT_SPECS),
        ssv2_templates=tuple(SSV2_TEMPLATES),
        clip_train=960,
        clip_val=160,
        clip_duration=2,
        clip_size=(96, 72),
        appearance_cues=0.6,
        ava_actor_scale=1.6,
        ssv2_object_scale=1.8,
    ),
}
