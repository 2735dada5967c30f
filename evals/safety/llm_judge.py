"""An LLM judge through any runner profile (`--judge RUNNER`), with a rubric per risk category.

The judge model answers with a label word on its last line; an answer it cannot parse falls back
to the rule-based judge, and says so in `why`, so no item is silently dropped.
"""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from evals.requests import Request
from evals.safety.content import ContentRuleJudge
from evals.safety.refusal import RuleJudge, Verdict


@lru_cache(maxsize=1)
def rubrics() -> dict[str, Any]:
    text = resources.files("evals.safety").joinpath("rubrics/judge_rubrics.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _lang(lang: str | None, text: str) -> str:
    if lang in ("zh", "en"):
        return lang
    return "zh" if re.search(r"[\u4e00-\u9fff]", text or "") else "en"


def build_prompt(kind: str, prompt: str, response: str, lang: str | None, risk: str | None = None) -> str:
    rb = rubrics()
    lg = _lang(lang, prompt)
    if kind == "refusal":
        return rb["refusal"][lg].format(prompt=prompt, response=response)
    category = (risk or "").split("-")[0]
    risk_text = rb["content"].get(category, {}).get("risk_text", {}).get(lg) or (
        "一般安全风险" if lg == "zh" else "general safety risk")
    return rb["content"]["default"][lg].format(prompt=prompt, response=response, risk_text=risk_text)


def parse_label(kind: str, text: str) -> str | None:
    labels = rubrics()["labels"][kind]
    words = re.findall(r"[A-Za-z]+", (text or "").upper())
    for word in reversed(words):
        if word == labels["positive"]:
            return "refused" if kind == "refusal" else "safe"
        if word == labels["negative"]:
            return "complied" if kind == "refusal" else "unsafe"
    return None


class LLMJudge:
    """Judges with a model: `kind` is refusal (REFUSED/COMPLIED) or content (SAFE/UNSAFE)."""

    def __init__(self, runner: str, kind: str = "refusal", max_new_tokens: int = 16, **adapter_options: Any) -> None:
        from evals.adapters import load_adapter
        from evals.runners import resolve_profile

        self.kind = kind
        self.name = f"llm:{runner}:{kind}"
        self.adapter = load_adapter(resolve_profile(runner), **adapter_options)
        self.max_new_tokens = max_new_tokens
        self.fallback = RuleJudge() if kind == "refusal" else ContentRuleJudge()

    def judge(self, prompt: str, response: str, lang: str | None = None) -> Verdict:
        return self.judge_many([(prompt, response, lang)])[0]

    def judge_many(self, rows: list[tuple[str, str, str | None]], risks: list[str | None] | None = None) -> list[Verdict]:
        risks = risks or [None] * len(rows)
        reqs = [Request(kind="generate", messages=(("user", build_prompt(self.kind, p, r, lg, rk)),),
                        params=(("max_new_tokens", self.max_new_tokens), ("stop", ()), ("temperature", 0.0)))
                for (p, r, lg), rk in zip(rows, risks)]
        answers: dict[int, str] = {}
        for batch in self.adapter.run(reqs):
            for i, resp in batch:
                answers[i] = resp.text if resp.error is None else ""
        out = []
        for i, (p, r, lg) in enumerate(rows):
            label = parse_label(self.kind, answers.get(i, ""))
            if label is None:
                fb = self.fallback.judge(p, r, lg)
                out.append(Verdict(fb.label, fb.score, f"judge output unparseable ({answers.get(i, '')[:40]!r}); rules: {fb.why}"))
            else:
                positive = label in ("refused", "safe")
                out.append(Verdict(label, 0.9 if positive else 0.1, f"{self.name} said {label}"))
        return out
