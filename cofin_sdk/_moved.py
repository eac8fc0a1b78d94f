"""Old module paths of the SDK (before the subpackages), kept importable for one release.

``import cofin_sdk.video`` still works and gives THE module :mod:`cofin_sdk.io.video`
(the same object, so patching either name patches both), with a ``DeprecationWarning``
naming the new path. One meta-path finder serves every old name, so the package root
holds no stub files; nothing is imported until an old name is.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from pathlib import Path
from types import ModuleType

__all__ = ["MOVED", "install"]

#: Old module path -> the module that replaced it.
MOVED: dict[str, str] = {
    f"cofin_sdk.{old}": f"cofin_sdk.{new}"
    for old, new in {
        "video": "io.video",
        "clip_rule": "io.clip_rule",
        "_video_writer": "io.writer",
        "_video_sources": "io.sources",
        "_clips": "io.clips",
        "boxes": "formats.boxes",
        "ava_format": "formats.ava",
        "_ava_csv": "formats._ava_csv",
        "record": "models.record",
        "model_card": "models.card",
        "hub_cache": "models.hub_cache",
        "classifications": "results.classifications",
        "_results_common": "results._common",
        "_drawing": "results.drawing",
        "_export_format": "export.format",
        "_tensorrt": "export.tensorrt",
        "publish": "hub.publish",
        "_cli": "cli.main",
        "_cli_checks": "io.paths",
        "_cli_detect": "cli.detect",
        "_cli_export": "cli.export",
        "_cli_push": "cli.push",
        "_detector_inputs": "detector.inputs",
        "_detector_many": "detector.many",
        "_detector_stream": "detector.stream",
    }.items()
}


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(MOVED[fullname]))


class _AliasLoader(importlib.abc.Loader):
    """Loads an old name as the new module itself (no copy, no wrapper)."""

    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self.new}; the old path goes away in the next release",
            DeprecationWarning,
            stacklevel=_importer_stacklevel(),
        )
        module = importlib.import_module(self.new)
        self.spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system has just set module.__spec__ to the alias spec: put back the
        # module's own (its name, file and loader stay the new module's).
        module.__spec__ = self.spec


def _importer_stacklevel() -> int:
    """The ``stacklevel`` of the frame that wrote the import, for ``warnings.warn`` called
    in :meth:`_AliasLoader.create_module`. ``warnings`` does not count importlib's
    ``_bootstrap`` frames; ``importlib.import_module``'s frame it does."""
    frame, level = sys._getframe(2), 2  # the caller of create_module
    while frame is not None:
        name = frame.f_code.co_filename
        internal = "importlib" in name and "_bootstrap" in name
        if not internal and Path(name).parent.name != "importlib" and name != __file__:
            return level
        level += 0 if internal else 1
        frame = frame.f_back
    return level


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
