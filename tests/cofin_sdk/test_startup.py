"""Light start-up: torch-free imports, a lazy ``cofin`` CLI, one-line CLI errors.

Every import check runs in a clean interpreter (``subprocess``), because this test
process has long imported torch. Timings are in ``benchmarks/startup.py``, not here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap

import pytest

import cofin_sdk
from cofin_sdk.cli.main import _command_name, _run, build_parser

HELP_COLUMNS = "100"  # argparse wraps to $COLUMNS: the same width here and in the child


def run_python(code: str, cwd: os.PathLike[str] | str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS=HELP_COLUMNS)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )


# ------------------------------------------------------------------ imports
@pytest.mark.parametrize(
    "code",
    [
        "import cofin_sdk.results",
        "import cofin_sdk.results.classifications",
        "import cofin_sdk.io.video",
        "import cofin_sdk; cofin_sdk.Detections; cofin_sdk.Classifications; cofin_sdk.probe",
        "from cofin_sdk import Detections, VideoInfo, read_clip",
        "import cofin_sdk.formats.boxes",
        "import cofin_sdk.formats.ava",
        "import cofin_sdk.models.record; cofin_sdk.models.record.read_model_record",
        "import cofin_sdk.preprocessing; cofin_sdk.preprocessing.Letterbox",
        "import cofin_sdk.person_detection; cofin_sdk.person_detection.AvaCsvBoxes",
        "from cofin_sdk import Preprocessing, Letterbox, GivenBoxes, AvaCsvBoxes, HeadSpec",
        "import training.synth.cli, training.train, training.evaluation.cli, training.quickstart",
    ],
)
def test_import_does_not_load_torch(code):
    result = run_python(f"{code}\nimport sys\nprint('torch' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False", f"{code!r} imported torch"


def test_from_cofin_sdk_import_detector_still_works():
    result = run_python("""
        import sys
        from cofin_sdk import Detector
        assert "torch" not in sys.modules  # the facade itself is light; models bring torch
        import cofin_sdk, cofin_sdk.detector
        assert Detector is cofin_sdk.detector.Detector
        assert set(cofin_sdk.__all__) <= set(dir(cofin_sdk))
        for name in cofin_sdk.__all__:
            getattr(cofin_sdk, name)
        assert cofin_sdk.models.create_model is cofin_sdk.create_model  # old submodule access
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_lazy_names_match_all_and_unknown_names_raise():
    assert set(cofin_sdk._LAZY_NAMES) | {"__version__"} == set(cofin_sdk.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        cofin_sdk.nope  # noqa: B018


# ------------------------------------------------------------------ CLI start-up
COMMANDS = ["detect", "classify", "eval-ava", "eval", "train", "synth", "quickstart"]


@pytest.mark.parametrize("argv", [["--help"]] + [[name, "--help"] for name in COMMANDS])
def test_cli_help_is_the_full_help_without_torch(argv, monkeypatch):
    result = run_python(f"""
        import sys
        from cofin_sdk.cli.main import main
        try:
            main({argv!r})
        except SystemExit as exc:
            assert exc.code == 0, exc.code
        print("torch" in sys.modules, file=sys.stderr)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "False", f"cofin {' '.join(argv)} imported torch"
    # Reference: the parser with every entry point loaded (same sorted order, same width).
    monkeypatch.setenv("COLUMNS", HELP_COLUMNS)
    full = build_parser()
    if argv[0] != "--help":
        full = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
        full = full.choices[argv[0]]
    assert result.stdout == full.format_help()


@pytest.mark.parametrize(
    "argv, command",
    [(["--help"], None), ([], None), (["-v", "--debug", "detect", "x.mp4"], "detect")],
)
def test_command_name_is_the_first_non_option(argv, command):
    assert _command_name(argv) == command


# ------------------------------------------------------------------ CLI errors
DETECT_MISSING = ["detect", "missing.mp4", "--model", "/nonexistent"]


@pytest.mark.parametrize(
    "argv, traceback",
    [
        (DETECT_MISSING, False),
        (["-v", *DETECT_MISSING], False),
        (["--debug", *DETECT_MISSING], True),
        ([*DETECT_MISSING, "--debug"], True),  # also accepted after the sub-command
    ],
)
def test_cli_error_is_one_line_and_debug_adds_the_traceback(tmp_path, argv, traceback):
    result = run_python(
        f"import sys; from cofin_sdk.cli.main import main; sys.exit(main({argv!r}))", cwd=tmp_path
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[-1].startswith("cofin detect: error: ")
    assert ("Traceback" in result.stderr) is traceback
    if not traceback:
        log_levels = ("DEBUG ", "INFO ", "WARNING ")  # -v logs; everything else is the error
        lines = [line for line in result.stderr.splitlines() if not line.startswith(log_levels)]
        assert len(lines) == 1, result.stderr


def _raiser(exc: BaseException):
    def func(args: argparse.Namespace) -> int:
        raise exc

    return func


def _safetensors_error() -> Exception:
    from safetensors import SafetensorError

    return SafetensorError("Error while deserializing header: header too small")


@pytest.mark.parametrize(
    "exc, code, line",
    [
        (ValueError("bad --every"), 1, "cofin x: error: bad --every"),
        (FileNotFoundError("no such video"), 1, "cofin x: error: no such video"),
        (PermissionError("denied"), 1, "cofin x: error: denied"),
        (IsADirectoryError("a folder"), 1, "cofin x: error: a folder"),
        (KeyError("head"), 1, "cofin x: error: 'head'"),
        (ImportError("No module named 'gradio'"), 1, "cofin x: error: No module named 'gradio'"),
        (RuntimeError("Found no NVIDIA driver"), 1, "cofin x: error: Found no NVIDIA driver"),
        (_safetensors_error(), 1, "cofin x: error: Error while deserializing header"),
        (KeyboardInterrupt(), 130, "cofin x: interrupted"),
        (
            AttributeError("'NoneType' object has no attribute 'shape'"),
            1,
            "cofin x: error: AttributeError: 'NoneType' object has no attribute 'shape' "
            "(run with --debug for the traceback)",
        ),
        (ImportError(), 1, "cofin x: error: ImportError (run with --debug for the traceback)"),
    ],
)
@pytest.mark.parametrize("debug", [False, True])
def test_run_reports_errors_by_kind(exc, code, line, debug, capsys):
    import torch  # noqa: F401  (a bare RuntimeError counts as torch's only once torch is loaded)

    args = argparse.Namespace(func=_raiser(exc), command="x", debug=debug)
    assert _run(args) == code
    err = capsys.readouterr().err
    assert ("Traceback" in err) is debug
    expected = line.removesuffix(" (run with --debug for the traceback)") if debug else line
    assert err.splitlines()[-1].startswith(expected)
