"""The guard process alone (no tritonserver, ~2 s): closing its lifeline stops the command
(SIGTERM, then SIGKILL after ``--grace``) and removes the backend folder; its exit status
is the command's."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from serving.server import _GUARD

# the command prints its pid, then sleeps; "stubborn" ignores SIGTERM
POLITE = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
STUBBORN = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); " + POLITE


def _guard(command: list[str], *flags: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-I", str(_GUARD), *flags, "--", *command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize(("code", "returncode"), [(POLITE, -signal.SIGTERM), (STUBBORN, -9)])
def test_end_of_lifeline_stops_the_command_and_removes_the_folder(tmp_path, code, returncode):
    folder = tmp_path / "backends"
    (folder / "python").mkdir(parents=True)
    guard = _guard([sys.executable, "-c", code], f"--backend-dir={folder}", "--grace=0.5")
    try:
        pid = int(guard.stdout.readline())
        assert not _gone(pid) and folder.exists()
        guard.stdin.close()  # what the launcher's death does
        assert guard.wait(timeout=10) == returncode
        assert _gone(pid) and not folder.exists()
    finally:
        if guard.poll() is None:
            guard.kill()
            guard.wait()


def test_the_exit_status_is_the_commands(tmp_path):
    guard = _guard(["sh", "-c", "exit 3"], f"--backend-dir={tmp_path / 'none'}")
    assert guard.wait(timeout=10) == 3
    guard.stdin.close()
    guard.stdout.close()


def test_a_signal_to_the_guard_reaches_the_command():
    guard = _guard([sys.executable, "-c", POLITE])
    try:
        pid = int(guard.stdout.readline())
        guard.send_signal(signal.SIGINT)  # the guard alone, not its process group
        assert guard.wait(timeout=10) == -signal.SIGINT  # the command's status, mirrored
        assert _gone(pid)
    finally:
        if guard.poll() is None:
            guard.kill()
            guard.wait()
        guard.stdin.close()
        guard.stdout.close()


def test_orphan_shared_memory_is_removed_and_live_regions_kept(tmp_path):
    """What a SIGKILLed Python backend leaves in /dev/shm goes; a region a live process
    maps (another server's) stays."""
    from serving._guard import SHM_DIR, SHM_PREFIX, remove_orphan_shm, shm_regions

    before = shm_regions()
    orphan, live = (
        SHM_DIR / f"{SHM_PREFIX}cofin-test-orphan",
        SHM_DIR / f"{SHM_PREFIX}cofin-test-live",
    )
    for path in (orphan, live):
        path.write_bytes(b"\0" * 4096)
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import mmap, sys; f = open({str(live)!r}, 'r+b'); "
         "m = mmap.mmap(f.fileno(), 0); print('mapped', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "mapped"
        assert remove_orphan_shm(before) == 1
        assert not orphan.exists() and live.exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
        orphan.unlink(missing_ok=True)
        live.unlink(missing_ok=True)
