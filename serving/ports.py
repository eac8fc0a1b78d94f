"""Ports of a local server: a free one, and a clear error for a taken one (naming its holder)."""

from __future__ import annotations

import contextlib
import errno
import socket

__all__ = ["check_port_free", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free on ``host`` now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port_free(host: str, port: int, flag: str = "port") -> None:
    """Raises ``OSError`` naming ``flag`` (and who holds the port) if ``host:port`` is taken.

    Checked before a server starts, so a port held by anything (a server left running by an
    earlier launcher, another program) is one line, not a server log naming a bind error.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"{flag} {port!r}: must be a port number 1..65535")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise OSError(
                    f"{flag} {port}: cannot listen on {host}:{port} ({exc.strerror}); check "
                    f"--host, or pass {flag} with another port"
                ) from None
            holder = _port_holder(port) or f"{host}:{port}: {exc.strerror}"
            raise OSError(
                f"port {port} is in use ({holder}); stop the process holding it or pass "
                f"{flag} with a free port"
            ) from None


def _port_holder(port: int) -> str:
    """``"tritonserver, pid 123"`` for the process listening on ``port``; ``""`` if unknown
    (psutil missing, or a process of another user)."""
    try:
        import psutil
    except ImportError:
        return ""
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                return f"{psutil.Process(conn.pid).name()}, pid {conn.pid}"
    return ""
