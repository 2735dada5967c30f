"""Scorers for generated text: exact match, normalised match, regex and number extraction."""
from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

from evals.items import Item
from evals.requests import Request, Response
from evals.scoring.base import SCORERS, Score


def normalise_answer(text: str) -> str:
    """NFKC, lower case, no punctuation, single spaces: 'The  Answer!' == 'the answer'."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(c)[0] in "PZ" else c for c in text)
    return " ".join(text.split())


def _targets(item: Item) -> list[str]:
    t = item.target
    return [str(x) for x in t] if isinstance(t, list) else [str(t)]


def _first(responses: list[Response]) -> str:
    return responses[0].text if responses else ""


@SCORERS.register("exact_match")
class ExactMatch:
    metrics = ("exact_match",)
    binary = True

    def __init__(self, strip: bool = True) -> None:
        self.strip = strip

    def score(self, item: Item, requests: list[Request], responses: list[Response]) -> Score:
        out = _first(responses)
        got = out.strip() if self.strip else out
        ok = any(got == (t.strip() if self.strip else t) for t in _targets(item))
        return Score({"exact_match": float(ok)}, parsed=got, why="matches the reference" if ok else "differs from the reference")


@SCORERS.register("normalized_match")
class NormalizedMatch:
    metrics = ("normalized_match",)
    binary = True

    def __init__(self, contains: bool = False) -> None:
        self.contains = contains

    def score(self, item: Item, requests: list[Request], responses: list[Response]) -> Score:
        got = normalise_answer(_first(responses))
        refs = [normalise_answer(t) for t in _targets(item)]
        ok = any((r in got) if self.contains else (got == r) for r in refs if r)
        return Score({"normalized_match": float(ok)}, parsed=got, why=("contains" if self.contains else "equals") +
                     (" the reference" if ok else " no reference"))


_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+(?:\.\d+)?)?")


def extract_numbers(text: str) -> list[float]:
    """Numbers in the order they appear; '1,234' is one number, '3/4' is 0.75, full-width digits work."""
    text = unicodedata.normalize("NFKC", text)
    values: list[float] = []
    for m in _NUMBER.finditer(text):
        raw = m.group(0).replace(",", "")
        try:
            if "/" in raw:
                num, den = raw.split("/")
                if float(den) == 0:
                    continue
                values.append(float(num) / float(den))
            else:
                values.append(float(raw))
        except ValueError:
            continue
    return values


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


@SCORERS.register("number")
class NumberMatch:
    """The answer is the number after an answer marker if there is one, else the last number."""

    metrics = ("accuracy",)
    binary = True
    # strong markers name the answer; weak ones ("=", 结果) only count when no strong one is there,
    # so "答案：36" followed by a check line "36÷4=9" still gives 36
    _STRONG = re.compile(r"(?:答案|answer|####)\s*(?:是|is|为|:|：)?\s*", re.IGNORECASE)
    _WEAK = re.compile(r"(?:结果|得数|=)\s*(?:是|is|为|:|：)?\s*", re.IGNORECASE)

    def __init__(self, pick: str = "auto") -> None:
        if pick not in ("auto", "last", "first"):
            raise TypeError("pick must be auto, last or first")
        self.pick = pick

    def extract(self, text: str) -> float | None:
        if self.pick == "auto":
            for markers in (self._STRONG, self._WEAK):
                for mark in reversed(list(markers.finditer(text))):
                    after = extract_numbers(text[mark.end():])
                    if after:
                        return after[0]
        nums = extract_numbers(text)
        if not nums:
            return None
        return nums[0] if self.pick == "first" else nums[-1]

    def score(self, item: Item, requests: list[Request], responses: list[Response]) -> Score:
        got = self.extract(_first(responses))
        try:
            gold = float(str(item.target).replace(",", ""))
        except ValueError:
            gold = math.nan
        ok = got is not None and _close(got, gold)
        why = "no number in the response" if got is None else f"extracted {got:g}, reference {gold:g}"
        return Score({"accuracy": float(ok)}, parsed=got, why=why)


@SCORERS.register("regex")
class RegexMatch:
    """Extract with a pattern (first group, or the whole match) and compare normalised to the target."""

    metrics = ("accuracy",)
    binary = True

    def __init__(self, pattern: str, flags: str = "") -> None:
        flag_value = 0
        for f in flags:
            flag_value |= {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}[f]
        try:
            self.pattern = re.compile(pattern, flag_value)
        except re.error as exc:
            raise TypeError(f"bad pattern: {exc}") from None

    def score(self, item: Item, requests: list[Request], responses: list[Response]) -> Score:
        matches = list(self.pattern.finditer(_first(responses)))
        if not matches:
            return Score({"accuracy": 0.0}, parsed=None, why="pattern not found")
        m = matches[-1]
        got: Any = m.group(1) if m.groups() else m.group(0)
        ok = normalise_answer(str(got)) in {normalise_answer(t) for t in _targets(item)}
        return Score({"accuracy": float(ok)}, parsed=got, why=f"extracted {got!r}")
