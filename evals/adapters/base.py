"""The adapter interface."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Iterator

from evals.requests import Request, Response


class Adapter(ABC):
    """A loaded model behind one backend.

    `run` takes every pending request at once so the adapter can deduplicate, sort and batch them
    as suits its backend, and yields finished batches as `(index, response)` pairs so the pipeline
    can store them as they complete.
    """

    name: str = "adapter"
    model_name: str = ""
    fingerprint: str = ""
    supports_chat: bool = False

    @abstractmethod
    def run(self, requests: list[Request]) -> Iterator[list[tuple[int, Response]]]: ...

    def settings(self) -> dict[str, Any]:
        return {}

    def efficiency(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:  # noqa: B027  (optional hook)
        pass
