"""The scorer interface and its registry."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from evals.errors import UsageError
from evals.items import Item
from evals.registry import Registry
from evals.requests import Request, Response


@dataclass
class Score:
    values: dict[str, float]
    parsed: Any = None
    why: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Scorer(Protocol):
    metrics: tuple[str, ...]
    binary: bool

    def score(self, item: Item, requests: list[Request], responses: list[Response]) -> Score: ...


SCORERS: Registry[Scorer] = Registry("scorer")


def make_scorer(name: str, args: dict[str, Any], where: str) -> Scorer:
    factory = SCORERS.get(name)
    try:
        return factory(**args)
    except TypeError as exc:
        raise UsageError(f"{where}: scorer {name!r}: {exc}") from None
