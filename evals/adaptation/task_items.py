"""Task-level item transforms of the adaptation suite, applied when a task's items are loaded.

- `perturb: {kind, rate, seed, lang?}`: each item's `input` gets typos or punctuation noise. The noise
  is keyed by the item id (`robustness.typos(..., key=item.id, seed=seed)`), so it is the same on every
  run and every model, and the item keeps its id: a perturbed task pairs item by item with its
  `baseline` (the clean task) for the drop rate.
- `circular: true`: each multiple-choice item becomes its n cyclic rotations (`<id>#r<k>`), with
  `meta.group` = the original id (rotations of one question are one cluster for confidence
  intervals, and `--limit` keeps them together) and `meta.rotation_of` = the original id (what the
  `circular_choice` scorer groups by).

The pipeline (`plan_tasks`) and `evaluate list tasks` both call `apply_task_transforms`, so the suite
hash, the response cache and the listed counts all see the transformed items.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from evals.adaptation.robustness import punctuation_noise, rotations, typos
from evals.errors import InputError
from evals.items import Item


def apply_task_transforms(spec: Any, items: list[Item], where: str) -> list[Item]:
    """The task's items after its `perturb` and `circular` keys (a no-op for other tasks)."""
    perturb = getattr(spec, "perturb", None)
    if perturb:
        items = [perturb_item(it, perturb) for it in items]
    if getattr(spec, "circular", False):
        items = expand_circular(items, where)
    return items


def _lang(item: Item, text: str, declared: str | None) -> str:
    lang = declared or str(item.meta.get("lang") or "")
    if lang.lower().startswith(("zh", "en")):
        return lang[:2].lower()
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    return "zh" if cjk > 0.2 * max(len(text), 1) else "en"


def perturb_text(text: str, lang: str, perturb: dict[str, Any], key: str) -> str:
    rate, seed = float(perturb.get("rate", 0.05)), int(perturb.get("seed", 0))
    if perturb["kind"] == "typos":
        return typos(text, lang, rate=rate, key=key, seed=seed)
    if perturb["kind"] == "punctuation":
        return punctuation_noise(text, lang, key=key, seed=seed, rate=rate)
    raise ValueError(f"unknown perturbation {perturb['kind']!r}")


def perturb_item(item: Item, perturb: dict[str, Any]) -> Item:
    """`item` with its input perturbed (keyed by its id); choices, target and id unchanged."""
    if item.input is None:
        return item
    lang = _lang(item, item.input, perturb.get("lang"))
    text = perturb_text(item.input, lang, perturb, item.id)
    tag = f"{perturb['kind']}@{float(perturb.get('rate', 0.05)):g}/seed{int(perturb.get('seed', 0))}"
    return replace(item, input=text, meta=dict(item.meta) | {"perturbation": tag})


def expand_circular(items: list[Item], where: str) -> list[Item]:
    """Every item as its n cyclic rotations, ids `<id>#r<k>`; rotation 0 is the original order."""
    out: list[Item] = []
    for item in items:
        if not item.choices:
            raise InputError(where, f"item {item.id!r} has no 'choices': circular: true needs multiple choice")
        for k, (choices, target) in enumerate(rotations(item.choices, int(item.target))):
            meta = dict(item.meta) | {"group": item.id, "rotation_of": item.id, "rotation": k}
            if item.meta.get("group") not in (None, item.id):
                meta["source_group"] = item.meta["group"]
            out.append(replace(item, id=f"{item.id}#r{k}", choices=choices, target=target, meta=meta))
    return out
