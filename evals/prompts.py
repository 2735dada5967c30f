"""Turning items into requests: Jinja2 templates, few-shot examples, chat or completion."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import jinja2

from evals.items import Item
from evals.requests import Request
from evals.tasks import TaskSpec

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


def _context(item: Item) -> dict[str, Any]:
    return {"id": item.id, "input": item.input or "", "choices": item.choices or [], "target": item.target,
            "meta": item.meta, "letters": LETTERS}


def answer_text(task: TaskSpec, item: Item) -> str:
    """The text of a correct answer, for few-shot demonstrations."""
    if item.choices is not None:
        return render_choice(task, item, int(item.target)).strip()
    return str(item.target if item.target is not None else item.meta.get("answer", ""))


def render_choice(task: TaskSpec, item: Item, index: int) -> str:
    ctx = _context(item) | {"choice": item.choices[index], "letter": LETTERS[index], "index": index}
    return _ENV.from_string(task.choice_template).render(**ctx)


@dataclass
class PromptBuilder:
    """Builds the requests for one task; the few-shot prefix is fixed, so a backend can reuse it."""

    task: TaskSpec
    use_chat: bool
    fewshot: list[Item]

    def user_text(self, item: Item) -> str:
        try:
            return _ENV.from_string(self.task.template).render(**_context(item))
        except jinja2.UndefinedError as exc:
            from evals.errors import InputError

            raise InputError(f"{self.task.path}: field 'template'", f"item {item.id!r}: {exc.message}") from None

    def _chat(self, item: Item) -> tuple[tuple[str, str], ...]:
        msgs: list[tuple[str, str]] = []
        if self.task.system:
            msgs.append(("system", self.task.system))
        for shot in self.fewshot:
            msgs.append(("user", self.user_text(shot)))
            msgs.append(("assistant", answer_text(self.task, shot)))
        if item.messages:
            msgs.extend((m["role"], m["content"]) for m in item.messages)
            if item.input:
                msgs.append(("user", self.user_text(item)))
        else:
            msgs.append(("user", self.user_text(item)))
        return tuple(msgs)

    def _text(self, item: Item) -> str:
        sep = str(self.task.fewshot.get("separator", "\n\n"))
        parts = []
        if self.task.system:
            parts.append(self.task.system)
        for shot in self.fewshot:
            if shot.choices and self.task.kind == "loglikelihood":
                parts.append(self.user_text(shot) + render_choice(self.task, shot, int(shot.target)))
            else:
                parts.append(self.user_text(shot) + " " + answer_text(self.task, shot))
        if item.messages:
            parts.append("\n".join(m["content"] for m in item.messages))
        parts.append(self.user_text(item))
        return sep.join(parts)

    def requests(self, item: Item) -> list[Request]:
        base: dict[str, Any] = {}
        if self.use_chat:
            base["messages"] = self._chat(item)
        else:
            base["prompt"] = self._text(item)
        if self.task.kind == "loglikelihood":
            if not item.choices:
                from evals.errors import InputError

                raise InputError(f"{self.task.path}", f"item {item.id!r} has no 'choices' for a loglikelihood task")
            return [Request(kind="loglikelihood", continuation=render_choice(self.task, item, i), **base)
                    for i in range(len(item.choices))]
        gen = self.task.generation
        params = {
            "max_new_tokens": int(gen.get("max_new_tokens", 256)),
            "stop": list(gen.get("stop", [])),
            "temperature": float(gen.get("temperature", 0.0)),
        }
        if "top_p" in gen:
            params["top_p"] = float(gen["top_p"])
        samples = int(gen.get("samples", 1))
        reqs = []
        for s in range(samples):
            p = dict(params)
            if params["temperature"] > 0:
                p["sample"] = s
            reqs.append(Request(kind="generate", params=tuple(sorted((k, _freeze(v)) for k, v in p.items())), **base))
        return reqs


def _freeze(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def split_fewshot(task: TaskSpec, items: list[Item], seed: int, pool: list[Item] | None = None) -> tuple[list[Item], list[Item]]:
    """Pick the fixed few-shot examples; when they come from the task's own items, drop them from the test set."""
    n = int(task.fewshot.get("n", 0))
    if n <= 0:
        return [], items
    rng = random.Random(int(task.fewshot.get("seed", seed)))
    source = pool if pool is not None else items
    shots = rng.sample(source, min(n, max(len(source) - 1, 0)))
    if pool is None:
        chosen = {s.id for s in shots}
        items = [it for it in items if it.id not in chosen]
    return shots, items
