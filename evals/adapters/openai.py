"""Hosted models through any OpenAI-compatible endpoint (vLLM, SGLang, Ollama, llama.cpp, the
Chinese providers' APIs, `evaluate serve`).

The endpoint is probed once for what it supports. Log-likelihoods come from completions with
`echo` and `logprobs`; where those are missing, multiple-choice items are answered by generation and
the answer read back, and the report marks those tasks as not comparable with log-prob runs.
"""
from __future__ import annotations

import asyncio
import os
import queue
import statistics
import threading
from dataclasses import dataclass
from typing import Any, Iterator

from evals.adapters.base import Adapter
from evals.adapters.http_client import CallResult, ClientConfig, EndpointClient, EndpointError
from evals.adapters.openai_logprobs import NO_PICK, continuation_logprob, pick_choice
from evals.errors import RuntimeFailure, UsageError
from evals.requests import Request, Response
from evals.runners import RunnerProfile

LL_ECHO = "echo-logprobs"
LL_FALLBACK = "generation-fallback"
MAX_STOPS = 4  # the OpenAI API takes at most four stop strings; the rest are applied here


@dataclass
class _Job:
    kind: str  # "gen", "ll" or "pick"
    members: list[tuple[int, Request]]


def _bool_setting(value: Any, name: str, where: str) -> bool | None:
    if value in (None, "auto"):
        return None
    if isinstance(value, bool):
        return value
    raise UsageError(f"{where}: settings.{name} must be true, false or auto")


class OpenAIAdapter(Adapter):
    name = "openai"

    def __init__(self, profile: RunnerProfile, device: str | None = None, dtype: str | None = None,
                 batch_size: int | str | None = None, seed: int = 1234, max_length: int | None = None,
                 base_url: str | None = None, max_concurrency: int | None = None,
                 timeout_s: float | None = None) -> None:
        where = str(profile.path or profile.name)
        if device or dtype:
            raise UsageError("--device and --dtype apply to local models; a hosted model runs as its server serves it")
        s = profile.settings
        self.model_name = str(profile.model.get("name") or profile.name)
        url = base_url or s.get("base_url") or os.environ.get("EVALS_BASE_URL")
        if not url:
            raise UsageError(f"model {profile.name!r} needs --base-url (e.g. http://127.0.0.1:8000/v1)")
        if not str(url).startswith(("http://", "https://")):
            raise UsageError(f"--base-url {url!r}: must start with http:// or https://")
        self.base_url = str(url).rstrip("/")
        key_env = s.get("api_key_env")
        key = os.environ.get(str(key_env)) if key_env else None
        if key_env and not key:
            raise UsageError(f"model {profile.name!r}: set the environment variable {key_env} to the API key "
                             f"(it is read from the environment and never written anywhere)")
        self.config = ClientConfig(
            base_url=self.base_url, api_key=key,
            max_concurrency=int(max_concurrency or s.get("max_concurrency", 16)),
            timeout_s=float(timeout_s or s.get("timeout_s", 120.0)),
            max_retries=int(s.get("max_retries", 6)),
            backoff_base_s=float(s.get("backoff_base_s", 0.5)),
            backoff_max_s=float(s.get("backoff_max_s", 30.0)),
            requests_per_minute=s.get("requests_per_minute"), tokens_per_minute=s.get("tokens_per_minute"),
            headers={str(k): str(v) for k, v in (s.get("headers") or {}).items()},
        )
        self.seed = seed
        self.stream = bool(s.get("stream", False))
        self.price = dict(s.get("price") or {})
        self.supports_chat = s.get("chat", True) is not False
        self.template_ref = profile.model.get("tokenizer")
        self._tokenizer: Any = None
        self.stats = {"requests_sent": 0, "retries": 0, "failures": 0, "max_in_flight": 0}
        self.latencies: list[float] = []
        self.ttfts: list[float] = []
        self.tokens_in = self.tokens_out = 0
        self.cost = 0.0
        self.has_completions, self.has_logprobs = self._negotiate(
            _bool_setting(s.get("completions"), "completions", where), _bool_setting(s.get("logprobs"), "logprobs", where))
        self.ll_mode = LL_ECHO if self.has_logprobs else LL_FALLBACK
        self.fingerprint = f"openai:{self.model_name}@{self.base_url}" + ("" if self.has_logprobs else f"#{LL_FALLBACK}")

    # ---- capability negotiation ----------------------------------------------------------
    def _negotiate(self, completions: bool | None, logprobs: bool | None) -> tuple[bool, bool]:
        """Probes: does /completions answer, does it echo the prompt with log-probs, and do those
        agree with the log-prob the same endpoint gives when it generates that token? (The last
        catches servers whose echoed log-probs are shifted by one token.)"""
        self.ll_note = ""
        if completions is False:
            return False, False
        if completions is True and logprobs is not None:
            return True, logprobs
        from dataclasses import replace

        prompt = "1, 2, 3, 4, 5, 6, 7,"
        base = {"model": self.model_name, "max_tokens": 1, "temperature": 0, "logprobs": 1}

        async def ask() -> tuple[bool, bool]:
            client = EndpointClient(replace(self.config, max_retries=min(3, self.config.max_retries)))
            try:
                gen = await client.post("completions", dict(base, prompt=prompt))
                if logprobs is False:
                    return True, False
                g = (gen.body.get("choices") or [{}])[0]
                g_text = str(g.get("text") or "")
                g_lps = (g.get("logprobs") or {}).get("token_logprobs") or []
                echo = await client.post("completions", dict(base, prompt=prompt + g_text, echo=True))
            except EndpointError as exc:
                if exc.status is None or exc.status >= 500:
                    raise RuntimeFailure(f"cannot reach {self.base_url}: {exc}") from None
                self.ll_note = f"no prompt log-probs ({exc})"
                return bool(completions) or exc.status != 404, False
            finally:
                await client.close()
            choice = (echo.body.get("choices") or [{}])[0]
            lp = choice.get("logprobs") or {}
            offsets, values = lp.get("text_offset") or [], lp.get("token_logprobs") or []
            if not (str(choice.get("text", "")).startswith(prompt) and offsets and any(v is not None for v in values)):
                self.ll_note = "the endpoint does not echo the prompt with log-probs"
                return True, False
            if g_text and g_lps and g_lps[0] is not None and len(prompt) in offsets:
                echoed = values[offsets.index(len(prompt))]
                if echoed is None or abs(float(echoed) - float(g_lps[0])) > 0.1:
                    self.ll_note = (f"the endpoint's echoed prompt log-probs disagree with its generation log-probs for the "
                                    f"same token ({echoed} vs {float(g_lps[0]):.3f}): the echo is misaligned, so it is not used")
                    return True, False
            return True, True

        return asyncio.run(ask())

    # ---- public --------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        return {"device": "remote", "dtype": "as served", "base_url": self.base_url, "served_model": self.model_name,
                "loglikelihood": self.ll_mode, **({"loglikelihood_note": self.ll_note} if self.ll_note else {}),
                "completions": self.has_completions, "chat": self.supports_chat,
                "chat_template": f"tokenizer {self.template_ref}" if self.template_ref else "plain join",
                "max_concurrency": self.config.max_concurrency, "timeout_s": self.config.timeout_s,
                "max_retries": self.config.max_retries, "stream": self.stream,
                **({"price": self.price} if self.price else {})}

    def efficiency(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        out: dict[str, Any] = dict(self.stats, tokens_in=self.tokens_in, tokens_out=self.tokens_out)
        if lat:
            from evals.report import nearest_rank

            out.update(latency_mean_s=round(statistics.fmean(lat), 4), latency_p50_s=round(nearest_rank(lat, 0.5), 4),
                       latency_p95_s=round(nearest_rank(lat, 0.95), 4))
        if self.ttfts:
            out["ttft_mean_s"] = round(statistics.fmean(self.ttfts), 4)
        if self.price:
            out["cost"] = round(self.cost, 6)
            out["currency"] = self.price.get("currency", "")
        return out

    def run(self, requests: list[Request]) -> Iterator[list[tuple[int, Response]]]:
        jobs: list[_Job] = []
        groups: dict[Any, list[tuple[int, Request]]] = {}
        for i, r in enumerate(requests):
            if r.kind == "generate":
                jobs.append(_Job("gen", [(i, r)]))
            elif r.kind == "loglikelihood" and self.has_logprobs:
                jobs.append(_Job("ll", [(i, r)]))
            elif r.kind == "loglikelihood":
                groups.setdefault((r.prompt, r.messages), []).append((i, r))
            else:
                raise RuntimeFailure(f"the openai adapter cannot serve requests of kind {r.kind!r}")
        jobs += [_Job("pick", members) for members in groups.values()]
        if jobs:
            yield from self._drive(jobs)

    # ---- the event loop, in a thread so `run` stays a plain generator --------------------
    def _drive(self, jobs: list[_Job]) -> Iterator[list[tuple[int, Response]]]:
        out: queue.Queue = queue.Queue()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="evals-openai", daemon=True)
        thread.start()

        async def main() -> None:
            client = EndpointClient(self.config)

            async def one(job: _Job) -> None:
                try:
                    out.put(await self._do(client, job))
                except asyncio.CancelledError:
                    raise
                except EndpointError as exc:
                    out.put([(i, Response(error=str(exc), extra={"attempts": exc.attempts})) for i, _ in job.members])
                except Exception as exc:  # a malformed answer fails its item, not the run
                    msg = client.scrub(f"{type(exc).__name__}: {exc}")
                    out.put([(i, Response(error=msg)) for i, _ in job.members])

            try:
                await asyncio.gather(*(one(j) for j in jobs))
            finally:
                for k in ("sent", "retries", "failures"):
                    self.stats[{"sent": "requests_sent"}.get(k, k)] += getattr(client, k)
                self.stats["max_in_flight"] = max(self.stats["max_in_flight"], client.max_in_flight)
                await client.close()
                out.put(None)

        fut = asyncio.run_coroutine_threadsafe(main(), loop)
        try:
            finished = False
            while not finished:
                batch = out.get()
                if batch is None:
                    break
                while True:
                    try:
                        more = out.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        finished = True
                        break
                    batch.extend(more)
                yield batch
            fut.result()
        finally:
            if not fut.done():
                fut.cancel()
                try:
                    fut.result(timeout=10)
                except BaseException:  # noqa: BLE001  (cancelled on purpose)
                    pass
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            if not loop.is_running():
                loop.close()

    # ---- one job -------------------------------------------------------------------------
    async def _do(self, client: EndpointClient, job: _Job) -> list[tuple[int, Response]]:
        if job.kind == "gen":
            i, r = job.members[0]
            return [(i, await self._generate(client, r))]
        if job.kind == "ll":
            i, r = job.members[0]
            return [(i, await self._loglikelihood(client, r))]
        return await self._pick(client, job.members)

    def _account(self, res: CallResult, text_len: int = 0) -> tuple[int, int, float]:
        usage = res.body.get("usage") or {}
        t_in = int(usage.get("prompt_tokens") or 0)
        t_out = int(usage.get("completion_tokens") or 0)
        cost = (t_in * float(self.price.get("input_per_million", 0)) +
                t_out * float(self.price.get("output_per_million", 0))) / 1e6
        self.tokens_in += t_in
        self.tokens_out += t_out
        self.cost += cost
        self.latencies.append(res.latency_s)
        if res.ttft_s is not None:
            self.ttfts.append(res.ttft_s)
        return t_in, t_out, cost

    def _extra(self, res: CallResult, cost: float) -> dict[str, Any]:
        extra: dict[str, Any] = {"attempts": res.attempts}
        if res.ttft_s is not None:
            extra["ttft_s"] = round(res.ttft_s, 4)
        if self.price:
            extra["cost"] = round(cost, 8)
        return extra

    def _gen_call(self, r: Request, max_tokens: int, temperature: float, stops: list[str]) -> tuple[str, dict[str, Any], str]:
        body: dict[str, Any] = {"model": self.model_name, "max_tokens": max_tokens, "temperature": temperature}
        if stops:
            body["stop"] = stops[:MAX_STOPS]
        if r.param("top_p") is not None:
            body["top_p"] = float(r.param("top_p"))
        if temperature > 0:
            body["seed"] = self.seed + int(r.param("sample", 0) or 0)
        if r.messages is not None or not self.has_completions:
            msgs = ([{"role": role, "content": c} for role, c in r.messages] if r.messages is not None
                    else [{"role": "user", "content": r.prompt or ""}])
            body["messages"] = msgs
            shown = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in msgs)
            return "chat/completions", body, shown
        body["prompt"] = r.prompt or ""
        return "completions", body, r.prompt or ""

    async def _generate(self, client: EndpointClient, r: Request) -> Response:
        stops = list(r.param("stop", ()) or ())
        temperature = float(r.param("temperature", 0.0) or 0.0)
        path, body, shown = self._gen_call(r, int(r.param("max_new_tokens", 256)), temperature, stops)
        res = await client.post(path, body, est_tokens=len(shown) // 3 + body["max_tokens"], stream=self.stream)
        text, finish = _choice_text(res.body)
        cut = [text.find(s) for s in stops if s and s in text]
        if cut:
            text, finish = text[: min(cut)], "stop"
        t_in, t_out, cost = self._account(res)
        return Response(text=text, prompt_sent=shown, tokens_in=t_in, tokens_out=t_out,
                        latency_s=round(res.latency_s, 4), finish_reason=finish, extra=self._extra(res, cost))

    def _context(self, r: Request) -> str:
        """The text a log-likelihood is conditioned on: the prompt, or the chat rendered by the
        profile's tokenizer (as the local adapter renders it), or the turns joined plainly."""
        if r.messages is None:
            return r.prompt or ""
        msgs = [{"role": role, "content": c} for role, c in r.messages]
        if self.template_ref:
            tok = self._chat_tokenizer()
            if getattr(tok, "chat_template", None):
                return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(m["content"] for m in msgs)

    def _chat_tokenizer(self) -> Any:
        if self._tokenizer is None:
            from evals.adapters.chat_template import load_tokenizer

            self._tokenizer = load_tokenizer(str(self.template_ref))
        return self._tokenizer

    async def _loglikelihood(self, client: EndpointClient, r: Request) -> Response:
        ctx = self._context(r)
        full = ctx + (r.continuation or "")
        body = {"model": self.model_name, "prompt": full, "max_tokens": 1, "temperature": 0, "echo": True, "logprobs": 1}
        res = await client.post("completions", body, est_tokens=len(full) // 3 + 1)
        choice = (res.body.get("choices") or [{}])[0]
        lp, greedy, n = continuation_logprob(choice.get("logprobs") or {}, len(ctx), len(full))
        t_in, _, cost = self._account(res)
        return Response(prompt_sent=ctx, logprob=lp, is_greedy=greedy, tokens_in=t_in, latency_s=round(res.latency_s, 4),
                        extra=dict(self._extra(res, cost), continuation_tokens=n))

    async def _pick(self, client: EndpointClient, members: list[tuple[int, Request]]) -> list[tuple[int, Response]]:
        first = members[0][1]
        conts = [r.continuation or "" for _, r in members]
        max_tokens = min(64, max(8, max(len(c) for c in conts)))
        path, body, shown = self._gen_call(first, max_tokens, 0.0, [])
        res = await client.post(path, body, est_tokens=len(shown) // 3 + max_tokens)
        text, finish = _choice_text(res.body)
        chosen = pick_choice(text, conts, self._context(first))
        t_in, t_out, cost = self._account(res)
        out = []
        for k, (i, _) in enumerate(members):
            out.append((i, Response(
                text=text, prompt_sent=shown, logprob=0.0 if k == chosen else NO_PICK, is_greedy=k == chosen,
                tokens_in=t_in if k == 0 else 0, tokens_out=t_out if k == 0 else 0, latency_s=round(res.latency_s, 4),
                finish_reason=finish, extra=dict(self._extra(res, cost if k == 0 else 0.0), fallback=LL_FALLBACK))))
        return out


def _choice_text(body: dict[str, Any]) -> tuple[str, str]:
    choices = body.get("choices") or []
    if not choices:
        raise ValueError("the endpoint's answer has no choices")
    c = choices[0]
    msg = c.get("message")
    text = (msg or {}).get("content") if msg is not None else c.get("text")
    reason = str(c.get("finish_reason") or "")
    return str(text or ""), {"eos": "stop", "stop": "stop", "length": "length"}.get(reason, reason)
