"""Near-duplicate detection for item banks.

A bank padded with one template permuted many times measures the template, not the model; this
check keeps every bank honest. Two texts are near-duplicates when their normalised forms have a
difflib similarity ratio above the threshold (default 0.9).
"""
from __future__ import annotations

import difflib
import json
import sys
import unicodedata
from pathlib import Path
from typing import Iterable, Sequence

_DROP = {"P", "Z", "S", "C"}  # punctuation, separators, symbols, control characters


def normalise(text: str) -> str:
    """NFKC, lower case, and no punctuation or white space: what is left is the wording."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in _DROP)


def _qgrams(text: str, q: int = 3) -> set[str]:
    """Character q-grams; trigrams, because Latin text without spaces shares most bigrams."""
    return {text[i : i + q] for i in range(len(text) - q + 1)} or {text}


def similarity(a: str, b: str) -> float:
    """Similarity of two texts after normalisation, in [0, 1]."""
    return difflib.SequenceMatcher(None, normalise(a), normalise(b), autojunk=False).ratio()


def near_duplicates(
    texts: Sequence[str], threshold: float = 0.9, groups: Sequence[str | None] | None = None
) -> list[tuple[int, int, float]]:
    """Pairs (i, j, ratio) with ratio > threshold.

    Candidate pairs are those sharing many character trigrams (a pair above 0.9 must), found with
    one sparse matrix product, so a bank of thousands of items is checked in seconds. Items that
    declare the same `group` are variants of one scenario by design (BBQ's four conditions, a
    counterfactual pair) and are not compared with each other; their confidence intervals are
    clustered by that group instead.
    """
    import numpy as np
    from scipy import sparse

    norm = [normalise(t) for t in texts]
    vocab: dict[str, int] = {}
    rows, cols = [], []
    sizes = np.zeros(len(norm))
    for i, t in enumerate(norm):
        grams = _qgrams(t)
        sizes[i] = len(grams)
        for g in grams:
            rows.append(i)
            cols.append(vocab.setdefault(g, len(vocab)))
    if not norm:
        return []
    x = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(norm), max(len(vocab), 1)))
    shared = sparse.triu(x @ x.T, k=1).tocoo()
    dice = 2 * shared.data / (sizes[shared.row] + sizes[shared.col])
    found: list[tuple[int, int, float]] = []
    for i, j in zip(shared.row[dice >= 0.5], shared.col[dice >= 0.5]):
        i, j = int(i), int(j)
        if groups is not None and groups[i] is not None and groups[i] == groups[j]:
            continue
        ratio = difflib.SequenceMatcher(None, norm[i], norm[j], autojunk=False).ratio()
        if ratio > threshold:
            found.append((i, j, ratio))
    return sorted(found, key=lambda f: (f[1], f[0]))


def item_text(item: dict) -> str:
    """The text an item shows the model: its input (or messages) and its choices; for a passage
    file, the passage; for a labelled response set, the prompt and the response."""
    if "input" in item:
        text = str(item["input"])
    elif "messages" in item:
        text = "\n".join(str(m.get("content", "")) for m in item.get("messages", []))
    elif "text" in item:  # a passage file (the adaptation suite's drift text)
        text = str(item["text"])
    else:
        text = f"{item.get('prompt', '')}\n{item.get('response', '')}"
    if item.get("choices"):
        text += "\n" + "\n".join(map(str, item["choices"]))
    return text


def check_files(paths: Iterable[str | Path], threshold: float = 0.9) -> list[str]:
    """Human-readable lines, one per near-duplicate pair, within each file."""
    lines: list[str] = []
    for path in paths:
        items = [json.loads(l) for l in Path(path).read_text(encoding="utf-8").splitlines() if l.strip()]
        groups = [(it.get("meta") or {}).get("group") for it in items]
        for i, j, r in near_duplicates([item_text(it) for it in items], threshold, groups):
            lines.append(f"{path}: {items[i].get('id')} ~ {items[j].get('id')} ({r:.2f})")
    return lines


if __name__ == "__main__":  # python -m evals.banks.neardup FILE...
    problems = check_files(sys.argv[1:])
    print("\n".join(problems) if problems else "no near-duplicates")
    sys.exit(1 if problems else 0)
