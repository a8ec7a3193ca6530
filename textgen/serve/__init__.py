"""``textgen serve``: a local web page and HTTP API to prime, sample and see what the model thinks.

``config`` (the server's settings), ``runs`` (the served runs by name), ``plan`` (a request -> the
``generate`` step's config), ``worker`` (one generation at a time per device), ``stream`` and
``layout`` (server-sent tokens laid out as a script), ``errors``, ``app`` (the FastAPI app) and
``server`` (uvicorn on a bound socket); the page is ``static/``. It sits beside the CLI: it calls
the ``generate`` step and the library, and nothing below imports it.
"""

from __future__ import annotations

from textgen.serve.app import create_app
from textgen.serve.config import ServeConfig
from textgen.serve.runs import Registry, load_registry

__all__ = ["Registry", "ServeConfig", "create_app", "load_registry"]
