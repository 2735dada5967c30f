"""A tokenizer used only for its chat template, so a hosted model's log-likelihood requests are
conditioned on the same text the local adapter would build."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.errors import UsageError


def load_tokenizer(ref: str) -> Any:
    """`ref` is a runner profile name (its weights' tokenizer), a local folder or a hub id."""
    from transformers import AutoTokenizer

    from evals.runners import list_profiles, locate_weights

    profiles = list_profiles()
    if ref in profiles:
        folder, gguf = locate_weights(profiles[ref])
        return AutoTokenizer.from_pretrained(folder, gguf_file=gguf) if gguf else AutoTokenizer.from_pretrained(folder)
    try:
        return AutoTokenizer.from_pretrained(str(Path(ref).expanduser()) if Path(ref).expanduser().exists() else ref)
    except (OSError, ValueError) as exc:
        raise UsageError(f"model.tokenizer {ref!r}: cannot load a tokenizer ({str(exc).splitlines()[0]})") from None
