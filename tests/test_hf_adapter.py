"""The transformers adapter: packed shared-context scoring equals one row per request; batch size
does not change answers."""
from __future__ import annotations

import pytest

from evals.requests import Request
from evals.runners import resolve_profile


@pytest.fixture(scope="module")
def tiny_adapter(tiny_model):
    from evals.adapters.hf import HFAdapter

    return HFAdapter(resolve_profile(f"hf:{tiny_model}"), batch_size=4)


def _mc_requests():
    reqs = []
    for q, opts in [("The sky is", [" blue", " green and wide", " made of cheese"]),
                    ("天空的颜色是", ["蓝色", "绿色的", "由奶酪做成"]),
                    ("A much longer question about the many capitals of the world, and which one is it?",
                     [" Paris", " Beijing", " Rome", " Nairobi"])]:
        reqs += [Request(kind="loglikelihood", prompt=q, continuation=o) for o in opts]
    return reqs


def _run(adapter, reqs):
    return {i: r for batch in adapter.run(reqs) for i, r in batch}


def test_packed_equals_separate_forward_passes(tiny_adapter):
    import torch

    reqs = _mc_requests()
    packed = _run(tiny_adapter, reqs)
    model, tok = tiny_adapter.model, tiny_adapter.tokenizer
    for i, r in enumerate(reqs):
        ctx = tok(r.prompt).input_ids
        whole = tok(r.prompt + r.continuation).input_ids
        cont = whole[len(ctx):]
        with torch.no_grad():
            logp = model(torch.tensor([whole])).logits.log_softmax(-1)[0]
        expected = sum(logp[len(ctx) - 1 + k, t].item() for k, t in enumerate(cont))
        greedy = all(logp[len(ctx) - 1 + k].argmax().item() == t for k, t in enumerate(cont))
        assert packed[i].logprob == pytest.approx(expected, abs=1e-4), r
        assert packed[i].is_greedy == greedy


def test_one_forward_row_per_shared_context(tiny_adapter, monkeypatch):
    calls = []
    original = tiny_adapter._score_rows
    monkeypatch.setattr(tiny_adapter, "_score_rows", lambda batch: calls.append(len(batch)) or original(batch))
    _run(tiny_adapter, _mc_requests())  # 3 items, 10 continuations
    assert sum(calls) == 3


def test_loglikelihood_independent_of_batch_size(tiny_adapter):
    reqs = _mc_requests()
    results = []
    for bs in (1, 4, 16):
        tiny_adapter.batch_size = bs
        results.append([round(r.logprob, 4) for _, r in sorted(_run(tiny_adapter, reqs).items())])
    tiny_adapter.batch_size = 4
    assert results[0] == results[1] == results[2]


def test_generation_independent_of_batch_size(tiny_adapter):
    prompts = ["Hello there", "写一首关于秋天的诗，要求押韵并且有四句", "1 2 3", "A somewhat longer prompt for the model"]
    reqs = [Request(kind="generate", messages=(("user", p),),
                    params=(("max_new_tokens", 16), ("stop", ()), ("temperature", 0.0))) for p in prompts]
    outs = []
    for bs in (1, 4, 16):
        tiny_adapter.batch_size = bs
        outs.append([r.text for _, r in sorted(_run(tiny_adapter, reqs).items())])
    tiny_adapter.batch_size = 4
    assert outs[0] == outs[1] == outs[2]
    assert all(o for o in outs[0])


def test_chat_template_applied_and_recorded(tiny_adapter):
    req = Request(kind="generate", messages=(("user", "hi"),), params=(("max_new_tokens", 2), ("temperature", 0.0)))
    resp = _run(tiny_adapter, [req])[0]
    assert resp.prompt_sent.startswith("<|im_start|>") and resp.prompt_sent.endswith("<|im_start|>assistant\n")
    assert resp.tokens_out <= 2


def test_stop_strings_cut_the_text(tiny_adapter):
    free = _run(tiny_adapter, [Request(kind="generate", prompt="x", params=(("max_new_tokens", 24), ("temperature", 0.0)))])[0]
    assert len(free.text) > 3
    stop = free.text[2:4]
    cut = _run(tiny_adapter, [Request(kind="generate", prompt="x",
                                      params=(("max_new_tokens", 24), ("stop", (stop,)), ("temperature", 0.0)))])[0]
    assert stop not in cut.text and free.text.startswith(cut.text) and cut.finish_reason == "stop"


def test_greedy_decoding_drops_finished_rows_and_matches_generate(tiny_adapter):
    """Rows leave the batch as they finish; what every row writes is still exactly `generate`'s."""
    import torch

    from evals.adapters.greedy import greedy_decode

    model, tok = tiny_adapter.model, tiny_adapter.tokenizer
    texts = ["Hello there", "写一首关于秋天的诗", "1 2 3", "A somewhat longer prompt for the model to continue", "x"]
    prompts = [tok(t).input_ids for t in texts]
    pad, eos = int(tok.pad_token_id), tiny_adapter._eos_ids()
    T = max(map(len, prompts))
    ids = torch.tensor([[pad] * (T - len(p)) + p for p in prompts])
    attn = torch.tensor([[0] * (T - len(p)) + [1] * len(p) for p in prompts])
    with torch.inference_mode():
        ref = model.generate(input_ids=ids, attention_mask=attn, max_new_tokens=12, do_sample=False,
                             pad_token_id=pad, eos_token_id=eos, temperature=None, top_p=None, top_k=None)[:, T:].tolist()

    def done(tokens):  # rows finish at different steps, as answers of different lengths do
        return len(tokens) >= 2 and tokens[-1] % 3 == 0

    sizes = []
    hook = model.register_forward_pre_hook(lambda m, a, kw: sizes.append(kw["input_ids"].shape[0]), with_kwargs=True)
    try:
        ours = greedy_decode(model, prompts, 12, eos, pad, done)
    finally:
        hook.remove()
    for row, (got, why) in zip(ref, ours):
        expected = []
        for t in row:
            if t in eos:
                break
            expected.append(t)
            if done(expected):
                break
        assert got == expected
        assert why == ("stop" if len(expected) < 12 or done(expected) else "length")
    assert sizes[0] == len(prompts) and min(sizes) < len(prompts)  # finished rows really left the batch
