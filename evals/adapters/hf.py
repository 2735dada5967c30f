"""Local models through transformers: batched generation and shared-context log-likelihoods.

Log-likelihood requests that share a context are packed into one row: the context once, then
every continuation, with a block attention mask (each continuation sees the context and itself)
and position ids that restart after the context. A 4-choice item costs one forward pass over
context + choices instead of four over 4 × context.
"""
from __future__ import annotations

import os
import resource
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from transformers import StoppingCriteria

from evals.adapters.base import Adapter
from evals.adapters.batching import length_sorted_batches
from evals.adapters.greedy import greedy_decode
from evals.errors import RuntimeFailure, UsageError
from evals.fingerprint import weights_fingerprint
from evals.paths import model_cache_dir
from evals.requests import Request, Response
from evals.runners import RunnerProfile, locate_weights

DTYPES = ("float32", "bfloat16", "float16", "auto")


@dataclass
class _Row:
    """One packed row: a context and the continuations that share it."""

    ctx: list[int]
    conts: list[list[int]]
    members: list[int] = field(default_factory=list)

    @property
    def length(self) -> int:
        return len(self.ctx) + sum(len(c) for c in self.conts)


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


class HFAdapter(Adapter):
    name = "hf"

    def __init__(self, profile: RunnerProfile, device: str | None = None, dtype: str | None = None,
                 batch_size: int | str | None = None, seed: int = 1234, max_length: int | None = None) -> None:
        import torch

        self.torch = torch
        settings = profile.settings
        self.model_name = profile.name
        self.device = device or settings.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is visible to torch")
        if self.device == "mps" and not torch.backends.mps.is_available():
            raise UsageError("--device mps: MPS is not available on this machine")
        self.dtype_name = str(dtype or settings.get("dtype") or "float32")
        if self.dtype_name not in DTYPES:
            raise UsageError(f"--dtype must be one of {', '.join(DTYPES)}")
        bs = batch_size if batch_size is not None else settings.get("batch_size", "auto")
        self.auto_batch = str(bs) == "auto"
        self.batch_size = (64 if self.device != "cpu" else 16) if self.auto_batch else int(bs)
        self.seed = seed
        t0 = time.perf_counter()
        self.folder, self.gguf_file = locate_weights(profile)
        self.tokenizer, self.model = self._load()
        self.load_seconds = time.perf_counter() - t0
        self.supports_chat = bool(getattr(self.tokenizer, "chat_template", None))
        cfg = self.model.config
        limits = [getattr(cfg, "max_position_embeddings", None) or 4096]
        if max_length:
            limits.append(int(max_length))
        self.max_length = min(limits)
        self.window = getattr(cfg, "sliding_window", None) if "gemma" in cfg.model_type or getattr(
            cfg, "use_sliding_window", False) else None
        self.tokens_in = 0
        self.tokens_out = 0
        self.busy_seconds = 0.0

    # ---- loading -------------------------------------------------------------------------
    def _load(self) -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch = self.torch
        local = Path(self.folder).exists()
        if not local:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(self.folder, "config.json")
            if not isinstance(cached, str) and not _hub_reachable():
                raise UsageError(
                    f"model {self.folder!r} is not in the local Hugging Face cache and the hub cannot be reached; "
                    f"download it where there is a network and use --model hf:/path/to/folder"
                )
        self.fingerprint = (weights_fingerprint(Path(self.folder), self.gguf_file) if local
                            else f"hub:{self.folder}")
        load_from, kwargs = self.folder, {}
        if self.gguf_file:
            load_from = str(self._converted())
        dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
                 "auto": "auto"}[self.dtype_name]
        try:
            tok = AutoTokenizer.from_pretrained(load_from, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(load_from, dtype=dtype, attn_implementation="sdpa", **kwargs)
        except (OSError, ValueError) as exc:
            raise RuntimeFailure(f"could not load model from {self.folder}: {str(exc).splitlines()[0]}") from None
        model.to(self.device).eval()
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        return tok, model

    def _converted(self) -> Path:
        """GGUF weights dequantised once into a plain transformers folder (later loads: ~0.2 s)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        fp = weights_fingerprint(Path(self.folder), self.gguf_file).split(":")[-1]
        target = model_cache_dir() / fp[:24]
        if (target / "config.json").is_file():
            return target
        tok = AutoTokenizer.from_pretrained(self.folder, gguf_file=self.gguf_file)
        model = AutoModelForCausalLM.from_pretrained(self.folder, gguf_file=self.gguf_file, dtype=self.torch.float32)
        quantizer = getattr(model, "hf_quantizer", None)
        if quantizer is not None:
            quantizer.remove_quantization_config(model)
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process converted it first
            shutil.rmtree(tmp, ignore_errors=True)
        return target

    # ---- public --------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        return {"device": self.device, "dtype": self.dtype_name, "batch_size": "auto" if self.auto_batch else self.batch_size,
                "max_length": self.max_length, "attention": self.model.config._attn_implementation,
                "chat_template": self.supports_chat, "source": self.folder, "gguf_file": self.gguf_file}

    def efficiency(self) -> dict[str, Any]:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if self.device.startswith("cuda"):
            peak = self.torch.cuda.max_memory_allocated() / 2**20
        return {"load_seconds": round(self.load_seconds, 3), "model_seconds": round(self.busy_seconds, 3),
                "tokens_in": self.tokens_in, "tokens_out": self.tokens_out, "peak_memory_mb": round(peak, 1)}

    def run(self, requests: list[Request]) -> Iterator[list[tuple[int, Response]]]:
        ll = [(i, r) for i, r in enumerate(requests) if r.kind == "loglikelihood"]
        gen = [(i, r) for i, r in enumerate(requests) if r.kind == "generate"]
        unknown = [r.kind for r in requests if r.kind not in ("loglikelihood", "generate")]
        if unknown:
            raise RuntimeFailure(f"the hf adapter cannot serve requests of kind {unknown[0]!r}")
        if ll:
            yield from self._loglikelihood(ll)
        if gen:
            yield from self._generate(gen)

    # ---- prompts -------------------------------------------------------------------------
    def render(self, req: Request) -> tuple[str, bool]:
        """The exact text fed to the tokenizer, and whether special tokens are already in it."""
        if req.messages is not None:
            msgs = [{"role": r, "content": c} for r, c in req.messages]
            if self.supports_chat:
                return self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True), True
            return "\n\n".join(m["content"] for m in msgs), False
        return req.prompt or "", False

    def _encode(self, text: str, special: bool) -> list[int]:
        return self.tokenizer(text, add_special_tokens=not special).input_ids

    # ---- log-likelihood ------------------------------------------------------------------
    def _loglikelihood(self, reqs: list[tuple[int, Request]]) -> Iterator[list[tuple[int, Response]]]:
        by_ctx: dict[str, list[tuple[int, Request]]] = {}
        for i, r in reqs:
            by_ctx.setdefault(self.render(r)[0] + "\x00" + str(r.messages is not None), []).append((i, r))
        rows: list[_Row] = []
        prompt_of: dict[int, str] = {}
        for members in by_ctx.values():
            text, special = self.render(members[0][1])
            ctx = self._encode(text, special)
            if not ctx:
                ctx = [self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.tokenizer.eos_token_id]
            conts = []
            for i, r in members:
                whole = self._encode(text + (r.continuation or ""), special)
                cont = whole[len(ctx):] if whole[: len(ctx)] == ctx else self._encode(r.continuation or "", True)
                conts.append(cont or [self.tokenizer.eos_token_id])
                prompt_of[i] = text
            rows.extend(self._pack(ctx, conts, [i for i, _ in members]))
        for batch in length_sorted_batches(rows, lambda r: r.length, self.batch_size):
            t0 = time.perf_counter()
            scores = self._score_rows(batch)
            dt = time.perf_counter() - t0
            self.busy_seconds += dt
            out = []
            for row, row_scores in zip(batch, scores):
                for idx, cont, (lp, greedy) in zip(row.members, row.conts, row_scores):
                    out.append((idx, Response(prompt_sent=prompt_of[idx], logprob=lp, is_greedy=greedy,
                                              tokens_in=len(row.ctx) + len(cont), latency_s=dt / len(batch),
                                              extra={"continuation_tokens": len(cont)})))
                self.tokens_in += row.length
            yield out

    def _pack(self, ctx: list[int], conts: list[list[int]], members: list[int]) -> list[_Row]:
        """Rows within the model's length (and sliding window): continuations share the context
        where they fit, the context is cut from the left only when one continuation alone won't fit."""
        limit = min(self.max_length, self.window or self.max_length)
        longest = max(len(c) for c in conts)
        if len(ctx) + longest > limit:
            ctx = ctx[-(limit - longest):] if limit > longest else ctx[-1:]
        rows: list[_Row] = []
        cur = _Row(list(ctx), [], [])
        for cont, idx in zip(conts, members):
            if cur.conts and cur.length + len(cont) > limit:
                rows.append(cur)
                cur = _Row(list(ctx), [], [])
            cur.conts.append(cont[: max(limit - len(ctx), 1)])
            cur.members.append(idx)
        rows.append(cur)
        return rows

    def _score_rows(self, batch: list[_Row]) -> list[list[tuple[float, bool]]]:
        torch = self.torch
        T = max(r.length for r in batch)
        B = len(batch)
        ids = torch.full((B, T), int(self.tokenizer.pad_token_id), dtype=torch.long)
        mask = torch.zeros((B, 1, T, T), dtype=torch.bool)
        pos = torch.zeros((B, T), dtype=torch.long)
        pred_b, pred_t, target, owner = [], [], [], []
        for b, row in enumerate(batch):
            L = len(row.ctx)
            ids[b, :L] = torch.tensor(row.ctx)
            mask[b, 0, :L, :L] = torch.ones(L, L, dtype=torch.bool).tril()
            pos[b, :L] = torch.arange(L)
            off = L
            for j, cont in enumerate(row.conts):
                m = len(cont)
                ids[b, off:off + m] = torch.tensor(cont)
                mask[b, 0, off:off + m, :L] = True
                mask[b, 0, off:off + m, off:off + m] = torch.ones(m, m, dtype=torch.bool).tril()
                pos[b, off:off + m] = torch.arange(L, L + m)
                preds = [L - 1] + list(range(off, off + m - 1))
                pred_b.extend([b] * m)
                pred_t.extend(preds)
                target.extend(cont)
                owner.extend([(b, j)] * m)
                off += m
            for k in range(off, T):
                mask[b, 0, k, k] = True  # padding attends to itself only: no empty softmax rows
        while True:
            try:
                with torch.inference_mode():
                    lp, greedy = self._token_logprobs(ids, mask, pos, pred_b, pred_t, target)
                break
            except RuntimeError as exc:
                if "out of memory" not in str(exc).lower() or B == 1 or not self.auto_batch:
                    raise
                # auto batch size: halve and retry this batch in two halves
                self.batch_size = max(1, self.batch_size // 2)
                if self.device.startswith("cuda"):
                    torch.cuda.empty_cache()
                half = B // 2
                return self._score_rows(batch[:half]) + self._score_rows(batch[half:])
        sums: dict[tuple[int, int], list[float]] = {}
        greedy_all: dict[tuple[int, int], bool] = {}
        for (b, j), v, g in zip(owner, lp.tolist(), greedy.tolist()):
            sums.setdefault((b, j), []).append(v)
            greedy_all[(b, j)] = greedy_all.get((b, j), True) and bool(g)
        return [[(float(sum(sums[(b, j)])), greedy_all[(b, j)]) for j in range(len(row.conts))]
                for b, row in enumerate(batch)]

    def _token_logprobs(self, ids, mask, pos, pred_b, pred_t, target):
        """Log-probs of target tokens, projecting only the positions that predict them."""
        torch = self.torch
        model = self.model
        dev = model.device
        ids, pos = ids.to(dev), pos.to(dev)
        if model.config._attn_implementation == "eager":
            mask = torch.zeros(mask.shape, dtype=model.dtype).masked_fill(~mask, torch.finfo(model.dtype).min)
        mask = mask.to(dev)
        base = getattr(model, model.base_model_prefix, None)
        head = model.get_output_embeddings()
        idx_b = torch.tensor(pred_b, device=dev)
        idx_t = torch.tensor(pred_t, device=dev)
        tgt = torch.tensor(target, device=dev)
        if base is not None and head is not None:
            hidden = base(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).last_hidden_state
            logits = head(hidden[idx_b, idx_t]).float()
            cap = getattr(model.config, "final_logit_softcapping", None)
            if cap:
                logits = torch.tanh(logits / cap) * cap
        else:
            logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).logits[idx_b, idx_t].float()
        logp = torch.log_softmax(logits, dim=-1)
        return logp.gather(1, tgt[:, None])[:, 0].cpu(), (logits.argmax(-1) == tgt).cpu()

    # ---- generation ----------------------------------------------------------------------
    def _generate(self, reqs: list[tuple[int, Request]]) -> Iterator[list[tuple[int, Response]]]:
        torch = self.torch
        groups: dict[tuple, list[tuple[int, Request, str, list[int]]]] = {}
        for i, r in reqs:
            text, special = self.render(r)
            ids = self._encode(text, special)
            key = (r.param("max_new_tokens", 256), tuple(r.param("stop", ()) or ()), float(r.param("temperature", 0.0)),
                   r.param("top_p"))
            groups.setdefault(key, []).append((i, r, text, ids))
        for (max_new, stops, temp, top_p), members in groups.items():
            for batch in length_sorted_batches(members, lambda m: len(m[3]), self.batch_size):
                t0 = time.perf_counter()
                texts, n_out, reasons = self._generate_batch([m[3] for m in batch], max_new, list(stops), temp, top_p)
                dt = time.perf_counter() - t0
                self.busy_seconds += dt
                out = []
                for (i, _, text, ids), gen, n, why in zip(batch, texts, n_out, reasons):
                    self.tokens_in += len(ids)
                    self.tokens_out += n
                    out.append((i, Response(text=gen, prompt_sent=text, tokens_in=len(ids), tokens_out=n,
                                            latency_s=dt, finish_reason=why)))
                yield out

    def _generate_batch(self, prompts: list[list[int]], max_new: int, stops: list[str], temp: float,
                        top_p: float | None) -> tuple[list[str], list[int], list[str]]:
        tok = self.tokenizer
        room = self.max_length - max_new
        prompts = [p[-room:] if room > 0 and len(p) > room else p for p in prompts]
        pad = int(tok.pad_token_id)
        eos = self._eos_ids()
        if temp <= 0:
            stopper = _stop_tail(tok, stops) if stops else None
            rows = [toks + [eos[0]] if why == "stop" and eos else toks
                    for toks, why in greedy_decode(self.model, prompts, max_new, eos, pad, stopper)]
        else:
            rows = self._sample_batch(prompts, max_new, stops, temp, top_p, pad, eos)
        texts, counts, reasons = [], [], []
        for row in rows:
            n = len(row)
            reason = "length"
            for k, t in enumerate(row):
                if t in eos:
                    n, reason = k, "stop"
                    break
            text = tok.decode(row[:n], skip_special_tokens=True)
            if reason == "length":
                text = text.rstrip("\ufffd")  # a multi-byte character cut by the token limit
            cut = [text.find(s) for s in stops if s and s in text]
            if cut:
                text, reason = text[: min(cut)], "stop"
            texts.append(text)
            counts.append(n)
            reasons.append(reason)
        return texts, counts, reasons

    def _sample_batch(self, prompts: list[list[int]], max_new: int, stops: list[str], temp: float,
                      top_p: float | None, pad: int, eos: list[int]) -> list[list[int]]:
        """Sampling goes through `generate` (its sampling code is the reference users expect)."""
        torch = self.torch
        T = max(len(p) for p in prompts)
        ids = torch.tensor([[pad] * (T - len(p)) + p for p in prompts], device=self.model.device)
        attn = torch.tensor([[0] * (T - len(p)) + [1] * len(p) for p in prompts], device=self.model.device)
        kwargs: dict[str, Any] = {"max_new_tokens": max_new, "pad_token_id": pad, "eos_token_id": eos,
                                  "do_sample": True, "temperature": temp}
        if top_p is not None:
            kwargs["top_p"] = top_p
        torch.manual_seed(self.seed)
        if stops:
            kwargs["stopping_criteria"] = [_StopStrings(self.tokenizer, stops, T)]
        with torch.inference_mode():
            out = self.model.generate(input_ids=ids, attention_mask=attn, **kwargs)
        return out[:, T:].tolist()

    def _eos_ids(self) -> list[int]:
        ids = set()
        gc = getattr(self.model, "generation_config", None)
        if gc is not None and gc.eos_token_id is not None:
            ids.update(gc.eos_token_id if isinstance(gc.eos_token_id, list) else [gc.eos_token_id])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return sorted(ids)


class _StopStrings(StoppingCriteria):
    """Stops each row once its generated text contains a stop string (checked on a decoded tail)."""

    def __init__(self, tokenizer: Any, stops: list[str], prompt_len: int) -> None:
        self.tok = tokenizer
        self.stops = stops
        self.start = prompt_len
        self.window = max(len(s) for s in stops) + 8

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        tails = self.tok.batch_decode(input_ids[:, self.start:][:, -self.window:], skip_special_tokens=True)
        return torch.tensor([any(s in t for s in self.stops) for t in tails], device=input_ids.device)


def _stop_tail(tokenizer: Any, stops: list[str]) -> Callable[[list[int]], bool]:
    """A row is done once the decoded tail of its output contains a stop string."""
    window = max(len(s) for s in stops) + 8

    def stopped(tokens: list[int]) -> bool:
        tail = tokenizer.decode(tokens[-window:], skip_special_tokens=True)
        return any(s and s in tail for s in stops)

    return stopped
