"""Per-token log-probs of a whole prompt (OpenAI `echo` + `logprobs`), for `evaluate serve`.

Offsets follow the OpenAI convention: `text_offset` is the character where a token's text starts,
so a client can split context from continuation by character position.
"""
from __future__ import annotations

from typing import Any


def encode_with_offsets(tokenizer: Any, text: str) -> tuple[list[int], list[int]]:
    """Token ids and where each token's text starts. Special tokens are added unless the text
    already starts with the BOS string (a rendered chat template), as the local adapter does.

    A start is the tokenizer's own offset, pulled back to the previous token's end where the
    tokenizer trims a leading space; the byte tokens of one character all start at that character.
    """
    bos = getattr(tokenizer, "bos_token", None)
    add = not (bos and text.startswith(bos))
    enc = tokenizer(text, add_special_tokens=add, return_offsets_mapping=True)
    starts, prev_start, prev_end = [], 0, 0
    for start, end in enc["offset_mapping"]:
        s = max(prev_start, min(int(start), prev_end))
        starts.append(s)
        prev_start, prev_end = s, max(prev_end, int(end))
    return list(enc["input_ids"]), starts


def prompt_logprobs(adapter: Any, text: str, top_n: int = 1) -> dict[str, Any]:
    """OpenAI-style `logprobs` for the prompt, plus the greedy next token after it."""
    torch = adapter.torch
    tok, model = adapter.tokenizer, adapter.model
    ids, starts = encode_with_offsets(tok, text)
    if not ids:
        ids, starts = [tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id], [0]
    ids = ids[-adapter.max_length:]
    starts = starts[-len(ids):]
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids], device=model.device), use_cache=False).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1).cpu()
    k = max(1, min(int(top_n), 20))
    top_v, top_i = logp.topk(k, dim=-1)
    tokens = [tok.decode([t]) for t in ids]
    token_lps: list[float | None] = [None]
    tops: list[dict[str, float] | None] = [None]
    for pos in range(1, len(ids)):
        token_lps.append(float(logp[pos - 1, ids[pos]]))
        top = {tok.decode([int(i)]): float(v) for v, i in zip(top_v[pos - 1].tolist(), top_i[pos - 1].tolist())}
        top.setdefault(tokens[pos], token_lps[-1])
        tops.append(top)
    next_id = int(top_i[-1, 0])
    adapter.tokens_in += len(ids)
    return {"ids": ids, "tokens": tokens, "text_offset": starts, "token_logprobs": token_lps, "top_logprobs": tops,
            "next_token": tok.decode([next_id]), "next_logprob": float(top_v[-1, 0]), "next_id": next_id,
            "next_top": {tok.decode([int(i)]): float(v) for v, i in zip(top_v[-1].tolist(), top_i[-1].tolist())}}
