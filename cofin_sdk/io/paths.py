"""Checks on output paths made before any long work starts (light: no torch), so a typo
in an output path never costs a finished run: by the ``cofin`` sub-commands, the export
and training. Here, below them all, rather than in the CLI that most uses them."""

from __future__ import annotations

from pathlib import Path

__all__ = ["check_output_folder", "check_output_path"]


def check_output_path(path: Path, flag: str, suffixes: tuple[str, ...] = ()) -> None:
    """A path the command may write: not a folder, in an existing writable folder.

    Raises:
        ValueError: Naming ``flag`` and the fix.
    """
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"{flag} {path}: expected a {' or '.join(suffixes)} file name")
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; give a file name, e.g. {path / 'out'}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ValueError(f"{flag} {path}: folder {parent} does not exist; create it first")
    if path.exists():
        try:
            with open(path, "ab"):
                pass
        except OSError as exc:
            raise ValueError(
                f"{flag} {path}: not writable ({exc.strerror}); choose another place"
            ) from None
    else:
        _probe(parent, f"{flag} {path}")


def check_output_folder(folder: Path, flag: str) -> None:
    """A folder the command may create or write into: its nearest existing ancestor is a
    writable folder (checked before any work, nothing created).

    Raises:
        ValueError: Naming ``flag`` and the fix.
    """
    label = f"{flag}{folder}" if flag.endswith("=") else f"{flag} {folder}"  # key= or --flag
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{label}: {existing} is a file, not a folder")
    _probe(existing, label)


def _probe(folder: Path, what: str) -> None:
    """A real write probe: permission bits say nothing for root or read-only mounts."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ValueError(f"{what}: not writable ({exc.strerror}); choose another place") from None
