"""Greedy decoding for a batch of prompts that drops rows as soon as they finish.

`model.generate` keeps every row of a batch in every step until the last row stops, so a batch
whose answers are mostly short pays for its longest answer sixteen times over. Here a finished row
leaves the batch (its KV cache rows are dropped), so each step costs only the rows still writing.
Greedy outputs are those of `generate`: the same left padding, position ids and argmax.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

Stopper = Callable[[list[int]], bool]


def _select(cache: Any, keep: Any) -> None:
    """Keep only the batch rows `keep` of a transformers cache, in place."""
    for layer in getattr(cache, "layers", []):
        if hasattr(layer, "batch_select_indices"):
            layer.batch_select_indices(keep)
        else:
            layer.reorder_cache(keep)


def greedy_decode(model: Any, prompts: Sequence[Sequence[int]], max_new: int, eos_ids: Sequence[int], pad_id: int,
                  stopper: Stopper | None = None) -> list[tuple[list[int], str]]:
    """Per prompt: the generated token ids (without the end token) and why it stopped: "stop" or "length"."""
    import torch

    dev = model.device
    T = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (T - len(p)) + list(p) for p in prompts], device=dev)
    attn = torch.tensor([[0] * (T - len(p)) + [1] * len(p) for p in prompts], device=dev)
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    eos = set(int(e) for e in eos_ids)
    outs: list[list[int]] = [[] for _ in prompts]
    reasons = ["length"] * len(prompts)
    alive = list(range(len(prompts)))
    if max_new <= 0:
        return [(o, r) for o, r in zip(outs, reasons)]
    with torch.inference_mode():
        res = model(input_ids=ids, attention_mask=attn, position_ids=pos, use_cache=True, logits_to_keep=1)
        cache = res.past_key_values
        nxt = res.logits[:, -1, :].float().argmax(-1)
        last_pos = pos[:, -1]
        for step in range(max_new):
            tokens = nxt.tolist()
            keep: list[int] = []
            for slot, (row, tok) in enumerate(zip(alive, tokens)):
                if tok in eos:
                    reasons[row] = "stop"
                    continue
                outs[row].append(tok)
                if stopper is not None and stopper(outs[row]):
                    reasons[row] = "stop"
                    continue
                if step + 1 < max_new:
                    keep.append(slot)
            if not keep:
                break
            if len(keep) < len(alive):
                idx = torch.tensor(keep, device=dev)
                _select(cache, idx)
                attn, nxt, last_pos = attn[idx], nxt[idx], last_pos[idx]
                alive = [alive[k] for k in keep]
            attn = torch.cat([attn, attn.new_ones((attn.shape[0], 1))], dim=-1)
            last_pos = last_pos + 1
            res = model(input_ids=nxt[:, None], attention_mask=attn, position_ids=last_pos[:, None],
                        past_key_values=cache, use_cache=True)
            cache = res.past_key_values
            nxt = res.logits[:, -1, :].float().argmax(-1)
    return [(o, r) for o, r in zip(outs, reasons)]
