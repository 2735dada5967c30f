"""The OpenAI wire format for `evaluate serve`: request bodies in, response bodies out."""
from __future__ import annotations

import time
import uuid
from typing import Any

from evals.requests import Request, Response


class ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind

    def body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.kind, "code": self.status}}


def _number(body: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
        raise ApiError(400, f"'{name}' must be a number from {low:g} to {high:g}")
    return float(value)


def generation_params(body: dict[str, Any], max_length: int) -> tuple[tuple[str, Any], ...]:
    """The same params the pipeline puts on its generate requests, so batching groups them alike."""
    if int(body.get("n", 1) or 1) != 1:
        raise ApiError(400, "'n' must be 1 here")
    max_new = int(_number(body, "max_completion_tokens", _number(body, "max_tokens", 256, 0, max_length), 0, max_length))
    stop = body.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise ApiError(400, "'stop' must be a string or a list of strings")
    params: dict[str, Any] = {"max_new_tokens": max(max_new, 1), "stop": tuple(stop),
                              "temperature": _number(body, "temperature", 1.0, 0.0, 2.0)}
    if body.get("top_p") is not None:
        params["top_p"] = _number(body, "top_p", 1.0, 0.0, 1.0)
    return tuple(sorted(params.items()))


def chat_request(body: dict[str, Any], max_length: int) -> Request:
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise ApiError(400, "'messages' must be a non-empty list")
    turns = []
    for n, m in enumerate(msgs):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise ApiError(400, f"messages[{n}] needs a 'role' and a 'content'")
        content = m.get("content")
        if isinstance(content, list):  # content parts: only text is understood here
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
        if not isinstance(content, str):
            raise ApiError(400, f"messages[{n}].content must be text")
        turns.append((m["role"], content))
    return Request(kind="generate", messages=tuple(turns), params=generation_params(body, max_length))


def completion_prompt(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise ApiError(400, "'prompt' must be one string (token-id prompts and prompt lists are not served here)")
    return prompt


def _usage(t_in: int, t_out: int) -> dict[str, int]:
    return {"prompt_tokens": t_in, "completion_tokens": t_out, "total_tokens": t_in + t_out}


def chat_body(model: str, resp: Response) -> dict[str, Any]:
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": resp.text},
                                         "finish_reason": resp.finish_reason or "stop", "logprobs": None}],
            "usage": _usage(resp.tokens_in, resp.tokens_out)}


def chat_chunks(model: str, resp: Response, with_usage: bool) -> list[dict[str, Any]]:
    """The whole answer as a stream: role, content, finish (and usage when asked for)."""
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    head = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
    chunks = [dict(head, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]),
              dict(head, choices=[{"index": 0, "delta": {"content": resp.text}, "finish_reason": None}]),
              dict(head, choices=[{"index": 0, "delta": {}, "finish_reason": resp.finish_reason or "stop"}])]
    if with_usage:
        chunks.append(dict(head, choices=[], usage=_usage(resp.tokens_in, resp.tokens_out)))
    return chunks


def completion_body(model: str, text: str, finish: str, t_in: int, t_out: int,
                    logprobs: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "text": text, "finish_reason": finish or "stop", "logprobs": logprobs}],
            "usage": _usage(t_in, t_out)}


def echo_body(model: str, prompt: str, lp: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    """`echo` with `logprobs`: the prompt's tokens and, when max_tokens is 1, the greedy next one."""
    out = {k: list(lp[k]) for k in ("tokens", "text_offset", "token_logprobs", "top_logprobs")}
    text = prompt
    if max_tokens >= 1:
        out["tokens"].append(lp["next_token"])
        out["text_offset"].append(len(prompt))
        out["token_logprobs"].append(lp["next_logprob"])
        out["top_logprobs"].append(lp["next_top"])
        text += lp["next_token"]
    return completion_body(model, text, "length", len(lp["ids"]), 1 if max_tokens >= 1 else 0, out)
