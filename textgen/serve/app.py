"""The FastAPI app: the page at ``/``, the API under ``/api``, ``/healthz`` and the OpenAPI docs at ``/docs``.

:func:`create_app` takes loaded runs (:class:`~textgen.serve.runs.Registry`) and the server's
settings; nothing is read from disk per request except the page's own files.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

import textgen
from textgen.serve import errors, schemas, stream, worker
from textgen.serve.config import ServeConfig
from textgen.serve.limits import BodyLimit
from textgen.serve.plan import defaults, plan
from textgen.serve.runs import Registry
from textgen.steps.generate import produce

STATIC = Path(__file__).resolve().parent / "static"
MAX_NEIGHBOURS = 100

GenerateBody = schemas.GenerateRequest


def create_app(registry: Registry, config: ServeConfig | None = None) -> FastAPI:
    """The app serving ``registry``'s runs under ``config``'s caps; closing it stops every worker."""
    cfg = config or ServeConfig()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        registry.close()

    app = FastAPI(
        title="textgen",
        version=textgen.__version__,
        description="Prime, sample and see what the model thinks: the runs served by `textgen serve`.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=cfg.max_body_bytes)
    errors.install(app, schemas.REQUEST_FIELDS, cfg.max_body_bytes)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/healthz", response_model=schemas.HealthOut, summary="Liveness and each run's queue")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "runs": {name: run.counters.to_dict() for name, run in registry.runs.items()}}

    @app.get("/api/runs", response_model=schemas.RunsOut, summary="The served runs")
    async def runs() -> dict[str, Any]:
        limits = {
            "max_length": cfg.max_length,
            "max_samples": cfg.max_samples,
            "max_primes": cfg.max_primes,
            "max_prime_chars": cfg.max_prime_chars,
            "timeout": cfg.timeout,
        }
        return {"runs": [run.info() for run in registry.runs.values()], "limits": limits, "defaults": defaults(cfg)}

    @app.post(
        "/api/generate",
        response_model=schemas.GenerationOut | list[schemas.GenerationOut],
        responses={**schemas.ERRORS, 504: {"model": schemas.ErrorOut, "description": "Ran past --timeout."}},
        summary="Generate: the JSON of `textgen generate --json`",
    )
    async def generate(body: GenerateBody, request: Request) -> Response:  # type: ignore[valid-type]
        """The same settings as `textgen generate` (by field name) and the same JSON; the same seed gives
        the same text. One prime gives an object, several a list."""
        p = _plan(body, registry, cfg)
        job = worker.Job(cfg.timeout)
        future = p.run.submit(lambda j: produce(p.run.root, p.config, generator=p.run.generator, on_step=j.check), job)
        try:
            result = await worker.wait(future, job, request.is_disconnected)
        except Exception as exc:
            raise errors.from_exception(exc) from None
        return Response(result.text, media_type="application/json")

    @app.post(
        "/api/generate/stream",
        responses={**schemas.ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "Server-sent events."}},
        summary="Generate, streaming each token with its probability and alternatives",
    )
    async def generate_stream(body: GenerateBody) -> Response:  # type: ignore[valid-type]
        """Server-sent events: `queued`, `start`, one `token` per sampled token (probability, entropy,
        alternatives; attention weights for attention models), `end` per sample (its stop reason),
        then `done` with the same JSON as POST /api/generate with `explain: true`, or `error`."""
        p = _plan(body, registry, cfg)
        config = replace(p.config, explain=True)
        job = worker.Job(cfg.timeout)
        pipe = stream.Pipe()
        ahead = p.run.worker.pending
        future = p.run.submit(lambda j: stream.run_stream(p.run, config, j, pipe.put), job)
        future.add_done_callback(pipe.close)

        def close() -> None:
            job.cancel.set()
            future.cancel()

        return stream.EventStream(stream.events(pipe, future, job, ahead), close)

    @app.get("/api/similar", response_model=schemas.SimilarOut, responses=schemas.ERRORS, summary="Nearest words")
    async def similar(
        word: Annotated[str, Query(min_length=1, max_length=200, description="A word in the run's vocabulary.")],
        run: Annotated[str | None, Query(description="A served run's name; optional with one run.")] = None,
        n: Annotated[int, Query(ge=1, le=MAX_NEIGHBOURS, description="How many neighbours.")] = 10,
    ) -> dict[str, Any]:
        """Nearest words by cosine similarity in the run's word vectors (`textgen similar`)."""
        try:
            served = registry.get(run)
        except Exception as exc:
            raise errors.from_exception(exc) from None
        if served.index is None:
            raise errors.ApiError(
                404, f"run {served.name!r} has no word vectors; run `textgen train-embeddings --run-dir DIR`"
            )
        query = word.strip()
        if served.vocab.tokenizer.lowercase:
            query = query.lower()
        try:
            rows = served.index.similar(query, n)
        except Exception as exc:
            raise errors.from_exception(exc) from None
        return {
            "run": served.name,
            "word": query,
            "neighbours": [{"word": w, "similarity": s} for w, s in rows],
        }

    return app


def _plan(body: Any, registry: Registry, cfg: ServeConfig) -> Any:
    try:
        return plan(body.model_dump(exclude_unset=True), registry, cfg)
    except Exception as exc:
        raise errors.from_exception(exc) from None
