"""Uvicorn on a socket bound here: the URL is known (``--port 0`` included) before serving starts,
and a port in use is a one-line error rather than a traceback.

Ctrl-C stops uvicorn gracefully (open streams are closed, each run's worker stops its generation
at the next token); :func:`serve` returns then.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from textgen.errors import UsageError

GRACE_SECONDS = 3  # how long open connections get to finish after Ctrl-C


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; :class:`UsageError` when it cannot be had."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise UsageError(f"--host {host!r} is not an address here ({exc.strerror}); try 127.0.0.1") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port (0: any free)"
        ) from None
    sock.set_inheritable(True)
    return sock


def url(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"http://{host}:{port}"


def serve(app: Any, sock: socket.socket, log_level: str = "warning") -> None:
    """Serve ``app`` on ``sock`` until Ctrl-C (or SIGTERM)."""
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=GRACE_SECONDS, access_log=False)
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled, once it has stopped
        server.run(sockets=[sock])
    sock.close()
