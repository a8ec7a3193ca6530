"""The classifier's settings: what to read, the network, the training loop, and the read-only commands' options.

Each is a frozen dataclass of :func:`textgen.options.option` fields, so the CLI flags and pipeline
params derive from them (``train-classifier`` composes the first three; ``classify``,
``evaluate-classifier`` and ``evaluate-generation`` each have their own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textgen import device as devices
from textgen.decode.settings import MAX_SAMPLES, SamplingSettings
from textgen.options import Problem, option, section

Level = Literal["auto", "char", "word"]
Arch = Literal["rnn", "gru", "lstm"]
SPEAKER = "speaker"
CHAR_EMB_DIM = 64  # emb_dim 0 without word vectors to seed from
WORD_EMB_DIM = 128


def _codec_problem(name: str) -> str | None:
    import codecs

    try:
        codecs.lookup(name)
    except LookupError:
        return f"is no text encoding Python knows, got {name!r}; use a codec name such as utf-8 or latin-1"
    return None


@dataclass(frozen=True)
class DataSettings:
    """Where the labelled examples come from and what the network reads of them."""

    data: str | None = option(
        None,
        "A folder of <label>.txt files (one example a line), a .tsv/.csv with text and label columns, "
        "or with --label speaker any corpus build-vocab takes (default: the run's training split).",
        metavar="PATH",
    )
    label: str | None = option(
        None,
        "speaker: label each dialogue line of a script corpus by its speaker (default: the data's own labels).",
        choices=(SPEAKER,),
    )
    top_speakers: int = option(4, "With --label speaker: keep the lines of this many most frequent speakers.", min=2)
    level: Level = option("auto", "Read characters or words (auto: words for --label speaker, else characters).")
    encoding: str = option("utf-8", "Text encoding of the data files (e.g. latin-1).", check=_codec_problem)

    def cross_check(self) -> list[Problem]:
        found = []
        if self.data is None and self.label != SPEAKER:
            found.append(
                Problem(
                    "data",
                    "is missing; give a folder of <label>.txt files or a .tsv/.csv with text and label columns "
                    "(or {label} speaker to classify the run's own script lines)",
                )
            )
        if self.label == SPEAKER and self.level == "char":
            found.append(Problem("level", "char does not go with {label} speaker (words of the run's vocabulary)"))
        return found

    @property
    def resolved_level(self) -> str:
        if self.level != "auto":
            return self.level
        return "word" if self.label == SPEAKER else "char"


@dataclass(frozen=True)
class NetSettings:
    """The network: embedded units, a recurrent layer stack, its final states into a linear layer."""

    arch: Arch = option("gru", "Recurrent cell: rnn (the tutorial's vanilla RNN), gru or lstm.")
    bidirectional: bool = option(True, "Read each sequence both ways and join the two final states.")
    emb_dim: int = option(
        0,
        f"Embedding width (0: the word vectors' width, else {CHAR_EMB_DIM} for chars, {WORD_EMB_DIM} for words).",
        min=0,
    )
    hidden: int = option(128, "Hidden units per direction.", min=1)
    layers: int = option(1, "Stacked recurrent layers.", min=1, max=8)
    dropout: float = option(
        0.2, "Dropout on the embeddings and the final states (and between layers); 0.2 measured best on the names.",
        min=0, lt=1,
    )  # fmt: skip
    embeddings: str = option(
        "auto",
        "Word level: seed the embedding layer from the run's embeddings.safetensors (auto) or not (none).",
        choices=("auto", "none"),
    )


@dataclass(frozen=True)
class FitSettings:
    """The training loop: Adam, class weights, early stopping on the dev split's macro-F1."""

    epochs: int = option(30, "Passes over the training split (at most).", min=1)
    max_seconds: float | None = option(None, "Stop training after this many seconds (the best epoch is kept).", gt=0)
    batch_size: int = option(128, "Examples per step (batches hold sequences of similar length).", min=1)
    lr: float = option(5e-3, "Peak Adam learning rate (warm-up, then a cosine to 5% by the planned end).", gt=0)
    class_weights: str = option(
        "auto",
        "auto: weight the loss against skewed classes (inverse frequency to the power 0.35); none: plain.",
        choices=("auto", "none"),
    )
    patience: int = option(5, "Stop after this many epochs without a better dev macro-F1.", min=1)
    seed: int = option(0, "Seed of the split, the initial weights and the batch order (CPU runs repeat).", min=0)
    device: str = option("auto", f"{devices.CHOICES}.", tracked=False, check=devices.spec_problem)
    threads: int | None = option(
        1, "CPU threads for torch (null: torch's own). Small recurrent steps gain little from more, and on a busy "
        "machine two threads ran 10x slower than one.", min=1, tracked=False,
    )  # fmt: skip


@dataclass(frozen=True)
class ClassifyConfig:
    """``textgen classify``: how many labels to show."""

    top_k: int = option(3, "Show this many labels per text, most likely first.", min=1)
    device: str = option("auto", f"{devices.CHOICES}.", check=devices.spec_problem)


@dataclass(frozen=True)
class EvaluateClassifierConfig:
    """``textgen evaluate-classifier``: which recorded split to score."""

    split: Literal["test", "dev"] = option("test", "The recorded split to score: test (report this) or dev.")
    device: str = option("auto", f"{devices.CHOICES}.", check=devices.spec_problem)


@dataclass(frozen=True)
class EvaluateGenerationConfig:
    """``textgen evaluate-generation``: how many turns to sample per speaker, and how."""

    samples: int = option(
        100, "Turns per speaker, generated and real (fewer of both when validation has fewer).", min=1, max=MAX_SAMPLES
    )
    length: int = option(80, "At most this many tokens per generated turn.", min=1, max=1000)
    sampling: SamplingSettings = section(SamplingSettings)
    seed: int = option(0, "Seed of the sampling and of the choice of real lines.", min=0)
    device: str = option("auto", f"{devices.CHOICES}.", check=devices.spec_problem)
