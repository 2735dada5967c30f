"""Items: the questions a task asks. One loader for seeds/*.jsonl and any `datasets` source."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.errors import InputError, UsageError
from evals.paths import seeds_dir


@dataclass
class Item:
    id: str
    input: str | None = None
    messages: list[dict[str, str]] | None = None
    choices: list[str] | None = None
    target: Any = None
    meta: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id}
        for key in ("input", "messages", "choices", "target"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        d["meta"] = self.meta
        return d


def item_from_dict(raw: Any, where: str) -> Item:
    """Validate one raw record; `where` names the file and line for the error message."""
    if not isinstance(raw, dict):
        raise InputError(where, "an item must be a JSON object")
    if "id" not in raw or not isinstance(raw["id"], (str, int)) or raw["id"] == "":
        raise InputError(where, "field 'id' is missing or empty", "give every item a unique id")
    has_input = isinstance(raw.get("input"), str)
    msgs = raw.get("messages")
    has_msgs = isinstance(msgs, list) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        for m in msgs
    ) and bool(msgs)
    if not has_input and not has_msgs:
        raise InputError(where, "needs a string 'input' or a list 'messages' of {role, content}")
    choices = raw.get("choices")
    if choices is not None and (
        not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices)
    ):
        raise InputError(where, "field 'choices' must be a list of at least two strings")
    if choices is not None:
        target = raw.get("target")
        if not isinstance(target, int) or isinstance(target, bool) or not 0 <= target < len(choices):
            raise InputError(where, f"field 'target' must be a choice index 0..{len(choices) - 1}")
    meta = raw.get("meta", {})
    if not isinstance(meta, dict):
        raise InputError(where, "field 'meta' must be an object")
    return Item(
        id=str(raw["id"]),
        input=raw.get("input") if has_input else None,
        messages=msgs if has_msgs else None,
        choices=choices,
        target=raw.get("target"),
        meta=dict(meta),
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Parse a JSONL file, naming the line of the first broken record."""
    if not path.is_file():
        raise UsageError(f"{path}: no such item file (paths are relative to {seeds_dir()})")
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}", f"broken JSON ({exc.msg} at column {exc.colno})",
                                 "fix or remove that line") from None
    return rows


def _check_unique(items: list[Item], where: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise InputError(where, f"duplicate item id {item.id!r}", "ids must be unique within a task")
        seen.add(item.id)


def load_items(source: dict[str, Any], where: str, data_dir: Path | None = None) -> list[Item]:
    """Load a task's items from `{path: seeds-relative.jsonl}`, `{dataset: ..., fields: ...}` or `{generator: ...}`."""
    if "path" in source or "paths" in source:
        paths = source.get("paths") or [source["path"]]
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise InputError(where, "'paths' must be a list of JSONL paths under seeds/")
        items = []
        for rel in paths:
            path = Path(rel)
            if not path.is_absolute():
                path = seeds_dir() / path
            rows = read_jsonl(path)
            items += [item_from_dict(r, f"{path}:{ln}") for ln, r in _line_numbers(path, rows)]
        _check_unique(items, where)
        return items
    if "dataset" in source:
        from evals.datasets_source import load_dataset_items

        items = load_dataset_items(source, where, data_dir)
        _check_unique(items, where)
        return items
    if "generator" in source:  # items built from committed seeds when the task loads (long-context prompts)
        from evals.adaptation.long_context import generate_items

        items = generate_items(source, where)
        _check_unique(items, where)
        return items
    raise InputError(where, "field 'items' needs 'path' or 'paths' (JSONL under seeds/), 'dataset' or 'generator'")


def _line_numbers(path: Path, rows: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Pair each parsed row with its line number in the file (blank lines are skipped)."""
    numbers = [n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.strip()]
    return list(zip(numbers, rows))
