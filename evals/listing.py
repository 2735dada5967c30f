"""What `evaluate list` shows: suites, tasks with bank sizes, and models with install status."""
from __future__ import annotations

import importlib.util
import os
from collections import Counter
from typing import Any

from evals.items import load_items
from evals.runners import list_profiles
from evals.suites import load_catalog


def list_suites() -> list[dict[str, Any]]:
    cat = load_catalog()
    return [{"name": s.name, "version": s.version, "description": s.description, "standard": s.standard,
             "tasks": [t.name for t, _ in cat.suite_tasks(s)], "path": str(s.path)} for s in cat.suites.values()]


def list_tasks(suite: str | None = None) -> list[dict[str, Any]]:
    cat = load_catalog()
    specs = [t for t, _ in cat.suite_tasks(cat.suite(suite))] if suite else list(cat.tasks.values())
    out = []
    for spec in specs:
        entry: dict[str, Any] = {"name": spec.name, "area": spec.area, "kind": spec.kind,
                                 "description": spec.description, "path": str(spec.path)}
        if "dataset" in spec.items:
            entry.update(items=None, source=spec.items["dataset"])
        else:
            items = load_items(spec.items, f"{spec.path}: field 'items'")
            entry["items"] = len(items)
            if "attacks" in spec.items:
                from evals.safety.attack_items import expand_attacks

                items = expand_attacks(spec.items, items, str(spec.path), 1234)
                entry["items"] = len(items)
            if spec.perturb or spec.circular:
                from evals.adaptation.task_items import apply_task_transforms

                items = apply_task_transforms(spec, items, f"{spec.path}: field 'items'")
                entry["items"] = len(items)
                if spec.circular:
                    entry["original_items"] = len({it.meta.get("rotation_of") for it in items})
            for key in ("risk", "category", "topic", "lang", "attribute", "attack", "kind", "length"):
                counts = Counter(str(it.meta[key]) for it in items if key in it.meta)
                if counts:
                    entry[f"by_{key}"] = dict(sorted(counts.items()))
        out.append(entry)
    return out


def list_models() -> list[dict[str, Any]]:
    out = []
    for p in list_profiles().values():
        module = p.model.get("module")
        status = "installed" if not module or importlib.util.find_spec(module) else "missing"
        if p.adapter == "openai":  # hosted: ready when its key (if any) is in the environment
            key_env = p.settings.get("api_key_env")
            status = f"needs ${key_env}" if key_env and not os.environ.get(str(key_env)) else "endpoint"
        out.append({"name": p.name, "adapter": p.adapter, "description": p.description, "status": status,
                    "install": p.model.get("install"), "settings": p.settings})
    return out
