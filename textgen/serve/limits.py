"""A cap on request bodies, before anything parses them: a one-line JSON 413 past ``max_bytes``.

The other caps (tokens, samples, primes, prime size, seconds) are the server's settings
(:class:`~textgen.serve.config.ServeConfig`), checked per request by :mod:`textgen.serve.plan`.
"""

from __future__ import annotations

import json

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large(max_bytes: int) -> str:
    return f"the request body is larger than this server takes ({max_bytes:,} bytes)"


class BodyTooLarge(HTTPException):
    """Raised while a body without a declared size is read (the app's 413 handler answers it)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(status_code=413, detail=too_large(max_bytes))


class BodyLimit:
    """Pure ASGI middleware (responses, streams included, pass through untouched): a declared
    ``Content-Length`` over ``max_bytes`` is answered at once; a body sent in chunks stops being read there."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            body = json.dumps({"error": too_large(self.max_bytes)}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 413, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)
