"""One generic name → factory registry, with did-you-mean errors and entry-point plugins."""
from __future__ import annotations

import difflib
from importlib.metadata import entry_points
from typing import Callable, Generic, Iterator, TypeVar

from evals.errors import UsageError

T = TypeVar("T")


def did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


class Registry(Generic[T]):
    """Names of one kind of thing (scorers, adapters, ...) mapped to factories.

    Third-party packages add entries through the entry-point group ``evals.<kind>s``; they are
    loaded lazily, the first time a name is not found among the built-in ones.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}
        self._plugins_loaded = False

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories and self._factories[name] is not factory:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._factories[name] = factory
            return factory

        return deco

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=f"evals.{self.kind}s"):
            if ep.name not in self._factories:
                self._factories[ep.name] = ep.load()

    def get(self, name: str) -> Callable[..., T]:
        if name not in self._factories:
            self._load_plugins()
        try:
            return self._factories[name]
        except KeyError:
            raise UsageError(
                f"unknown {self.kind} {name!r}{did_you_mean(name, self.names())} "
                f"(known: {', '.join(self.names())})"
            ) from None

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._factories)

    def __contains__(self, name: str) -> bool:
        self._load_plugins()
        return name in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
