"""The guard between a launcher and its ``tritonserver``: the server dies with the launcher.

Run by :class:`serving.server.TritonServer` as ``python -I _guard.py [--backend-dir DIR]
[--grace S] -- tritonserver ARGS...`` with its standard input a pipe whose write end only
the launcher holds (the *lifeline*). Standard library only, run by file path in isolated
mode: it starts in a few tens of milliseconds and imports nothing of cofin. Written by hand:
no library runs a child under a lifeline pipe; the two ``prctl`` calls go through ctypes
(``python-prctl`` needs a C build against libcap for two constants).

What it does:

* starts ``tritonserver`` as its child; on Linux the child gets ``PR_SET_PDEATHSIG`` =
  SIGKILL, so a SIGKILLed guard takes the server with it. PDEATHSIG fires when the *thread*
  that forked the child ends, not its process: this guard is single-threaded, so that
  thread is the guard itself;
* on Linux it is a child subreaper (``PR_SET_CHILD_SUBREAPER``): the server's Python-backend
  stubs are re-parented to it if the server dies first, and it waits for them too;
* forwards SIGINT / SIGTERM / SIGHUP to the server (a second one is harmless: tritonserver
  ignores signals once it is shutting down);
* when the lifeline reads end-of-file (the launcher exited or was killed, however), it
  sends SIGTERM, then SIGKILL after ``--grace`` seconds;
* when the server has exited and its stubs are gone, removes ``--backend-dir`` and exits
  with the server's status (a server killed by signal N ends the guard with signal N).

Why a pipe and not PDEATHSIG between launcher and guard: the launcher may start the server
from a short-lived thread (a thread pool, a test fixture); PDEATHSIG would kill the server
when that thread ends. A pipe's write end belongs to the process: end-of-file arrives only
when every process holding it has exited. (A child the launcher *forks* without exec holds
it too, and keeps the server alive until that child exits as well.)
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_POLL_S = 0.1
_STUBS_TIMEOUT_S = 10.0  # the stubs check every 300 ms whether the server still exists
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _prctl(option: int, value: int) -> None:
    if _LIBC is None:
        return
    zero = ctypes.c_ulong(0)
    if _LIBC.prctl(ctypes.c_int(option), ctypes.c_ulong(value), zero, zero, zero) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}, {value}) failed")


def _die_with_guard(guard_pid: int) -> None:
    """``preexec_fn`` of the server: SIGKILL when the guard dies, even before this line."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != guard_pid:  # the guard died between fork and prctl
        os.kill(os.getpid(), signal.SIGKILL)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cofin-triton-guard")
    parser.add_argument("--backend-dir", default=None, help="folder to remove at exit")
    parser.add_argument("--grace", type=float, default=5.0, help="SIGTERM -> SIGKILL (s)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- tritonserver ARGS...")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("no command to run")
    return args


def _watch(server: subprocess.Popen, grace_s: float) -> int:
    """Waits for the server; on end-of-file of the lifeline, terminates it."""
    kill_at = None
    lifeline: int | None = sys.stdin.fileno()
    while server.poll() is None:
        if lifeline is None:
            time.sleep(_POLL_S)
        elif select.select([lifeline], [], [], _POLL_S)[0] and not os.read(lifeline, 4096):
            lifeline = None  # end-of-file: the launcher is gone
            server.send_signal(signal.SIGTERM)
            kill_at = time.monotonic() + grace_s
        if kill_at is not None and time.monotonic() > kill_at:
            server.kill()
            kill_at = None
    return server.returncode


SHM_DIR = Path("/dev/shm")
SHM_PREFIX = "triton_python_backend_shm_region_"  # the Python backend's per-stub regions


def shm_regions() -> set[str]:
    """Names of the Python backend's shared-memory regions that exist now."""
    try:
        return {p.name for p in SHM_DIR.glob(SHM_PREFIX + "*")}
    except OSError:
        return set()


def _mapped_shm() -> set[str]:
    """Regions some live process still maps (read from ``/proc/*/maps``)."""
    mapped = set()
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            text = maps.read_text()
        except OSError:  # gone, or not ours to read
            continue
        for line in text.splitlines():
            if SHM_PREFIX in line:
                mapped.add(line.rsplit("/", 1)[-1].split(" ")[0])
    return mapped


def remove_orphan_shm(before: set[str]) -> int:
    """Removes the regions made since ``before`` that no process maps any more.

    A server that exits normally removes its regions; one that is SIGKILLed (with its stubs)
    cannot, and each left region holds its size of RAM until the machine reboots. Regions
    another live server maps are kept.
    """
    orphans = shm_regions() - before - _mapped_shm()
    for name in orphans:
        with contextlib.suppress(OSError):
            (SHM_DIR / name).unlink()
    return len(orphans)


def processes() -> list[tuple[int, str, int, int]]:
    """``(pid, state, parent pid, process group)`` of every process (from ``/proc/*/stat``)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            found.append((int(stat.parent.name), fields[0], int(fields[1]), int(fields[2])))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return found


def _reap_adopted(timeout_s: float) -> bool:
    """Waits for the processes re-parented to this subreaper (the stubs); whether all went."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True  # none left
        if not pid:
            time.sleep(_POLL_S)
    return False


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    guard_pid = os.getpid()
    all_gone = True
    regions_before = shm_regions()
    try:
        server = subprocess.Popen(
            args.command,
            stdin=subprocess.DEVNULL,
            preexec_fn=lambda: _die_with_guard(guard_pid),  # single-threaded here: safe
        )
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda s, _frame: server.send_signal(s))
        code = _watch(server, args.grace)
        all_gone = _reap_adopted(_STUBS_TIMEOUT_S)
    finally:
        if args.backend_dir:
            shutil.rmtree(args.backend_dir, ignore_errors=True)
    if not all_gone:  # a stub that outlived its server: adopted by this subreaper
        for pid in [p for p, _, parent, _ in processes() if parent == guard_pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _reap_adopted(_STUBS_TIMEOUT_S)
    remove_orphan_shm(regions_before)
    if code < 0:  # killed by a signal: end the same way, so the launcher sees the same status
        if -code != signal.SIGKILL:  # its handler cannot be set
            signal.signal(-code, signal.SIG_DFL)
        os.kill(guard_pid, -code)
    return code


if __name__ == "__main__":
    sys.exit(main())
