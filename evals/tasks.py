"""Task definitions: what a task asks (YAML), validated up front."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from evals.errors import InputError
from evals.yamlfile import YamlDoc

AREAS = ("performance", "safety", "ethics", "adaptation")
KINDS = ("generate", "loglikelihood")
TASK_KEYS = {
    "task", "area", "description", "version", "items", "kind", "template", "system", "choice_template",
    "fewshot", "generation", "chat", "scorers", "metrics", "primary_metric", "breakdowns", "tags",
    "higher_is_better", "perturb", "baseline", "circular",
}
GENERATION_KEYS = {"max_new_tokens", "stop", "temperature", "top_p", "samples"}
FEWSHOT_KEYS = {"n", "seed", "source", "separator"}
PERTURB_KINDS = ("typos", "punctuation")
PERTURB_KEYS = {"kind", "rate", "seed", "lang"}


@dataclass
class ScorerSpec:
    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskSpec:
    name: str
    area: str
    kind: str
    items: dict[str, Any]
    template: str
    path: Path
    description: str = ""
    version: str = "1"
    system: str | None = None
    choice_template: str = " {{ choice }}"
    fewshot: dict[str, Any] = field(default_factory=dict)
    generation: dict[str, Any] = field(default_factory=dict)
    chat: str = "auto"
    scorers: list[ScorerSpec] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    primary_metric: str = ""
    breakdowns: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    higher_is_better: bool = True
    perturb: dict[str, Any] | None = None  # {kind, rate, seed, lang?}: noise applied to each item's input at load
    baseline: str | None = None  # the clean task this one's drop rate is measured against
    circular: bool = False  # multiple choice expanded into every cyclic rotation of its options
    raw: dict[str, Any] = field(default_factory=dict)

    def where(self) -> str:
        return str(self.path)


def _check_template(doc: YamlDoc, key: str, text: str) -> None:
    try:
        jinja2.Environment().parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise doc.error(key, f"template syntax error on its line {exc.lineno}: {exc.message}") from None


def parse_task(doc: YamlDoc) -> TaskSpec:
    doc.check_keys(TASK_KEYS)
    name = doc.require("task", str)
    area = doc.require("area", str)
    if area not in AREAS:
        raise doc.error("area", f"must be one of {', '.join(AREAS)}, got {area!r}")
    kind = doc.require("kind", str)
    if kind not in KINDS:
        raise doc.error("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    items = doc.require("items", dict)
    if not {"path", "paths", "dataset", "generator"} & set(items):
        raise doc.error("items", "needs 'path' or 'paths' (JSONL under seeds/), 'dataset' (a datasets source) "
                                 "or 'generator'")
    template = doc.require("template", str)
    _check_template(doc, "template", template)
    choice_template = doc.optional("choice_template", str, " {{ choice }}")
    _check_template(doc, "choice_template", choice_template)
    generation = doc.optional("generation", dict, {})
    for key in generation:
        if key not in GENERATION_KEYS:
            raise doc.error("generation", f"unknown key {key!r}; allowed: {', '.join(sorted(GENERATION_KEYS))}")
    fewshot = doc.optional("fewshot", dict, {})
    for key in fewshot:
        if key not in FEWSHOT_KEYS:
            raise doc.error("fewshot", f"unknown key {key!r}; allowed: {', '.join(sorted(FEWSHOT_KEYS))}")
    chat = str(doc.optional("chat", (str, bool), "auto")).lower()
    if chat not in ("auto", "true", "false"):
        raise doc.error("chat", "must be auto, true or false")
    scorers_raw = doc.require("scorers", list)
    scorers: list[ScorerSpec] = []
    for entry in scorers_raw:
        if isinstance(entry, str):
            scorers.append(ScorerSpec(entry))
        elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
            scorers.append(ScorerSpec(entry["name"], {k: v for k, v in entry.items() if k != "name"}))
        else:
            raise doc.error("scorers", "each scorer is a name or a mapping with 'name' and its options")
    if not scorers:
        raise doc.error("scorers", "needs at least one scorer")
    perturb = _parse_perturb(doc)
    baseline = doc.optional("baseline", str, None)
    if baseline is not None and baseline == name:
        raise doc.error("baseline", "a task cannot be its own baseline; name the clean task")
    circular = doc.optional("circular", bool, False)
    metrics = [str(m) for m in doc.optional("metrics", list, [])]
    if circular:
        scorers, metrics = _circular_scorers(doc, kind, fewshot, scorers, metrics)
    primary = doc.optional("primary_metric", str, metrics[0] if metrics else "")
    return TaskSpec(
        name=name, area=area, kind=kind, items=items, template=template, path=doc.path,
        description=doc.optional("description", str, ""), version=str(doc.optional("version", (str, int, float), "1")),
        system=doc.optional("system", str, None), choice_template=choice_template, fewshot=fewshot,
        generation=generation, chat=chat, scorers=scorers, metrics=metrics, primary_metric=primary,
        breakdowns=[str(b) for b in doc.optional("breakdowns", list, ["category", "lang"])],
        tags=[str(t) for t in doc.optional("tags", list, [])],
        higher_is_better=bool(doc.optional("higher_is_better", bool, True)), perturb=perturb, baseline=baseline,
        circular=circular, raw=dict(doc.data),
    )


def _parse_perturb(doc: YamlDoc) -> dict[str, Any] | None:
    """`perturb: {kind: typos|punctuation, rate: 0..1, seed: INT, lang: zh|en}`; lang defaults to each item's."""
    raw = doc.optional("perturb", dict, None)
    if raw is None:
        return None
    for key in raw:
        if key not in PERTURB_KEYS:
            raise doc.error("perturb", f"unknown key {key!r}; allowed: {', '.join(sorted(PERTURB_KEYS))}")
    kind = raw.get("kind")
    if kind not in PERTURB_KINDS:
        raise doc.error("perturb", f"kind must be one of {', '.join(PERTURB_KINDS)}, got {kind!r}")
    rate = raw.get("rate", 0.05 if kind == "typos" else 0.3)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
        raise doc.error("perturb", f"rate must be a number in [0, 1], got {rate!r}")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise doc.error("perturb", f"seed must be an integer, got {seed!r}")
    lang = raw.get("lang")
    if lang is not None and lang not in ("zh", "en"):
        raise doc.error("perturb", f"lang must be zh or en (or left out to use each item's meta.lang), got {lang!r}")
    return {"kind": kind, "rate": float(rate), "seed": seed, **({"lang": lang} if lang else {})}


def _circular_scorers(doc: YamlDoc, kind: str, fewshot: dict[str, Any], scorers: list[ScorerSpec],
                      metrics: list[str]) -> tuple[list[ScorerSpec], list[str]]:
    """`circular: true`: the `choice` scorer becomes `circular_choice`, whose primary metric is circular_acc."""
    if kind != "loglikelihood":
        raise doc.error("circular", "only multiple-choice tasks (kind: loglikelihood) can be circular")
    if int(fewshot.get("n", 0) or 0) > 0 and "source" not in fewshot:
        raise doc.error("circular", "few-shot examples must come from a 'source' bank: drawn from the task's own "
                                    "items they would show a rotation of a test item")
    names = [s.name for s in scorers]
    if "choice" not in names and "circular_choice" not in names:
        raise doc.error("circular", "needs the 'choice' scorer (it is run as 'circular_choice')")
    scorers = [ScorerSpec("circular_choice", s.args) if s.name == "choice" else s for s in scorers]
    if not metrics:
        metrics = ["circular_acc", "acc", "acc_norm"]
    elif "circular_acc" not in metrics:
        raise doc.error("metrics", "a circular task reports circular_acc: add it (first, to make it primary)")
    return scorers, metrics
