"""Checks the ``cofin`` sub-commands run on their arguments before any long work starts
(light: no torch), so a typo in an output path never costs a finished run."""

from __future__ import annotations

from pathlib import Path

__all__ = ["check_output_path"]


def check_output_path(path: Path, flag: str, suffixes: tuple[str, ...] = ()) -> None:
    """A path the command may write: not a folder, in an existing writable folder.

    Raises:
        ValueError: Naming ``flag`` and the fix.
    """
    import tempfile

    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"{flag} {path}: expected a {' or '.join(suffixes)} file name")
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; give a file name, e.g. {path / 'out'}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{flag} {path}: folder {parent} does not exist; create it first")
    try:  # a real probe: permission bits say nothing for root or read-only mounts
        if path.exists():
            with open(path, "ab"):
                pass
        else:
            with tempfile.TemporaryFile(dir=parent):
                pass
    except OSError as exc:
        raise ValueError(
            f"{flag} {path}: not writable ({exc.strerror}); choose another place"
        ) from None
