"""Old module paths (before the subpackages, issue 18) still import, for one release.

Each old path must give THE new module (the same object, so patching one patches both),
warn once with a ``DeprecationWarning`` naming the new path at the line that imported
it, and keep every name it had. Runs in a clean interpreter: this process has imported
the new modules long ago, and a module warns only when first imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

# The SDK's root modules before issue 18 that now live in a subpackage. Written out here,
# not read from cofin_sdk._moved, so dropping an old path from the finder fails this test.
OLD_PATHS = [
    "_ava_csv",
    "_cli",
    "_cli_checks",
    "_cli_detect",
    "_cli_export",
    "_cli_push",
    "_clips",
    "_drawing",
    "_export_format",
    "_results_common",
    "_tensorrt",
    "_video_sources",
    "_video_writer",
    "ava_format",
    "boxes",
    "classifications",
    "clip_rule",
    "hub_cache",
    "model_card",
    "publish",
    "record",
    "video",
]

# Old modules whose path is now a subpackage: the subpackage keeps their public names.
SAME_PATH_NAMES = {
    "results": ["Classifications", "Detections", "PERSON_DETECTOR_NAMES"],
    "export": ["export", "read_export", "EXPORT_FILE", "FORMATS", "check_opset", "check_tensorrt"],
}

_CHILD = """
import importlib, json, sys, warnings

out = {}
for old in OLD:
    full = "cofin_sdk." + old
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(f"import {full} as module", globals())  # the importing line: "<string>"
    new = module.__name__
    import cofin_sdk
    out[old] = {
        "new": new,
        "same": module is importlib.import_module(new) is sys.modules[full],
        "attribute": getattr(cofin_sdk, old) is module,
        "spec": module.__spec__.name,
        "names": sorted(n for n in getattr(module, "__all__", []) if not hasattr(module, n)),
        "warnings": [
            [w.category.__name__, str(w.message), w.filename] for w in caught
            if "cofin_sdk" in str(w.message)
        ],
    }
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def old_imports() -> dict[str, dict]:
    code = f"OLD = {OLD_PATHS!r}\n{textwrap.dedent(_CHILD)}"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("old", OLD_PATHS)
def test_old_path_is_the_new_module(old_imports, old):
    got = old_imports[old]
    new = got["new"]
    assert new != f"cofin_sdk.{old}" and new.count(".") == 2, f"{old} is not in a subpackage"
    assert got["same"], f"cofin_sdk.{old} is a copy of {new}, not the module itself"
    assert got["attribute"], f"cofin_sdk.{old} as an attribute is not {new}"
    assert got["spec"] == new, "the alias overwrote the module's __spec__"
    assert got["names"] == [], f"{new} lacks names of cofin_sdk.{old}: {got['names']}"


@pytest.mark.parametrize("old", OLD_PATHS)
def test_old_path_warns_at_the_importing_line(old_imports, old):
    got = old_imports[old]
    assert got["warnings"] == [
        [
            "DeprecationWarning",
            f"cofin_sdk.{old} moved to {got['new']}; the old path goes away in the next release",
            "<string>",
        ]
    ]


@pytest.mark.parametrize("package", sorted(SAME_PATH_NAMES))
def test_module_turned_subpackage_keeps_its_names(package):
    import importlib

    module = importlib.import_module(f"cofin_sdk.{package}")
    assert hasattr(module, "__path__"), f"cofin_sdk.{package} is no longer a subpackage"
    for name in SAME_PATH_NAMES[package]:
        value = getattr(module, name)
        assert value is getattr(importlib.import_module(value_module(value, module)), name)


def value_module(value: object, package: object) -> str:
    """The module defining ``value`` (constants: looked up in the package's submodules)."""
    name = getattr(value, "__module__", None)
    return name if isinstance(name, str) else package.__name__


def test_new_code_imports_no_old_path():
    """The SDK, training, serving and demo use the new paths (no DeprecationWarning)."""
    code = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
        "import cofin_sdk.cli.main, cofin_sdk.detector, cofin_sdk.export.onnx, "
        "cofin_sdk.hub.publish, cofin_sdk.models.hub, cofin_sdk.results.drawing, "
        "cofin_sdk.backends.onnx_backend, training.trainer, serving.repository"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
