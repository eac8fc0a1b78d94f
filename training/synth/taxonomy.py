"""Class vocabularies of the synthetic datasets and how each class is animated.

AVA-like classes are split in two kinds, as in AVA itself:

* **poses** (exactly one per actor and keyframe): the body state, e.g. ``stand``,
  ``walk``, ``run``, ``fall``;
* **add-ons** (0-2 per actor): gestures, object and person interactions, e.g.
  ``wave``, ``carry``, ``hand_shake``. Pair add-ons need a partner actor.

Sampling weights make the AVA-like label distribution long-tailed. The
upstream clip-classification datasets reuse the same motion primitives
(Kinetics-like, Moments-like) or a different domain (SSv2-like object
manipulations), so co-finetuning has something to transfer.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AddonSpec",
    "ClipSpec",
    "POSE_WEIGHTS",
    "ADDONS",
    "KINETICS_SPECS",
    "MIT_SPECS",
    "SSV2_TEMPLATES",
    "SSV2_OBJECTS",
    "AppearanceCue",
    "SCENE_COLORS",
    "LANDMARKS",
    "appearance_cue",
    "distinctive_motions",
]

# Per-shot sampling weight of each pose (long-tailed on purpose).
POSE_WEIGHTS: dict[str, float] = {
    "stand": 0.34,
    "walk": 0.18,
    "sit": 0.16,
    "run": 0.07,
    "lie_down": 0.05,
    "crouch": 0.06,
    "jump": 0.04,
    "spin": 0.025,
    "fall": 0.03,
}


@dataclass(frozen=True)
class AddonSpec:
    """How an add-on class may be combined with poses and other add-ons.

    Attributes:
        weight: Relative sampling weight (long tail).
        poses: Poses the add-on can be performed in.
        arms: Number of arms it occupies (an actor has two).
        pair: Whether it needs a partner actor.
        partner_label: For pair add-ons, the label the partner receives
            (``None``: the partner gets no extra label).
    """

    weight: float
    poses: tuple[str, ...]
    arms: int = 0
    pair: bool = False
    partner_label: str | None = None


ADDONS: dict[str, AddonSpec] = {
    "talk_to": AddonSpec(0.26, ("stand", "sit"), 0, True, "watch"),
    "watch": AddonSpec(0.12, ("stand", "sit"), 0, True, None),
    "carry": AddonSpec(0.10, ("stand", "walk", "run"), 2),
    "wave": AddonSpec(0.07, ("stand", "walk", "sit", "jump"), 1),
    "point": AddonSpec(0.05, ("stand", "sit", "walk"), 1),
    "phone": AddonSpec(0.045, ("stand", "walk", "sit", "lie_down"), 1),
    "hand_shake": AddonSpec(0.06, ("stand",), 1, True, "hand_shake"),
    "push": AddonSpec(0.04, ("stand",), 2, True, None),
    "clap": AddonSpec(0.03, ("stand", "sit", "jump"), 2),
    "drink": AddonSpec(0.03, ("stand", "sit", "walk"), 1),
    "hug": AddonSpec(0.03, ("stand",), 2, True, "hug"),
    "hit": AddonSpec(0.025, ("stand",), 1, True, None),
    "throw": AddonSpec(0.015, ("stand",), 1),
    "kick": AddonSpec(0.012, ("stand",), 0),
    "give": AddonSpec(0.015, ("stand",), 1, True, None),
    # Not AVA classes: motions only used by the upstream datasets.
    "juggle": AddonSpec(0.0, ("stand",), 2),
    "rope": AddonSpec(0.0, ("jump",), 2),
    "dribble": AddonSpec(0.0, ("stand", "walk"), 1),
    "stretch": AddonSpec(0.0, ("stand",), 2),
}


@dataclass(frozen=True)
class ClipSpec:
    """One way to animate an upstream clip class.

    Attributes:
        pose: Pose of every actor (``""`` for an object-only clip).
        addons: Add-ons of every actor (a pair add-on makes the actors a pair).
        objects: Name of an object-only motion (see ``scenes.OBJECT_MOTIONS``).
        group: Whether several actors may do the action together.
    """

    pose: str = ""
    addons: tuple[str, ...] = ()
    objects: str = ""
    group: bool = True


KINETICS_SPECS: dict[str, tuple[ClipSpec, ...]] = {
    "walking": (ClipSpec("walk"),),
    "jogging": (ClipSpec("run"),),
    "jumping": (ClipSpec("jump"),),
    "waving hand": (ClipSpec("stand", ("wave",)),),
    "shaking hands": (ClipSpec("stand", ("hand_shake",), group=False),),
    "faceplanting": (ClipSpec("fall"),),
    "juggling balls": (ClipSpec("stand", ("juggle",)),),
    "dribbling basketball": (ClipSpec("stand", ("dribble",)), ClipSpec("walk", ("dribble",))),
    "clapping": (ClipSpec("stand", ("clap",)),),
    "hugging": (ClipSpec("stand", ("hug",), group=False),),
    "punching person": (ClipSpec("stand", ("hit",), group=False),),
    "kicking": (ClipSpec("stand", ("kick",)),),
    "pirouetting": (ClipSpec("spin"),),
    "carrying box": (ClipSpec("walk", ("carry",)), ClipSpec("stand", ("carry",))),
    "skipping rope": (ClipSpec("jump", ("rope",)),),
    "stretching arms": (ClipSpec("stand", ("stretch",)),),
}

MIT_SPECS: dict[str, tuple[ClipSpec, ...]] = {
    "speeding": (ClipSpec("run"), ClipSpec(objects="fast")),
    "rotating": (ClipSpec("spin"), ClipSpec(objects="rotating")),
    "touching": (
        ClipSpec("stand", ("hand_shake",), group=False),
        ClipSpec("stand", ("hug",), group=False),
        ClipSpec(objects="touching"),
    ),
    "falling": (ClipSpec("fall"), ClipSpec(objects="dropping")),
    "resting": (ClipSpec("stand"), ClipSpec("sit"), ClipSpec(objects="static")),
    "bouncing": (ClipSpec("jump"), ClipSpec(objects="bouncing")),
    "waving": (ClipSpec("stand", ("wave",)), ClipSpec(objects="flag")),
    "crouching": (ClipSpec("crouch"),),
    "drifting": (ClipSpec("walk"), ClipSpec(objects="drifting")),
    "colliding": (ClipSpec("stand", ("push",), group=False), ClipSpec(objects="colliding")),
}

# SSv2-like templates: (template, motion name used by ``manipulation.py``).
SSV2_TEMPLATES: dict[str, str] = {
    "Pushing [something] from left to right": "push_lr",
    "Pushing [something] from right to left": "push_rl",
    "Lifting [something] up": "lift",
    "Putting [something] down": "put_down",
    "Dropping [something]": "drop",
    "Pretending to push [something]": "pretend_push",
    "Pulling [something] from left to right": "pull_lr",
    "Pulling [something] from right to left": "pull_rl",
    "Turning [something] upside down": "turn",
    "Moving [something] closer to the camera": "closer",
}

# Object placeholder names and the shape drawn for them.
SSV2_OBJECTS: dict[str, str] = {
    "a box": "box",
    "a ball": "ball",
    "a cup": "cup",
    "a book": "book",
    "a bottle": "bottle",
}


# ---------------------------------------------------------------- appearance cues (bench2)
# Real Kinetics is largely solvable from appearance and context (basketball courts,
# swimming pools, uniforms). With ``SynthPreset.appearance_cues = p > 0`` each
# Kinetics-/Moments-like class gets a scene colour, a clothing colour of the main actor
# and a landmark object in the backdrop; each cue is shown independently with
# probability p, otherwise that element is random. SSv2-like clips get no cues (as in
# real SSv2, the class is the manipulation). AVA-like videos get no cues either, so
# upstream appearance shortcuts do not transfer; only motion does.

SCENE_COLORS: dict[str, tuple[int, int, int]] = {
    "court": (185, 120, 70),
    "grass": (80, 145, 70),
    "street": (105, 110, 125),
    "beach": (215, 195, 140),
    "snow": (225, 230, 235),
    "pool": (60, 125, 185),
    "night": (40, 40, 62),
    "studio": (150, 80, 115),
}
LANDMARKS: tuple[str, ...] = ("hoop", "goal", "table", "tree", "lamp")


@dataclass(frozen=True)
class AppearanceCue:
    """What a clip class looks like when its cues are shown.

    Attributes:
        scene: Key of ``SCENE_COLORS`` (backdrop base colour).
        clothing: Index into ``scenes.ACTOR_PALETTE`` worn by the main actor.
        landmark: One of ``LANDMARKS``, drawn into the backdrop.
    """

    scene: str
    clothing: int
    landmark: str


def appearance_cue(dataset: str, index: int) -> AppearanceCue:
    """The cue of class ``index`` of ``dataset`` (deterministic, documented in synth_meta).

    Two classes share a scene colour every 8 classes, but then differ in clothing (the
    ``index // 8`` term) and usually in the landmark, so no single cue identifies a class.
    """
    scenes = list(SCENE_COLORS)
    shift = 3 if dataset == "mit" else 0  # Moments classes do not copy Kinetics' cues
    scene = scenes[(index + shift) % len(scenes)]
    clothing = (3 * index + index // len(scenes) + shift) % 8
    return AppearanceCue(scene, clothing, LANDMARKS[(index + 2 * shift) % len(LANDMARKS)])


def distinctive_motions(specs: tuple[ClipSpec, ...]) -> list[str]:
    """The motion(s) that define a clip class: its add-ons if any, else its pose/object motion."""
    out: list[str] = []
    for spec in specs:
        names = list(spec.addons) or ([spec.pose] if spec.pose else [f"object:{spec.objects}"])
        out += [n for n in names if n not in out]
    return out
