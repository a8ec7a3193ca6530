"""Hugging Face datasets as corpora: ``hf:<dataset-id>`` or ``hf:<local folder of .txt files>``.

A local folder is read with the ``text`` builder, one document per file with its line breaks
kept (``sample_by="document"``); any other id is ``load_dataset(id)``'s ``text`` column (the
``train`` split when there are several).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from textgen.corpus.local import check_encoding, resolve_files
from textgen.errors import CorpusError

PREFIX = "hf:"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _pick_split(data: Any, dataset_id: str) -> Any:
    if hasattr(data, "column_names") and isinstance(data.column_names, list):
        return data
    splits = list(data.keys())
    if not splits:
        raise CorpusError(f"dataset {dataset_id} has no splits; check the dataset id")
    return data["train" if "train" in splits else splits[0]]


def probe_hub(dataset_id: str, timeout: float = 15.0) -> None:
    """Fail fast, once, when the Hub lacks ``dataset_id`` or cannot be reached (``datasets`` retries for half a minute).

    Offline mode (``HF_HUB_OFFLINE=1``) skips the probe, so cached datasets still load.
    """
    import os

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        HfApi().dataset_info(dataset_id, timeout=timeout)
    except GatedRepoError:
        return  # it exists; datasets says what access it needs
    except RepositoryNotFoundError:
        raise CorpusError(
            f"no dataset hf:{dataset_id} on the Hugging Face Hub; check the id, or use hf:/path/to/folder of .txt files"
        ) from None
    except Exception as exc:  # httpx/requests transport errors, timeouts
        raise CorpusError(
            f"cannot reach the Hugging Face Hub for hf:{dataset_id} ({_first_line(exc)}); check your network, "
            "set HF_HUB_OFFLINE=1 for a cached copy, or use hf:/path/to/folder"
        ) from None


def load_documents(dataset_id: str, encoding: str = "utf-8", cache_dir: Path | None = None) -> list[str]:
    """The documents of a Hugging Face dataset (or a local folder read through ``datasets``)."""
    return list(iter_documents(open_dataset(dataset_id, encoding, cache_dir)))


def iter_documents(data: Any, batch_size: int = 64) -> Iterator[str]:
    """The ``text`` of each row of an opened dataset, read a batch at a time from its (memory-mapped) table."""
    for batch in data.iter(batch_size=batch_size):
        yield from (t for t in batch["text"] if isinstance(t, str))


def open_dataset(dataset_id: str, encoding: str = "utf-8", cache_dir: Path | None = None) -> Any:
    """The dataset (its ``train`` split, or its only one) with a ``text`` column; nothing read into memory yet."""
    import datasets

    kwargs: dict[str, Any] = {}
    if cache_dir is not None:
        kwargs["cache_dir"] = str(Path(cache_dir) / "hf")
    folder = Path(dataset_id).expanduser()
    try:
        if folder.is_dir():
            files = [str(p) for p in resolve_files(str(folder))]
            data = datasets.load_dataset(
                "text",
                data_files={"train": files},
                sample_by="document",
                keep_linebreaks=True,
                encoding=check_encoding(encoding),
                split="train",
                **kwargs,
            )
        else:
            probe_hub(dataset_id)
            data = _pick_split(datasets.load_dataset(dataset_id, **kwargs), dataset_id)
    except CorpusError:
        raise
    except Exception as exc:  # datasets raises many unrelated types (network, builder, decode)
        raise CorpusError(
            f"cannot load hf:{dataset_id} ({_first_line(exc)}); check the dataset id, your network, or --encoding"
        ) from None
    columns = list(data.column_names)
    if "text" not in columns:
        raise CorpusError(f"dataset hf:{dataset_id} has no 'text' column (columns: {', '.join(columns)})")
    return data.select_columns(["text"])
