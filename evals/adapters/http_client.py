"""Async HTTP for OpenAI-compatible endpoints: bounded concurrency, rate limits, polite retries.

A hosted endpoint fails in ordinary ways (429 with Retry-After, a 502 from a proxy, a dropped
connection, a request that hangs). Each is retried a bounded number of times with exponential
backoff and full jitter; a 429's Retry-After pauses every request, not just the one that got it.
What still fails is returned as an error for that item, never raised into the run.
"""
from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}


@dataclass
class ClientConfig:
    base_url: str
    api_key: str | None = None
    max_concurrency: int = 16
    timeout_s: float = 120.0
    max_retries: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    headers: dict[str, str] = field(default_factory=dict)


class EndpointError(Exception):
    """A request that failed for good; the message never contains the API key."""

    def __init__(self, message: str, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


@dataclass
class CallResult:
    body: dict[str, Any]
    latency_s: float
    ttft_s: float | None
    attempts: int


class RateLimiter:
    """A token bucket refilled continuously at `per_minute`/60 units a second."""

    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.level = float(per_minute)
        self.stamp = time.monotonic()
        self.lock = asyncio.Lock()

    async def acquire(self, amount: float = 1.0) -> None:
        amount = min(float(amount), self.capacity)
        async with self.lock:
            while True:
                now = time.monotonic()
                self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.level >= amount:
                    self.level -= amount
                    return
                await asyncio.sleep((amount - self.level) / self.rate)


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (seconds or an HTTP date), if present."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


class EndpointClient:
    """One endpoint, used from one event loop. Counts what it does for the efficiency report."""

    def __init__(self, config: ClientConfig) -> None:
        import httpx

        self.httpx = httpx
        self.cfg = config
        self.sem = asyncio.Semaphore(max(1, config.max_concurrency))
        self.rpm = RateLimiter(config.requests_per_minute) if config.requests_per_minute else None
        self.tpm = RateLimiter(config.tokens_per_minute) if config.tokens_per_minute else None
        headers = {"content-type": "application/json", **config.headers}
        if config.api_key:
            headers["authorization"] = f"Bearer {config.api_key}"
        self.client = httpx.AsyncClient(
            base_url=config.base_url.rstrip("/") + "/", headers=headers,
            timeout=httpx.Timeout(config.timeout_s, connect=min(config.timeout_s, 30.0)),
            limits=httpx.Limits(max_connections=max(1, config.max_concurrency),
                                max_keepalive_connections=max(1, config.max_concurrency)),
        )
        self.paused_until = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.sent = 0
        self.retries = 0
        self.failures = 0

    async def close(self) -> None:
        await self.client.aclose()

    def scrub(self, text: str) -> str:
        key = self.cfg.api_key
        return text.replace(key, "***") if key else text

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.cfg.backoff_max_s, self.cfg.backoff_base_s * 2 ** attempt))

    async def post(self, path: str, body: dict[str, Any], est_tokens: int = 0, stream: bool = False) -> CallResult:
        attempt = 0
        while True:
            wait = self.paused_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.rpm:
                await self.rpm.acquire(1)
            if self.tpm and est_tokens:
                await self.tpm.acquire(est_tokens)
            try:
                async with self.sem:
                    self.in_flight += 1
                    self.max_in_flight = max(self.max_in_flight, self.in_flight)
                    self.sent += 1
                    try:
                        return await self._once(path, body, stream, attempt + 1)
                    finally:
                        self.in_flight -= 1
            except _Retry as exc:
                if attempt >= self.cfg.max_retries:
                    self.failures += 1
                    raise EndpointError(self.scrub(f"{exc.reason} (gave up after {attempt + 1} attempts)"),
                                        exc.status, attempt + 1) from None
                delay = self._backoff(attempt)
                if exc.retry_after is not None:
                    delay = min(exc.retry_after, 300.0) + random.uniform(0, 0.1 * self.cfg.backoff_base_s)
                    if exc.status == 429:
                        self.paused_until = max(self.paused_until, time.monotonic() + delay)
                attempt += 1
                self.retries += 1
                await asyncio.sleep(delay)

    async def _once(self, path: str, body: dict[str, Any], stream: bool, attempt: int) -> CallResult:
        httpx = self.httpx
        t0 = time.perf_counter()
        try:
            if stream:
                return await self._stream(path, body, t0, attempt)
            resp = await self.client.post(path, content=json.dumps(body, ensure_ascii=False).encode("utf-8"))
        except httpx.TimeoutException:
            raise _Retry(f"timed out after {self.cfg.timeout_s:g} s", None) from None
        except httpx.TransportError as exc:
            raise _Retry(f"connection failed: {type(exc).__name__}", None) from None
        self._check(resp.status_code, resp.headers, resp.text)
        try:
            data = resp.json()
        except ValueError:
            raise _Retry(f"HTTP {resp.status_code}: the body is not JSON", resp.status_code) from None
        return CallResult(data, time.perf_counter() - t0, None, attempt)

    def _check(self, status: int, headers: Any, text: str) -> None:
        if status < 400:
            return
        message = _error_message(text)
        if status in RETRY_STATUS:
            raise _Retry(f"HTTP {status}: {message}", status, retry_after_seconds(headers))
        self.failures += 1
        raise EndpointError(self.scrub(f"HTTP {status}: {message}"), status)

    async def _stream(self, path: str, body: dict[str, Any], t0: float, attempt: int) -> CallResult:
        """Server-sent events folded back into one non-streamed body; notes the first token's time."""
        payload = dict(body, stream=True, stream_options={"include_usage": True})
        ttft = None
        text_parts: list[str] = []
        finish = ""
        usage: dict[str, Any] = {}
        chat = path.endswith("chat/completions")
        async with self.client.stream("POST", path, content=json.dumps(payload, ensure_ascii=False).encode("utf-8")) as resp:
            if resp.status_code >= 400:
                self._check(resp.status_code, resp.headers, (await resp.aread()).decode("utf-8", "replace"))
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    chunk = json.loads(data)
                except ValueError:
                    continue
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content") if chat else choice.get("text")
                    if piece:
                        if ttft is None:
                            ttft = time.perf_counter() - t0
                        text_parts.append(piece)
                    finish = choice.get("finish_reason") or finish
        text = "".join(text_parts)
        choice = {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
        choice["finish_reason"] = finish
        return CallResult({"choices": [choice], "usage": usage}, time.perf_counter() - t0, ttft, attempt)


class _Retry(Exception):
    def __init__(self, reason: str, status: int | None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


def _error_message(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:200] or "no body"
    err = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(err, dict):
        return str(err.get("message") or err.get("detail") or err)[:200]
    return str(err)[:200]
