"""Attack tasks: a sample of should-refuse items, each under every declared transform.

Declared in the task's `items`:

    items:
      path: safety/should_refuse_zh.jsonl
      sample: 60                      # base items, seeded and spread evenly over risks
      counterparts: safety/should_refuse_en.jsonl   # for language_switch (meta.pair)
      attacks: [none, roleplay, [roleplay, base64], {name: multi_turn}]

`none` keeps the un-attacked item as the baseline the attack success rates are compared with.
"""
from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from evals.errors import InputError
from evals.items import Item, item_from_dict, load_items

BASELINE = "none"


def stratified_sample(items: list[Item], n: int, seed: int, key: str = "risk") -> list[Item]:
    """n items spread as evenly as possible over meta[key], in a seeded order."""
    if n >= len(items):
        return items
    rng = random.Random(seed)
    buckets: dict[str, list[Item]] = defaultdict(list)
    for it in items:
        buckets[str(it.meta.get(key))].append(it)
    for b in buckets.values():
        rng.shuffle(b)
    picked: list[Item] = []
    order = sorted(buckets)
    while len(picked) < n:
        for k in order:
            if buckets[k] and len(picked) < n:
                picked.append(buckets[k].pop())
    keep = {it.id for it in picked}
    return [it for it in items if it.id in keep]


def expand_attacks(source: dict[str, Any], items: list[Item], where: str, seed: int) -> list[Item]:
    from evals.safety.attacks import apply_attacks

    specs = source.get("attacks")
    if not isinstance(specs, list) or not specs:
        raise InputError(where, "'attacks' must be a non-empty list of transform names, compositions or {name: ...}")
    base = stratified_sample(items, int(source.get("sample", len(items))), seed)
    counterparts: dict[str, dict[str, Any]] = {}
    if source.get("counterparts"):
        counterparts = {it.id: it.as_dict() for it in load_items({"path": source["counterparts"]}, where)}
    out: list[Item] = []
    raw = [it.as_dict() for it in base]
    for spec in specs:
        if spec == BASELINE:
            out += [item_from_dict(r | {"meta": r["meta"] | {"attack": BASELINE, "base_id": r["id"]}}, where) for r in raw]
            continue
        spec = _with_counterparts(spec, counterparts)
        for r in apply_attacks(raw, [spec]):
            out.append(item_from_dict(r, where))
    return out


def _with_counterparts(spec: Any, counterparts: dict[str, dict[str, Any]]) -> Any:
    if not counterparts:
        return spec
    if spec == "language_switch":
        return {"name": "language_switch", "counterparts": counterparts}
    if isinstance(spec, dict) and spec.get("name") == "language_switch":
        return spec | {"counterparts": counterparts}
    if isinstance(spec, list):
        return [_with_counterparts(s, counterparts) for s in spec]
    return spec
