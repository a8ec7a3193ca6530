"""Every error the API returns: a status and ``{"error": one line, ...}`` (``suggestions`` where useful).

Bad JSON and values out of range are 422, an unknown run or word 404 with the closest names, a
body over the size cap 413, a request that ran out of time 504, a client that went away 499
(nobody reads it).
"""

from __future__ import annotations

import difflib
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from textgen.errors import TextgenError, UnknownWordError, UsageError
from textgen.serve.limits import too_large
from textgen.serve.runs import UnknownRun
from textgen.serve.worker import Cancelled, TimedOut

log = logging.getLogger("textgen.serve")
EXAMPLE = '{"prime": "jerry", "length": 100}'


class ApiError(Exception):
    """An error response: ``status``, a one-line ``message`` and extra fields for the body."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


def from_exception(exc: BaseException) -> ApiError:
    """The response for an error raised while serving a request."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, UnknownRun):
        return ApiError(422 if exc.name is None else 404, str(exc), suggestions=exc.suggestions)
    if isinstance(exc, UnknownWordError):
        return ApiError(404, str(exc), word=exc.word, suggestions=exc.suggestions)
    if isinstance(exc, UsageError):
        return ApiError(422, str(exc).splitlines()[0])
    if isinstance(exc, TimedOut):
        return ApiError(504, str(exc))
    if isinstance(exc, Cancelled):
        return ApiError(499, "the request was cancelled (the client went away or the server is stopping)")
    if isinstance(exc, TextgenError):
        return ApiError(500, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    log.error("unexpected error serving a request", exc_info=exc)
    return ApiError(500, f"internal error ({type(exc).__name__}); see the server's log")


def _describe(error: dict[str, Any], known: frozenset[str]) -> str:
    """One pydantic error as a phrase that names the field as the request spells it."""
    loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query")]
    where = loc[0] if loc and not loc[0].isdigit() else None
    kind = error.get("type", "")
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        return f"the body is not valid JSON ({reason}); send a JSON object such as {EXAMPLE}"
    if kind == "missing" and where is None:
        return f"the body is missing; send a JSON object such as {EXAMPLE}"
    if kind in ("model_attributes_type", "dict_type", "model_type") and where is None:
        return f"the body must be a JSON object such as {EXAMPLE}"
    if kind == "extra_forbidden" and where is not None:
        close = difflib.get_close_matches(where, sorted(known), n=1)
        return f"{where} is not a setting" + (f" (did you mean {close[0]}?)" if close else "")
    if kind == "missing":
        return f"{where} is missing"
    message = str(error.get("msg", "is not valid"))
    message = message[:1].lower() + message[1:]
    got = f", got {error['input']!r}" if "input" in error and not isinstance(error["input"], dict | list) else ""
    return f"{where or 'the request'}: {message}{got}"


def validation_message(exc: RequestValidationError, known: frozenset[str]) -> str:
    """Pydantic's errors in one line, one per field (a union such as ``prime`` fails once per member:
    the first is kept)."""
    phrases: dict[str, str] = {}
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query")]
        phrases.setdefault(loc[0] if loc else "", _describe(dict(error), known))
    return "; ".join(list(phrases.values())[:4]) or "the request is not valid"


def install(app: FastAPI, known_fields: frozenset[str], max_body_bytes: int) -> None:
    """Give every error response the one shape (``ErrorOut``)."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": validation_message(exc, known_fields)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404:
            detail = f"no such page: {request.url.path} (the API is under /api; see /docs)"
        elif exc.status_code == 413:
            detail = too_large(max_body_bytes)
        return JSONResponse({"error": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))
