"""Items from any `datasets` source: a hub id, or a local parquet/csv/json file or folder.

A task maps the source's columns onto the item schema with `fields`; each value is a column name
or a small Jinja2 expression over the row (`"{{ question }}"`, `"{{ 'ABCD'.index(answer) }}"`).

Public benchmarks come in one config per subject, so `name` may also list configs (or map each to
its meta tags, e.g. `{computer_network: STEM}` → `meta.category`); every item then carries
`meta.subject` and an id prefixed with its config. `fewshot: {split: dev, n: 5, seed: 1234}` picks,
per config and with a fixed seed, demonstration rows from another split and hands them to `fields`
as `shots`, so each subject is prompted with its own dev examples, as the benchmarks prescribe.
Besides the row's columns, `fields` templates see `row` (the whole row, e.g. for a Jinja macro
that formats a row and its shots alike), `shots` and `config`.

A local copy (a file, or a folder under --data-dir named like the hub id) is read offline; see
docs/public-benchmarks.md for the folder layouts understood.
"""
from __future__ import annotations

import csv
import os
import random
import socket
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from evals.errors import InputError, RuntimeFailure, UsageError
from evals.items import Item, item_from_dict

_LOCAL_BUILDERS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json"}
SOURCE_KEYS = {"dataset", "name", "split", "fields", "fewshot", "attacks"}  # attacks: see evals.safety
FEWSHOT_KEYS = {"split", "n", "seed"}
LAYOUT_HINT = "docs/public-benchmarks.md"


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
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return env.from_string(value).render(**row)
    if isinstance(value, str):
        if value not in row:
            raise KeyError(value)
        return row[value]
    return value


def _subjects(source: dict[str, Any], where: str) -> tuple[list[tuple[str | None, dict[str, Any]]], bool]:
    """The configs to read with the meta tags of each; True when the source names several."""
    name = source.get("name")
    if name is None or isinstance(name, str):
        return [(name, {})], False
    if isinstance(name, list) and name and all(isinstance(n, str) for n in name):
        return [(n, {}) for n in name], True
    if isinstance(name, dict) and name:
        out: list[tuple[str | None, dict[str, Any]]] = []
        for config, tags in name.items():
            if isinstance(tags, str):
                tags = {"category": tags}
            elif tags is None:
                tags = {}
            elif not isinstance(tags, dict):
                raise InputError(f"{where}: name", f"config {config!r}: tags must be a category name or a mapping")
            out.append((str(config), dict(tags)))
        return out, True
    raise InputError(f"{where}: name", "must be a config name, a list of them, or a mapping config → category")


def _fewshot_spec(source: dict[str, Any], where: str) -> dict[str, Any] | None:
    spec = source.get("fewshot")
    if spec is None:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("split"), str):
        raise InputError(f"{where}: fewshot", "must be a mapping with 'split' (e.g. {split: dev, n: 5, seed: 1234})")
    unknown = set(spec) - FEWSHOT_KEYS
    if unknown:
        raise InputError(f"{where}: fewshot",
                         f"unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(FEWSHOT_KEYS))}")
    n = spec.get("n", 5)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InputError(f"{where}: fewshot", "'n' must be a whole number of at least 1")
    seed = spec.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise InputError(f"{where}: fewshot", "'seed' must be a whole number (leave it out for the first n rows)")
    return {"split": spec["split"], "n": n, "seed": seed}


def _local_files(folder: Path, config: str | None, split: str, where: str) -> list[Path]:
    """The files of one config's split in a local copy; [] when that copy does not hold them.

    Understood: `<config>/<split>.<ext>` (our export), `<config>/<split>-*.<ext>` (a hub snapshot's
    shards), `<config>/<split>/*.<ext>` (the hub's refs/convert/parquet branch), `<split>/<config>.<ext>`
    (CMMLU's zip) and `<split>/<config>_<split>.<ext>` (C-Eval's zip); without a config, the same
    with the config folder left out, and `data/<split>-*.<ext>`.
    """
    if config is not None:
        patterns = [f"{config}/{split}.*", f"{config}/{split}-*", f"{config}/{split}/*", f"{split}/{config}.*",
                    f"{split}/{config}_{split}.*"]
    else:
        patterns = [f"{split}.*", f"{split}-*", f"{split}/*", f"data/{split}-*"]
    for pattern in patterns:
        files = sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix in _LOCAL_BUILDERS)
        if files:
            kinds = {_LOCAL_BUILDERS[p.suffix] for p in files}
            if len(kinds) > 1:
                raise InputError(where, f"{folder / pattern} matches files of several formats",
                                 "keep one format per split")
            return files
    return []


def _csv_options(path: Path) -> dict[str, Any]:
    """Read every CSV cell as text: an option '1.50' or 'NA' must reach the prompt as written."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh), [])
    return {"converters": {i: str for i in range(len(header))}, "keep_default_na": False}


def _load_files(files: list[Path], split: str) -> Any:
    from datasets import load_dataset

    builder = _LOCAL_BUILDERS[files[0].suffix]
    options = _csv_options(files[0]) if builder == "csv" else {}
    return load_dataset(builder, data_files={split: [str(f) for f in files]}, split=split, **options)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1"


@lru_cache(maxsize=1)
def _hub_unreachable() -> bool:
    """True when the hub's host cannot even be reached: fail in seconds, not after a minute of retries.

    Skipped behind a proxy, where only the proxy knows whether the hub can be reached.
    """
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=5).close()
    except OSError:
        return True
    return False


def _not_on_disk(where: str, ref: str, data_dir: Path | None, why: str) -> UsageError:
    place = f"{data_dir / ref}" if data_dir is not None else f"--data-dir DIR as DIR/{ref}"
    return UsageError(f"{where}: dataset {ref!r} is not on disk and the hub is {why} "
                      f"(put a copy in the same schema under {place}; see {LAYOUT_HINT})")


def _is_connection_error(exc: Exception) -> bool:
    names = " ".join(t.__name__ for t in type(exc).__mro__)
    text = str(exc)
    return ("Connection" in names or "Offline" in names or "Timeout" in names
            or "Couldn't reach" in text or "offline mode" in text.lower())


class _Reader:
    """Reads (config, split) pairs of one source, from the local copy when there is one, else the hub."""

    def __init__(self, ref: str, local: Path | None, data_dir: Path | None, where: str) -> None:
        self.ref, self.local, self.data_dir, self.where = ref, local, data_dir, where

    def read(self, config: str | None, split: str, fallback: bool) -> list[dict[str, Any]] | None:
        """The rows, or None when a local folder lacks them and `fallback` is off."""
        from datasets import load_dataset

        ref, local, where = self.ref, self.local, self.where
        try:
            if local is not None and local.is_file():
                builder = _LOCAL_BUILDERS.get(local.suffix)
                if builder is None:
                    raise InputError(where, f"cannot read {local.suffix} files", "use parquet, csv, json or jsonl")
                return list(_load_files([local], split))
            if local is not None:
                files = _local_files(local, config, split, where)
                if files:
                    return list(_load_files(files, split))
                if not fallback:
                    return None
                # Not a layout we know: let `datasets` try (a folder with a README that declares configs).
                return list(load_dataset(str(local), config, split=split))
            if _offline():
                raise _not_on_disk(where, ref, self.data_dir, "offline")
            if _hub_unreachable():
                raise _not_on_disk(where, ref, self.data_dir, "unreachable")
            return list(load_dataset(ref, config, split=split))
        except (UsageError, InputError):
            raise
        except Exception as exc:  # datasets raises many kinds; the user needs the one line
            if local is None and _is_connection_error(exc):
                raise _not_on_disk(where, ref, self.data_dir, "unreachable") from None
            what = f"{ref!r}" + (f" config {config!r}" if config else "") + f" split {split!r}"
            hint = f" (expected files laid out as in {LAYOUT_HINT})" if local is not None else ""
            raise RuntimeFailure(f"{where}: could not load dataset {what}: {type(exc).__name__}: {exc}{hint}") from None


def _pick_shots(rows: list[dict[str, Any]], spec: dict[str, Any], config: str | None) -> list[int]:
    """Row indices of the demonstrations: the first n, or a sample seeded by (seed, config)."""
    n = min(spec["n"], len(rows))
    if spec["seed"] is None:
        return list(range(n))
    return random.Random(f"{spec['seed']}/{config or ''}").sample(range(len(rows)), n)


def load_dataset_items(source: dict[str, Any], where: str, data_dir: Path | None = None) -> list[Item]:
    """Read a task's items from a `datasets` source (see the module docstring for the keys)."""
    try:
        import datasets
    except ImportError:
        raise UsageError(f"{where}: this task reads a `datasets` source; pip install datasets") from None
    import jinja2

    unknown = set(source) - SOURCE_KEYS
    if unknown:
        raise InputError(where, f"unknown key {sorted(unknown)[0]!r}; allowed: {', '.join(sorted(SOURCE_KEYS))}")
    ref = str(source["dataset"])
    split = str(source.get("split", "test"))
    subjects, multi = _subjects(source, where)
    shot_spec = _fewshot_spec(source, where)
    local = _resolve_local(ref, data_dir)
    reader = _Reader(ref, local, data_dir, where)

    if multi and local is not None and local.is_file():
        raise InputError(f"{where}: name", f"{local} is one file; several configs need a folder",
                         f"see {LAYOUT_HINT}")
    # A folder in none of the layouts we know is handed to `datasets` whole (a README declaring configs).
    known = local is None or local.is_file() or any(
        _local_files(local, config, split, where) for config, _ in subjects)

    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # the run has its own progress bar
    try:
        tables: list[tuple[str | None, dict[str, Any], list[tuple[int, dict[str, Any]]], list[dict[str, Any]]]] = []
        missing: list[str] = []
        for config, tags in subjects:
            rows = reader.read(config, split, fallback=not known)
            if rows is None:
                missing.append(str(config))
                continue
            numbered = list(enumerate(rows))
            shots: list[dict[str, Any]] = []
            if shot_spec is not None:
                same = shot_spec["split"] == split
                pool = rows if same else reader.read(config, shot_spec["split"], fallback=not known)
                if pool is None:
                    raise InputError(where, f"{local} has the {split!r} split of {config!r} but not its "
                                            f"{shot_spec['split']!r} split (the few-shot examples)",
                                     f"copy both; see {LAYOUT_HINT}")
                chosen = _pick_shots(pool, shot_spec, config)
                shots = [pool[i] for i in chosen]
                if same:  # demonstrations drawn from the scored split are not scored
                    numbered = [(i, r) for i, r in numbered if i not in set(chosen)]
            tables.append((config, tags, numbered, shots))
    finally:
        if bars:
            datasets.enable_progress_bars()
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        print(f"evaluate: note: {where}: {local} holds {len(tables)} of the {len(subjects)} subjects of {ref!r}; "
              f"scoring those, without {shown}", file=sys.stderr)

    fields = source.get("fields") or {}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    items: list[Item] = []
    for config, tags, rows, shots in tables:
        for i, row in rows:
            ctx = {"config": config, "row": row} | dict(row) | {"shots": shots}
            items.append(_item(ctx, row, fields, env, i, ref, where, config if multi else None, tags))
    return items


def _item(ctx: dict[str, Any], row: dict[str, Any], fields: dict[str, Any], env: Any, i: int, ref: str,
          where: str, config: str | None, tags: dict[str, Any]) -> Item:
    import jinja2

    raw: dict[str, Any] = {"id": f"{i}"}
    try:
        for key, spec in fields.items():
            if key == "meta":
                raw["meta"] = {k: _render(v, ctx, env) for k, v in spec.items()}
            else:
                raw[key] = _render(spec, ctx, env)
    except KeyError as exc:
        raise InputError(f"{where}: fields", f"column {exc} not in dataset {ref!r}",
                         f"columns are {', '.join(row)}") from None
    except jinja2.TemplateError as exc:
        raise InputError(f"{where}: fields", f"template error: {exc}") from None
    for key in ("input", "id"):
        if key not in fields and key in row:
            raw[key] = row[key]
    raw["id"] = str(raw["id"]) if config is None else f"{config}/{raw['id']}"
    if raw.get("choices") is not None and isinstance(raw.get("target"), str) and raw["target"].strip().isdigit():
        raw["target"] = int(raw["target"])
    meta = raw.get("meta") or {}
    if config is not None:
        meta = {"subject": config} | tags | meta
    raw["meta"] = meta
    label = f"{ref} {config} row {i}" if config is not None else f"{ref} row {i}"
    return item_from_dict(raw, label)
