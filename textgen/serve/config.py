"""``textgen serve``'s settings: one frozen dataclass, from which the CLI options are derived.

The caps bound what one request may cost (tokens per sample, samples, primes, prime size, seconds);
a request over a cap gets a 422 that names the cap's option.
"""

from __future__ import annotations

from dataclasses import dataclass

from textgen import device as devices
from textgen.decode.settings import MAX_LENGTH, MAX_SAMPLES
from textgen.options import option

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServeConfig:
    """Which runs to serve, where, and how much one request may ask for."""

    run_dirs: tuple[str, ...] = option(
        (),
        "Serve this run directory (repeat for several; default: runs/default). Requests pick one by its folder name.",
        flag="--run-dir",
        metavar="DIR",
    )
    host: str = option("127.0.0.1", "Address to listen on; 127.0.0.1 is this machine only.")
    port: int = option(8000, "Port to listen on (0: any free port).", min=0, max=65535)
    max_length: int = option(1000, "Most tokens a request may ask for per sample.", min=1, max=MAX_LENGTH)
    max_samples: int = option(16, "Most samples a request may ask for per prime.", min=1, max=MAX_SAMPLES)
    max_primes: int = option(4, "Most primes in one request.", min=1, max=64)
    max_prime_chars: int = option(2000, "Longest prime a request may send, in characters.", min=1, max=100_000)
    timeout: float = option(60.0, "Seconds a request may take, its wait for the model included.", gt=0)
    device: str = option("auto", f"{devices.CHOICES}.", check=devices.spec_problem)

    @property
    def loopback(self) -> bool:
        """True when only this machine can reach the server."""
        return self.host in LOOPBACK or self.host.startswith("127.")

    @property
    def max_body_bytes(self) -> int:
        """The largest request body worth reading: every prime at its cap (4 bytes a character) and room."""
        return 4 * self.max_primes * self.max_prime_chars + 16 * 1024
