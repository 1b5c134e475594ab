"""Bench processes never reach beyond this machine: other addresses are refused and recorded.

The same idea as the tests' network guard, installed at the start of every bench process
(``bench/__init__.py``), so a peer SDK that tries to call home fails at once and the
benchmark says so in that peer's row instead of measuring traffic to the internet.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_ATTEMPTS: list[str] = []
_LOCK = threading.Lock()
_INSTALLED = False


def attempts() -> list[str]:
    """Every refused connection or name look-up so far in this process, oldest first."""
    with _LOCK:
        return list(_ATTEMPTS)


def _note(what: str) -> None:
    with _LOCK:
        if what not in _ATTEMPTS:
            _ATTEMPTS.append(what)


def install() -> None:
    """Refuse and record non-loopback ``connect``/``connect_ex``/``getaddrinfo`` (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def outside(address: Any) -> bool:
        return isinstance(address, tuple) and address[0] not in LOOPBACK

    def connect(self: socket.socket, address: Any) -> None:
        if outside(address):
            _note(f"connect {address!r}")
            raise OSError(f"bench network guard: {address!r} is not 127.0.0.1")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if outside(address):
            _note(f"connect {address!r}")
            raise OSError(f"bench network guard: {address!r} is not 127.0.0.1")
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name not in LOOPBACK:
            _note(f"getaddrinfo {name!r}")
            raise socket.gaierror(f"bench network guard: {name!r} is not 127.0.0.1")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
