"""Items from any `datasets` source: a hub id, or a local parquet/csv/json file or folder.

A task maps the source's columns onto the item schema with `fields`; each value is a column name
or a small Jinja2 expression over the row (`"{{ question }}"`, `"{{ 'ABCD'.index(answer) }}"`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from evals.errors import InputError, RuntimeFailure, UsageError
from evals.items import Item, item_from_dict

_LOCAL_BUILDERS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json"}


def _resolve_local(ref: str, data_dir: Path | None) -> Path | None:
    """A dataset reference that names a file or folder on disk, looked up under --data-dir first."""
    candidates = [Path(ref)]
    if data_dir is not None:
        candidates.insert(0, data_dir / ref)
    for cand in candidates:
        if cand.exists():
            return cand
    return None


def _render(value: Any, row: dict[str, Any], env: Any) -> Any:
    if isinstance(value, list):
        return [_render(v, row, env) for v in value]
    if isinstance(value, str) and "{{" in value:
        return env.from_string(value).render(**row)
    if isinstance(value, str):
        if value not in row:
            raise KeyError(value)
        return row[value]
    return value


def load_dataset_items(source: dict[str, Any], where: str, data_dir: Path | None = None) -> list[Item]:
    try:
        import datasets  # noqa: F401  (optional heavy import, only when a task uses it)
        from datasets import load_dataset
    except ImportError:
        raise UsageError(f"{where}: this task reads a `datasets` source; pip install datasets") from None
    import jinja2

    ref = str(source["dataset"])
    split = source.get("split", "test")
    local = _resolve_local(ref, data_dir)
    try:
        if local is not None and local.is_file():
            builder = _LOCAL_BUILDERS.get(local.suffix)
            if builder is None:
                raise InputError(where, f"cannot read {local.suffix} files", "use parquet, csv, json or jsonl")
            ds = load_dataset(builder, data_files={split: str(local)}, split=split)
        elif local is not None:
            ds = load_dataset(str(local), source.get("name"), split=split)
        else:
            if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
                raise UsageError(
                    f"{where}: dataset {ref!r} is not on disk and the hub is offline "
                    f"(put a copy under --data-dir in the same schema)"
                )
            ds = load_dataset(ref, source.get("name"), split=split)
    except (UsageError, InputError):
        raise
    except Exception as exc:  # datasets raises many kinds; the user needs the one line
        raise RuntimeFailure(f"{where}: could not load dataset {ref!r}: {type(exc).__name__}: {exc}") from None

    fields = source.get("fields") or {}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    items: list[Item] = []
    for i, row in enumerate(ds):
        raw: dict[str, Any] = {"id": f"{i}"}
        try:
            for key, spec in fields.items():
                if key == "meta":
                    raw["meta"] = {k: _render(v, row, env) for k, v in spec.items()}
                else:
                    raw[key] = _render(spec, row, env)
        except KeyError as exc:
            raise InputError(f"{where}: fields", f"column {exc} not in dataset {ref!r}",
                             f"columns are {', '.join(row)}") from None
        except jinja2.TemplateError as exc:
            raise InputError(f"{where}: fields", f"template error: {exc}") from None
        for key in ("input", "id"):
            if key not in fields and key in row:
                raw[key] = row[key]
        raw["id"] = str(raw["id"])
        if raw.get("choices") is not None and isinstance(raw.get("target"), str) and raw["target"].strip().isdigit():
            raw["target"] = int(raw["target"])
        raw.setdefault("meta", {})
        items.append(item_from_dict(raw, f"{ref} row {i}"))
    return items
