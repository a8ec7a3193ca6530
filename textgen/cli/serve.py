"""``textgen serve``: options derived from :class:`~textgen.serve.config.ServeConfig`.

Binds the port first (a port in use fails before any model loads), loads every run, prints the
URL and serves until Ctrl-C.
"""

from __future__ import annotations

from typing import Any

from textgen.cli.app import app, console, err_console
from textgen.cli.options import derived_command
from textgen.serve.config import ServeConfig

HELP = "Serve a local web page and HTTP API to prime, sample and see what the model thinks."


@derived_command(app, ServeConfig, "serve", HELP)
def serve_cmd(given: dict[str, Any]) -> None:
    from textgen import options
    from textgen.serve import server
    from textgen.serve.app import create_app
    from textgen.serve.runs import load_registry

    config = options.validated(options.build(ServeConfig, given))
    sock = server.bind(config.host, config.port)
    try:
        registry = load_registry(config.run_dirs, config.device)
    except BaseException:
        sock.close()
        raise
    for run in registry.runs.values():
        info = run.info()
        bpb = "n/a" if info["val_bpb"] is None else f"{info['val_bpb']:.3f}"
        console.print(
            f"run {run.name!r}: {run.root} ({info['architecture']}, val_bpb {bpb}, {info['vocab_size']:,} tokens)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if not config.loopback:
        err_console.print(
            f"warning: listening on {config.host}: anyone who can reach this machine can use these models",
            markup=False,
        )
    address = server.url(sock)
    console.print(
        f"serving at {address}/ (API docs: {address}/docs); Ctrl-C stops", markup=False, highlight=False, soft_wrap=True
    )
    server.serve(create_app(registry, config), sock)
    console.print("stopped", markup=False, highlight=False, soft_wrap=True)
