"""Port checks. A relay or the page server that cannot bind says which port, on which host, for
what, and which flag changes it, instead of a child process dying with a bare errno."""

from __future__ import annotations

import errno
import socket


class PortInUse(RuntimeError):
    """The port is taken by another process."""

    def __init__(self, host: str, port: int, what: str, flag: str | None = None):
        hint = f"; choose another with {flag}" if flag else ""
        super().__init__(f"port {port} on {host} is already in use ({what}){hint}")
        self.host, self.port, self.what = host, port, what


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_free(host: str, port: int, what: str, flag: str | None = None) -> None:
    """Raise PortInUse when `port` cannot be bound on `host` right now.

    SO_REUSEADDR is set as servers set it, so a port in TIME_WAIT after our own stop counts as free
    but one with a listener does not."""
    if port == 0:
        return
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUse(host, port, what, flag) from None
            raise


def free_port(host: str) -> int:
    """A port the OS says is free on `host` now (for child processes that need a number up front)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def is_listening(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((connect_host(host), port), timeout=timeout):
            return True
    except OSError:
        return False


def connect_host(host: str) -> str:
    """Where to connect to reach a server bound on `host` (a wildcard bind is reached on loopback)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
