"""What the pipeline asks a model: requests, and what comes back: responses."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    """One model call. `prompt` is plain text; `messages` a chat (the adapter applies the template).

    For `loglikelihood`, the score is log P(continuation | prompt or rendered messages).
    """

    kind: str
    prompt: str | None = None
    messages: tuple[tuple[str, str], ...] | None = None
    continuation: str | None = None
    params: tuple[tuple[str, Any], ...] = ()

    def param(self, name: str, default: Any = None) -> Any:
        return dict(self.params).get(name, default)

    def payload(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind}
        if self.prompt is not None:
            d["prompt"] = self.prompt
        if self.messages is not None:
            d["messages"] = [{"role": r, "content": c} for r, c in self.messages]
        if self.continuation is not None:
            d["continuation"] = self.continuation
        if self.params:
            d["params"] = dict(self.params)
        return d

    @property
    def key(self) -> str:
        """Content hash: the same request gives the same key in any run, on any machine."""
        blob = json.dumps(self.payload(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class Response:
    text: str = ""
    prompt_sent: str = ""
    logprob: float | None = None
    is_greedy: bool | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    finish_reason: str = ""
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, {}, "")}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Response":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
