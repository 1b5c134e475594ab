"""Tests never reach beyond this machine: any other connection or name look-up is refused.

Installed for the whole test session by ``conftest.py`` and, through ``guard_site``'s
``sitecustomize``, in every subprocess a test starts with ``guarded_env``. Attempts are
recorded so a test can fail on them, not just log them.
"""

from __future__ import annotations

import socket
from typing import Any

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
ATTEMPTS: list[str] = []


def install(log_path: str | None = None) -> None:
    """Refuse and record non-loopback traffic; also append it to ``log_path`` if given."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def note(what: str) -> None:
        ATTEMPTS.append(what)
        if log_path:
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(what + "\n")

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and address[0] not in LOOPBACK:
            note(f"connect {address!r}")
            raise OSError(f"network refused in tests: {address!r}")
        real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name not in LOOPBACK:
            note(f"getaddrinfo {host!r}")
            raise socket.gaierror(f"network refused in tests: {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
