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
    "higher_is_better",
}
GENERATION_KEYS = {"max_new_tokens", "stop", "temperature", "top_p", "samples"}
FEWSHOT_KEYS = {"n", "seed", "source", "separator"}


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
    if not {"path", "paths", "dataset"} & set(items):
        raise doc.error("items", "needs 'path' or 'paths' (JSONL under seeds/) or 'dataset' (a datasets source)")
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
    metrics = [str(m) for m in doc.optional("metrics", list, [])]
    primary = doc.optional("primary_metric", str, metrics[0] if metrics else "")
    return TaskSpec(
        name=name, area=area, kind=kind, items=items, template=template, path=doc.path,
        description=doc.optional("description", str, ""), version=str(doc.optional("version", (str, int, float), "1")),
        system=doc.optional("system", str, None), choice_template=choice_template, fewshot=fewshot,
        generation=generation, chat=chat, scorers=scorers, metrics=metrics, primary_metric=primary,
        breakdowns=[str(b) for b in doc.optional("breakdowns", list, ["category", "lang"])],
        tags=[str(t) for t in doc.optional("tags", list, [])],
        higher_is_better=bool(doc.optional("higher_is_better", bool, True)), raw=dict(doc.data),
    )
