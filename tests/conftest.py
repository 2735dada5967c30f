"""Shared fixtures. Tests never reach a network: HF_HUB_OFFLINE is set before anything imports."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch, model_cache):
    """Each test gets its own response cache; converted models are shared by the session."""
    monkeypatch.setenv("EVALS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("EVALS_MODEL_CACHE_DIR", str(model_cache))


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    keep = os.environ.get("EVALS_MODEL_CACHE_DIR") or (
        os.path.join(os.environ["EVALS_CACHE_DIR"], "converted") if os.environ.get("EVALS_CACHE_DIR") else None)
    path = Path(keep) if keep else tmp_path_factory.mktemp("converted")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def smollm2_folder() -> tuple[str, str]:
    from evals.runners import locate_weights, resolve_profile

    return locate_weights(resolve_profile("smollm2-135m"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, smollm2_folder) -> Path:
    """A randomly initialised 2-layer Llama with SmolLM2's real tokenizer and chat template:
    a real transformers model that runs in milliseconds."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder, gguf = smollm2_folder
    out = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    """A private suites/seeds/runners tree with two small tasks (one of each request kind)."""
    root = tmp_path / "data"
    mc = [{"id": f"mc{i}", "input": f"Which number is {i}?", "choices": [str(i), str(i + 1), str(i + 2)],
           "target": 0, "meta": {"category": "even" if i % 2 == 0 else "odd", "lang": "en"}} for i in range(12)]
    gen = [{"id": f"g{i}", "input": f"What is {i} plus {i}?", "target": str(2 * i),
            "meta": {"category": "add", "group": f"t{i % 4}"}} for i in range(10)]
    write_jsonl(root / "seeds" / "toy" / "mc.jsonl", mc)
    write_jsonl(root / "seeds" / "toy" / "gen.jsonl", gen)
    (root / "suites" / "toy").mkdir(parents=True)
    (root / "suites" / "toy" / "suite.yaml").write_text(
        "suite: toy\nversion: 1.0.0\ntasks:\n  - {task: toy_mc, weight: 1}\n  - {task: toy_gen, weight: 2}\n"
        "thresholds: {overall: 0.0}\n")
    (root / "suites" / "toy" / "toy_mc.yaml").write_text(
        "task: toy_mc\narea: performance\nitems: {path: toy/mc.jsonl}\nkind: loglikelihood\nchat: false\n"
        "template: 'Q: {{ input }}\\nA:'\nscorers: [choice]\nmetrics: [acc, acc_norm]\nbreakdowns: [category]\n")
    (root / "suites" / "toy" / "toy_gen.yaml").write_text(
        "task: toy_gen\narea: performance\nitems: {path: toy/gen.jsonl}\nkind: generate\n"
        "template: '{{ input }}'\ngeneration: {max_new_tokens: 12, temperature: 0}\nscorers: [number]\n")
    (root / "runners").mkdir()
    monkeypatch.setenv("EVALS_DATA_ROOT", str(root))
    from evals.suites import _load_catalog

    _load_catalog.cache_clear()
    yield root
    _load_catalog.cache_clear()


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 600,
            python: str | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([python or sys.executable, "-m", "evals", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def run_then_kill(argv: list[str], out: Path, at_least: int, timeout: float = 300) -> Path:
    """Start `evaluate` in a subprocess, SIGKILL it once its records.jsonl has `at_least` lines;
    returns that records file."""
    import signal
    import time

    proc = subprocess.Popen(argv, cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            found = list(out.glob("*/records.jsonl"))
            if found and len(found[0].read_text().splitlines()) >= at_least:
                return found[0]
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.02)
        raise AssertionError(f"the run never wrote {at_least} records")
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
