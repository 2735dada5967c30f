"""Drift: how far a candidate build's next-token distributions move from the reference build's,
position by position over fixed text (seeds/adaptation/drift_text_{zh,en}.jsonl).

Three ways to compare, by what each side can give (the `method` of every result says which):

- `full` — both builds local: the full log-softmax over the vocabulary at every position of every
  passage, KL(ref ‖ cand) exact. Both models stay loaded; passages go one window at a time, and
  the log-probs one slice of positions at a time, so memory stays bounded.
- `top-64+tail` — the reference comes from a stored file (`drift_reference.npz`, written by every
  run with a local reference, read back with `--reference-run`): its top-64 log-probs and argmax
  at every position. KL over those 64 tokens plus one bucket for the rest of the vocabulary on
  each side. Merging tokens can only lower KL (log-sum inequality), so this is a lower bound on
  the full KL, equal to it when the reference's mass outside its top 64 is nil.
- `top-k` — a hosted candidate (OpenAI-compatible server): only the top k (≤ 20) log-probs of a
  1-token completion whose prompt is the passage up to a position; positions sampled evenly, at
  most `--drift-tokens` of them; KL as `evals.adaptation.equivalence.kl_from_logprobs` defines it.

Top-1 agreement is exact in all three: the argmax tokens (token texts for `top-k`).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from evals.errors import InputError
from evals.paths import seeds_dir

WINDOW = 1024      # tokens per forward pass; a longer passage is cut into windows
SLICE = 128        # positions projected to the vocabulary at a time
STORE_K = 64       # log-probs kept per position in the stored reference
OPENAI_K = 20      # top log-probs asked of a hosted build (the OpenAI API's maximum)
DRIFT_FILES = ("drift_text_zh.jsonl", "drift_text_en.jsonl")


class NotComparable(Exception):
    """The two builds cannot be compared position by position (different tokenizers, vocabularies)."""


@dataclass
class Passage:
    id: str
    text: str
    lang: str = ""


def load_passages(paths: list[Path] | None = None) -> tuple[list[Passage], dict[str, Any]]:
    """The drift passages and where they came from (files, count, content hash)."""
    paths = paths or [seeds_dir() / "adaptation" / name for name in DRIFT_FILES]
    passages: list[Passage] = []
    used = []
    for path in paths:
        if not path.is_file():
            continue
        used.append(str(path))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{n}", f"not valid JSON ({exc.msg})") from None
            if not isinstance(raw, dict) or not isinstance(raw.get("text"), str) or not raw["text"].strip() \
                    or not isinstance(raw.get("id"), (str, int)):
                raise InputError(f"{path}:{n}", "a drift passage needs a string 'id' and a non-empty string 'text'")
            meta = raw.get("meta") if isinstance(raw.get("meta"), dict) else {}
            passages.append(Passage(str(raw["id"]), raw["text"], str(meta.get("lang", ""))))
    digest = hashlib.sha256(json.dumps([[p.id, p.text] for p in passages], ensure_ascii=False).encode()).hexdigest()
    return passages, {"files": used, "passages": len(passages), "hash": "sha256:" + digest}


def encode(tokenizer: Any, text: str) -> tuple[list[int], list[int]]:
    from evals.adapters.prompt_logprobs import encode_with_offsets

    return encode_with_offsets(tokenizer, text)


@dataclass
class DriftResult:
    method: str
    kl: list[float] = field(default_factory=list)
    match: list[bool] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    note: str = ""

    def summary(self, seed: int = 0) -> dict[str, Any]:
        from evals.adaptation.equivalence import kl_summary, top1_agreement

        clustered = len(set(self.groups)) > 1
        out: dict[str, Any] = {"method": self.method, "positions": len(self.match), "passages": len(set(self.groups)),
                               "top1_agreement": top1_agreement(self.match, self.groups if clustered else None, seed),
                               "kl": kl_summary(self.kl, self.groups if clustered else None, seed)}
        if self.note:
            out["note"] = self.note
        return out


# ---- local builds ---------------------------------------------------------------------------
def logprob_slices(build: Any, ids: list[int], window: int = WINDOW) -> Iterator[tuple[int, Any]]:
    """(first position, [n, V] float64 log-softmax on CPU) for every position of `ids`.

    float64 because KL between close builds is a second-order quantity (½ Σ p δ² for log-prob
    differences δ): float32 rounding of each δ would be of the order of the KL itself."""
    adapter = build.inner
    torch, model = adapter.torch, adapter.model
    window = max(1, min(window, int(getattr(adapter, "max_length", window) or window)))
    dev = model.device
    base = getattr(model, model.base_model_prefix, None)
    head = model.get_output_embeddings()
    cap = getattr(model.config, "final_logit_softcapping", None)
    for c0 in range(0, len(ids), window):
        x = torch.tensor([ids[c0:c0 + window]], device=dev)
        with torch.inference_mode():
            if base is not None and head is not None:
                hidden = base(input_ids=x, use_cache=False).last_hidden_state[0]
                for s in range(0, hidden.shape[0], SLICE):
                    logits = head(hidden[s:s + SLICE]).float()
                    if cap:
                        logits = torch.tanh(logits / cap) * cap
                    yield c0 + s, torch.log_softmax(logits.double(), dim=-1).cpu()
            else:
                logits = model(input_ids=x, use_cache=False).logits[0].float()
                for s in range(0, logits.shape[0], SLICE):
                    yield c0 + s, torch.log_softmax(logits[s:s + SLICE].double(), dim=-1).cpu()


def _same_tokens(build: Any, passage: Passage, ids: list[int]) -> None:
    got = encode(build.inner.tokenizer, passage.text)[0]
    if got != ids:
        raise NotComparable(f"the builds tokenize passage {passage.id!r} differently "
                            f"({len(ids)} vs {len(got)} tokens): positions cannot be paired")


def compare_full(ref: Any, cand: Any, passages: list[Passage], window: int = WINDOW,
                 collect: "StoreBuilder | None" = None) -> DriftResult:
    """Exact KL(ref ‖ cand) and argmax agreement at every position, both builds loaded. With
    `collect`, the reference's pass also fills the stored reference (no extra pass for it)."""
    torch = ref.inner.torch
    res = DriftResult("full")
    for b in (ref, cand):
        window = min(window, int(getattr(b.inner, "max_length", window) or window))
    if collect is not None:
        collect.window = window
    for p in passages:
        ids, starts = encode(ref.inner.tokenizer, p.text)
        if collect is not None:
            collect.begin(ids, starts)
        if not ids:
            continue
        if cand is ref and collect is None:  # one loaded build compared with itself: identical by construction
            res.kl.extend([0.0] * len(ids))
            res.match.extend([True] * len(ids))
            res.groups.extend([p.id] * len(ids))
            continue
        if cand is not ref:
            _same_tokens(cand, p, ids)
        for (_, lr), (_, lc) in zip(logprob_slices(ref, ids, window),
                                    logprob_slices(cand, ids, window) if cand is not ref else _none()):
            if collect is not None:
                collect.add(lr)
            if lc is None:
                lc = lr
            if lr.shape != lc.shape:
                raise NotComparable(f"vocabulary sizes differ ({lr.shape[-1]} vs {lc.shape[-1]})")
            pr = lr.exp()
            terms = torch.where(pr > 0, pr * (lr - lc), torch.zeros_like(pr))
            res.kl.extend(terms.sum(-1).clamp_min(0).tolist())
            res.match.extend((lr.argmax(-1) == lc.argmax(-1)).tolist())
            res.groups.extend([p.id] * lr.shape[0])
    _check_finite(res)
    return res


def _none() -> Iterator[tuple[int, None]]:
    while True:
        yield 0, None


def _check_finite(res: DriftResult) -> None:
    bad = sum(1 for v in res.kl if not math.isfinite(v))
    if bad:
        raise NotComparable(f"KL is infinite at {bad} positions: the candidate gives zero probability "
                            f"where the reference does not")


# ---- the stored reference -------------------------------------------------------------------
@dataclass
class Store:
    """The reference's top-k log-probs and argmax at every position of every passage."""

    meta: dict[str, Any]
    tokens: list[list[int]]
    starts: list[list[int]]
    top_ids: Any      # [N, k] int32
    top_lps: Any      # [N, k] float64
    argmax: Any       # [N] int32

    def rows(self, i: int) -> tuple[int, int]:
        first = sum(len(t) for t in self.tokens[:i])
        return first, first + len(self.tokens[i])


class StoreBuilder:
    """Collects the reference's top-k log-probs and argmax, slice by slice, passage by passage."""

    def __init__(self, ref: Any, passages: list[Passage], text_hash: str, k: int = STORE_K) -> None:
        self.ref, self.passages, self.text_hash, self.k = ref, passages, text_hash, k
        self.window = WINDOW
        self.tokens: list[list[int]] = []
        self.starts: list[list[int]] = []
        self.ids: list[Any] = []
        self.lps: list[Any] = []
        self.arg: list[Any] = []

    def begin(self, ids: list[int], starts: list[int]) -> None:
        self.tokens.append(ids)
        self.starts.append(starts)

    def add(self, lp: Any) -> None:
        import numpy as np

        v, i = lp.topk(min(self.k, lp.shape[-1]), dim=-1)
        self.ids.append(i.numpy().astype(np.int32))
        self.lps.append(v.numpy().astype(np.float64))  # float32 rounding would be of the order of a small KL
        self.arg.append(lp.argmax(-1).numpy().astype(np.int32))

    def finish(self) -> Store:
        import numpy as np

        kk = self.ids[0].shape[1] if self.ids else self.k
        top_ids = np.concatenate(self.ids) if self.ids else np.zeros((0, kk), np.int32)
        top_lps = np.concatenate(self.lps) if self.lps else np.zeros((0, kk), np.float64)
        argmax = np.concatenate(self.arg) if self.arg else np.zeros(0, np.int32)
        if len(self.tokens) != len(self.passages) or top_ids.shape[0] != sum(len(t) for t in self.tokens):
            raise ValueError("the stored reference is incomplete")
        tok = self.ref.inner.tokenizer
        texts = {str(int(t)): tok.decode([int(t)]) for t in np.unique(top_ids)}
        meta = {"schema": "evals.drift-reference/1", "label": self.ref.spec.label, "fingerprint": self.ref.fingerprint,
                "text_hash": self.text_hash, "passages": [p.id for p in self.passages], "k": int(kk),
                "window": int(self.window), "token_text": texts}
        return Store(meta, self.tokens, self.starts, top_ids, top_lps, argmax)


def build_store(ref: Any, passages: list[Passage], text_hash: str, window: int = WINDOW, k: int = STORE_K) -> Store:
    """The stored reference on its own (one pass of the reference over the drift text)."""
    collect = StoreBuilder(ref, passages, text_hash, k)
    collect.window = min(window, int(getattr(ref.inner, "max_length", window) or window))
    for p in passages:
        ids, starts = encode(ref.inner.tokenizer, p.text)
        collect.begin(ids, starts)
        for _, lp in logprob_slices(ref, ids, collect.window):
            collect.add(lp)
    return collect.finish()


def save_store(folder: Path, store: Store) -> Path:
    """drift_reference.npz (arrays) + drift_reference.json (what it is), each written atomically."""
    import io

    import numpy as np

    from evals.store import atomic_write_json

    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, tokens=np.array([t for ts in store.tokens for t in ts], np.int32),
                        starts=np.array([s for ss in store.starts for s in ss], np.int32),
                        lengths=np.array([len(t) for t in store.tokens], np.int32),
                        top_ids=store.top_ids, top_lps=store.top_lps, argmax=store.argmax)
    tmp = folder / ".drift_reference.npz.tmp"
    tmp.write_bytes(buf.getvalue())
    tmp.replace(folder / "drift_reference.npz")
    atomic_write_json(folder / "drift_reference.json", store.meta)
    return folder / "drift_reference.npz"


def load_store(folders: list[Path], text_hash: str) -> tuple[Store | None, str]:
    """The first stored reference in `folders` made from the same drift text, and a note."""
    import numpy as np

    for folder in folders:
        meta_path, arr_path = folder / "drift_reference.json", folder / "drift_reference.npz"
        if not (meta_path.is_file() and arr_path.is_file()):
            continue
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            arr = np.load(arr_path)
        except (OSError, ValueError) as exc:
            return None, f"{arr_path}: unreadable ({exc})"
        if meta.get("text_hash") != text_hash:
            return None, f"{meta_path}: made from other drift text; not used"
        flat_t, flat_s, lengths = arr["tokens"].tolist(), arr["starts"].tolist(), arr["lengths"].tolist()
        tokens, starts, at = [], [], 0
        for n in lengths:
            tokens.append(flat_t[at:at + n])
            starts.append(flat_s[at:at + n])
            at += n
        return Store(meta, tokens, starts, arr["top_ids"], arr["top_lps"], arr["argmax"]), f"reference drift from {arr_path}"
    return None, "no stored reference drift (drift_reference.npz) beside the reference run"


def compare_stored(store: Store, cand: Any, passages: list[Passage]) -> DriftResult:
    """KL over the reference's stored top-k plus one tail bucket per side (a lower bound on full KL)."""
    torch = cand.inner.torch
    res = DriftResult(f"top-{store.meta['k']}+tail")
    window = int(store.meta.get("window", WINDOW))
    if int(getattr(cand.inner, "max_length", window) or window) < window:
        res.note = f"the candidate's context ({cand.inner.max_length}) is shorter than the reference's window ({window})"
    for i, p in enumerate(passages):
        ids = store.tokens[i]
        if not ids:
            continue
        _same_tokens(cand, p, ids)
        first, _ = store.rows(i)
        for s, lc in logprob_slices(cand, ids, window):
            rows = slice(first + s, first + s + lc.shape[0])
            tid = torch.from_numpy(store.top_ids[rows]).long()
            if int(tid.max()) >= lc.shape[-1]:
                raise NotComparable(f"the candidate's vocabulary ({lc.shape[-1]}) lacks reference token ids")
            tlp = torch.from_numpy(store.top_lps[rows]).double()
            q = lc.gather(1, tid)
            pr = tlp.exp()
            head = torch.sum(pr * (tlp - q), dim=-1)
            tail_p = (1.0 - pr.sum(-1)).clamp_min(0.0)
            tail_q = (1.0 - q.exp().sum(-1)).clamp_min(1e-300)
            tail = torch.where(tail_p > 1e-12, tail_p * (tail_p.clamp_min(1e-300).log() - tail_q.log()),
                               torch.zeros_like(tail_p))
            res.kl.extend((head + tail).clamp_min(0).tolist())
            res.match.extend((lc.argmax(-1) == torch.from_numpy(store.argmax[rows]).long()).tolist())
            res.groups.extend([p.id] * lc.shape[0])
    _check_finite(res)
    return res


# ---- hosted candidates ----------------------------------------------------------------------
def sample_positions(lengths: list[int], budget: int) -> list[tuple[int, int]]:
    """(passage, position) pairs spread evenly: every position when they fit the budget, else
    about budget × (passage share) positions per passage, evenly spaced within it."""
    total = sum(lengths)
    if total <= budget:
        return [(i, j) for i, n in enumerate(lengths) for j in range(n)]
    out = []
    for i, n in enumerate(lengths):
        m = max(1, min(n, round(budget * n / total)))
        picks = sorted({min(n - 1, round(k * (n - 1) / max(1, m - 1))) for k in range(m)}) if m > 1 else [n // 2]
        out.extend((i, j) for j in picks)
    return out[:budget]


PARTIAL = "\ufffd"  # a byte piece of a multi-byte character: no text to match it by across systems


def _top_dict(ids: list[int], lps: list[float], text_of: Any) -> dict[str, float]:
    """Token texts → log-probs. Byte pieces (decoding to U+FFFD) are left out: servers name them
    each their own way, so they cannot be matched; ids decoding to one text are merged (log-sum-exp)."""
    out: dict[str, float] = {}
    for t, v in zip(ids, lps):
        key = text_of(int(t))
        if PARTIAL in key:
            continue
        out[key] = float(v) if key not in out else float(math.log(math.exp(out[key]) + math.exp(float(v))))
    return out


def compare_hosted(ref: Any, store: Store | None, cand: Any, passages: list[Passage], budget: int) -> DriftResult:
    """Top-k KL at sampled positions: the reference (a loaded local build, or the stored file) vs a
    hosted candidate's 1-token completions with `logprobs`."""
    from evals.adaptation.equivalence import kl_from_logprobs

    res = DriftResult("top-k")
    if store is not None:
        tokens, starts = store.tokens, store.starts
        texts = store.meta.get("token_text", {})
        text_of = lambda t: texts.get(str(t), f"<{t}>")  # noqa: E731
    else:
        enc = [encode(ref.inner.tokenizer, p.text) for p in passages]
        tokens, starts = [e[0] for e in enc], [e[1] for e in enc]
        tok = ref.inner.tokenizer
        text_of = lambda t: tok.decode([t])  # noqa: E731
    picks = sample_positions([len(t) for t in tokens], budget)
    prefixes = []
    for i, j in picks:
        end = starts[i][j + 1] if j + 1 < len(starts[i]) else len(passages[i].text)
        prefixes.append(passages[i].text[:end])
    keep = [n for n, pre in enumerate(prefixes) if pre]
    picks, prefixes = [picks[n] for n in keep], [prefixes[n] for n in keep]
    tops, k_used, failures = hosted_top_logprobs(cand, prefixes)
    if failures == len(prefixes) and prefixes:
        raise NotComparable("the endpoint returned no top log-probs for 1-token completions")
    ref_rows: dict[tuple[int, int], tuple[list[int], list[float]]] = {}
    if store is not None:
        for i, j in picks:
            first, _ = store.rows(i)
            ref_rows[(i, j)] = (store.top_ids[first + j, :OPENAI_K].tolist(), store.top_lps[first + j, :OPENAI_K].tolist())
    else:
        wanted: dict[int, set[int]] = {}
        for i, j in picks:
            wanted.setdefault(i, set()).add(j)
        for i, js in wanted.items():
            for s, lp in logprob_slices(ref, tokens[i]):
                for j in [j for j in js if s <= j < s + lp.shape[0]]:
                    v, t = lp[j - s].topk(OPENAI_K)
                    ref_rows[(i, j)] = (t.tolist(), v.tolist())
    for (i, j), top in zip(picks, tops):
        if not top:
            continue
        ids, lps = ref_rows[(i, j)]
        r = _top_dict(ids[:k_used], lps[:k_used], text_of)  # the k asked for (a server's dict may merge keys)
        top = {k: v for k, v in top.items() if PARTIAL not in k and not k.startswith("bytes:")}
        if len(top) < len(r):  # the server gave fewer than k: compare heads of one size
            r = dict(list(r.items())[:len(top)])
        if not r or not top:
            continue
        kl, _ = kl_from_logprobs(r, top)
        res.kl.append(kl)
        res.match.append(max(r, key=r.get) == max(top, key=top.get))
        res.groups.append(passages[i].id)
    res.note = (f"top-{k_used} log-probs of a 1-token completion at {len(res.match)} sampled positions"
                + (f"; {failures} positions without log-probs were skipped" if failures else ""))
    _check_finite(res)
    return res


def hosted_top_logprobs(cand: Any, prefixes: list[str]) -> tuple[list[dict[str, float] | None], int, int]:
    """Top log-probs of the next token after each prefix, from a hosted build; (tops, k, failures)."""
    import asyncio
    from dataclasses import replace

    from evals.adapters.http_client import EndpointClient, EndpointError

    inner = cand.inner
    state = {"k": OPENAI_K}

    async def main() -> list[dict[str, float] | None]:
        client = EndpointClient(replace(inner.config))

        async def ask(prefix: str, echo: bool) -> dict[str, float] | None:
            body = {"model": inner.model_name, "prompt": prefix, "max_tokens": 1, "temperature": 0,
                    "logprobs": state["k"], **({"echo": True} if echo else {})}
            try:
                res = await client.post("completions", body, est_tokens=len(prefix) // 3 + 1)
            except EndpointError as exc:
                if exc.status == 400 and state["k"] > 5:  # the legacy completions API allows 5 at most
                    state["k"] = 5
                    return await ask(prefix, echo)
                return None
            return _read_top(res.body, len(prefix), echo)

        async def one(prefix: str) -> dict[str, float] | None:
            top = await ask(prefix, False)
            if top is None and getattr(inner, "has_logprobs", False):  # a server that only gives them with echo
                top = await ask(prefix, True)
            return top

        try:
            if prefixes:  # settle k on one request before sending the rest
                first = await one(prefixes[0])
                rest = await asyncio.gather(*(one(p) for p in prefixes[1:]))
                return [first, *rest]
            return []
        finally:
            await client.close()

    tops = asyncio.run(main())
    return tops, state["k"], sum(1 for t in tops if not t)


def _read_top(body: dict[str, Any], prefix_len: int, echo: bool) -> dict[str, float] | None:
    choice = (body.get("choices") or [{}])[0]
    lp = choice.get("logprobs") or {}
    tops = lp.get("top_logprobs") or []
    if not echo:
        top = tops[0] if tops else None
    else:
        offsets = lp.get("text_offset") or []
        idx = next((n for n, o in enumerate(offsets) if o >= prefix_len), None)
        top = tops[idx] if idx is not None and idx < len(tops) else None
    if not isinstance(top, dict) or not top:
        return None
    return {str(k): float(v) for k, v in top.items() if v is not None}
