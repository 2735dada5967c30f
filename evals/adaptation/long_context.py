"""Long-context retrieval (needle in a haystack): items generated when the task loads, and the run-time cap.

Items come from a task's `items: {generator: needle_haystack, ...}` source rather than a committed
JSONL: 168 prompts of up to ~32,000 characters would add megabytes to the repository, and every bank
under seeds/ goes through the near-duplicate check, which would (rightly) flag prompts that share a
haystack. Generation is deterministic — a pure function of the task YAML, `robustness.NEEDLES` and the
haystack files — and the generated items go into the suite hash like any bank's, so two runs with
the same hash saw the same prompts. `evaluate list tasks` shows their counts.

Source keys (all but `generator` optional):

    generator: needle_haystack
    haystack: {en: adaptation/drift_text_en.jsonl, zh: adaptation/drift_text_zh.jsonl}
    fallback: {en: performance/reading_en.jsonl, zh: performance/reading_zh.jsonl}  # when a haystack file is missing
    depths: [0.1, 0.5, 0.9]              # where the needle sits, 0 = start of the context, 1 = end
    context_tokens: [1000, 2000, 4000, 8000]
    chars_per_token: {en: 4.0, zh: 1.5}  # nominal tokens → characters

Each needle of `NEEDLES` (7 English, 7 Chinese) goes into a haystack of its own language at every depth
and length: 14 × 3 × 4 = 168 items, ids `lcr-<lang>-n<NN>-<len>-d<depth%>`, `meta.length` (`1k` …),
`meta.depth`, `meta.context_tokens`, `meta.needle`, and `meta.group` = the needle (its 12 variants are
one cluster for confidence intervals). Needle i's haystack starts at document i of the file, so the
needles do not all sit in the same filler.

Lengths are nominal: characters = tokens × chars_per_token (4 for English and 1.5 for Chinese suit
current multilingual tokenizers such as Qwen's; an English-centred tokenizer such as SmolLM2's
needs about 0.55 characters per Chinese token, so there a "1k" Chinese context is ~2,700 tokens).
`fit_context` therefore decides at run time, with the model's own tokenizer when the adapter has
one: an item whose context would not fit the model's window (`max_length`, less the generation
budget and a margin for the template) is skipped, not silently left-truncated, and the report
says how many were skipped at each length.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from evals.adaptation.robustness import NEEDLES, needle_prompt
from evals.errors import InputError
from evals.items import Item
from evals.paths import seeds_dir

GENERATORS = ("needle_haystack",)
DEFAULTS: dict[str, Any] = {
    "haystack": {"en": "adaptation/drift_text_en.jsonl", "zh": "adaptation/drift_text_zh.jsonl"},
    "fallback": {"en": "performance/reading_en.jsonl", "zh": "performance/reading_zh.jsonl"},
    "depths": [0.1, 0.5, 0.9],
    "context_tokens": [1000, 2000, 4000, 8000],
    "chars_per_token": {"en": 4.0, "zh": 1.5},
}
SOURCE_KEYS = {"generator", *DEFAULTS}
TEMPLATE_MARGIN = 128  # tokens left for the instruction and a chat template around the context (question included)


def needle_lang(text: str) -> str:
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"


def length_label(tokens: int) -> str:
    return f"{tokens // 1000}k" if tokens % 1000 == 0 else str(tokens)


def _documents(rel: str) -> list[str]:
    path = Path(rel) if Path(rel).is_absolute() else seeds_dir() / rel
    if not path.is_file():
        return []
    docs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            text = row.get("text") or row.get("input")
            if isinstance(text, str) and text.strip():
                docs.append(text.strip())
    return docs


def _check(source: dict[str, Any], where: str) -> dict[str, Any]:
    for key in source:
        if key not in SOURCE_KEYS:
            raise InputError(where, f"unknown key {key!r} for generator needle_haystack; "
                                    f"allowed: {', '.join(sorted(SOURCE_KEYS))}")
    opts = {k: source.get(k, v) for k, v in DEFAULTS.items()}
    depths, lengths = opts["depths"], opts["context_tokens"]
    if not isinstance(depths, list) or not depths or not all(
            isinstance(d, (int, float)) and not isinstance(d, bool) and 0 <= d <= 1 for d in depths):
        raise InputError(where, f"depths must be a list of numbers in [0, 1], got {depths!r}")
    if not isinstance(lengths, list) or not lengths or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in lengths):
        raise InputError(where, f"context_tokens must be a list of positive integers, got {lengths!r}")
    for key in ("haystack", "fallback", "chars_per_token"):
        if not isinstance(opts[key], dict):
            raise InputError(where, f"{key} must be a mapping of language (en, zh) to a value")
    return opts


def generate_items(source: dict[str, Any], where: str) -> list[Item]:
    """The needle-in-a-haystack items of a task's `items:` source (see the module docstring)."""
    if source.get("generator") not in GENERATORS:
        raise InputError(where, f"unknown generator {source.get('generator')!r}; known: {', '.join(GENERATORS)}")
    opts = _check(source, where)
    docs: dict[str, list[str]] = {}
    used: dict[str, str] = {}
    items: list[Item] = []
    for n, (needle, question, answer) in enumerate(NEEDLES):
        lang = needle_lang(needle + question)
        if lang not in docs:
            for key in ("haystack", "fallback"):
                rel = opts[key].get(lang)
                docs[lang] = _documents(rel) if rel else []
                if docs[lang]:
                    used[lang] = rel
                    break
            if not docs[lang]:
                raise InputError(where, f"no {lang} haystack text: neither {opts['haystack'].get(lang)!r} nor "
                                        f"{opts['fallback'].get(lang)!r} has any under {seeds_dir()}")
        pool = docs[lang]
        start = n % len(pool)
        haystack = "\n".join(pool[start:] + pool[:start])
        ratio = float(opts["chars_per_token"].get(lang, 4.0 if lang == "en" else 1.5))
        for tokens in opts["context_tokens"]:
            for depth in opts["depths"]:
                label = length_label(tokens)
                items.append(Item(
                    id=f"lcr-{lang}-n{n:02d}-{label}-d{round(depth * 100):02d}",
                    input=needle_prompt(haystack, needle, question, float(depth), int(tokens * ratio)),
                    target=answer,
                    meta={"area": "adaptation", "lang": lang, "category": "needle_retrieval", "length": label,
                          "context_tokens": tokens, "depth": f"{float(depth):g}", "needle": f"n{n:02d}",
                          "group": f"needle-{n:02d}", "haystack": used[lang]},
                ))
    return items


def _token_counter(adapter: Any) -> Callable[[str], int] | None:
    """The adapter's own tokenizer as a counter, when it exposes one (the hf adapter does)."""
    tok = getattr(adapter, "tokenizer", None)
    if tok is None or not callable(tok):
        return None

    def count(text: str) -> int:
        return len(tok(text, add_special_tokens=False)["input_ids"])

    try:
        count("probe")
    except Exception:  # noqa: BLE001  (a tokenizer of another shape: fall back to nominal lengths)
        return None
    return count


def fit_context(planned: list[Any], adapter: Any) -> None:
    """Drop the long-context items (`meta.context_tokens`) that would not fit the model's window.

    The window is the adapter's `max_length` setting; without one (a hosted endpoint that does not
    say) nothing is dropped and an over-long prompt fails as that endpoint decides. Counts use the
    adapter's tokenizer when it has one, else the nominal `context_tokens`. Each affected task gets
    `skipped = {"items", "by_length", "max_length", "counted_with"}`, which the report shows."""
    max_len = (adapter.settings() or {}).get("max_length")
    tasks = [t for t in planned if any("context_tokens" in it.meta for it in t.items)]
    if not max_len or not tasks:
        return
    count = _token_counter(adapter)
    for task in tasks:
        room = int(max_len) - int(task.spec.generation.get("max_new_tokens", 256)) - TEMPLATE_MARGIN
        keep, dropped = [], Counter()
        for it in task.items:
            if "context_tokens" in it.meta:
                n = count(it.input or "") if count else int(it.meta["context_tokens"])
                if n > room:
                    dropped[str(it.meta.get("length", it.meta["context_tokens"]))] += 1
                    continue
            keep.append(it)
        if dropped:
            task.items = keep
            task.skipped = {"items": sum(dropped.values()), "by_length": dict(sorted(dropped.items())),
                            "max_length": int(max_len), "counted_with": "model tokenizer" if count else "nominal lengths"}
