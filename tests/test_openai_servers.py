"""The hosted adapter against real OpenAI-compatible servers: llama-cpp-python's server (which we
did not write) serving the bundled SmolLM2 GGUF, and `evaluate serve` over the local adapter."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import REPO
from fake_openai import FaultProxy

from evals.pipeline import evaluate

pytestmark = pytest.mark.slow
TASKS = ["knowledge_mc_zh", "arithmetic_en"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(url: str, proc: subprocess.Popen | None, seconds: float = 180) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            if httpx.get(url + "/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not come up in {seconds} s")


def _profile(tmp: Path, name: str, url: str, **settings) -> str:
    lines = [f"runner: {name}", "adapter: openai", "model: {name: smollm2-135m, tokenizer: smollm2-135m}",
             "settings:", f"  base_url: {url}"] + [f"  {k}: {json.dumps(v)}" for k, v in settings.items()]
    path = tmp / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _records(report: dict) -> dict:
    path = Path(report["run"]["dir"]) / "records.jsonl"
    return {(r["task"], r["item_id"]): r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


@pytest.fixture(scope="module")
def llama_server(smollm2_folder):
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        pytest.fail('llama-cpp-python is not installed: pip install "llama-cpp-python[server]" (see .ci/run)')
    folder, gguf = smollm2_folder
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(Path(folder) / gguf), "--model_alias", "smollm2-135m",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--verbose", "False"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_up(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def smollm2_adapter():
    from evals.adapters import load_adapter
    from evals.runners import resolve_profile

    return load_adapter(resolve_profile("smollm2-135m"))


def test_suite_through_llama_cpp_server(llama_server, smollm2_adapter, tmp_path):
    """A suite runs through llama.cpp's server. Capability negotiation cross-checks the echoed
    prompt log-probs against the generation log-probs: llama-cpp-python 0.3.x shifts echoed
    log-probs by one token for models without a BOS token (SmolLM2), so the probe must refuse them
    and multiple choice falls back to generation, marked in the report. Where the echo is sound,
    the picks must agree with the local adapter's on the same weights."""
    hosted = evaluate(_profile(tmp_path, "llamacpp", llama_server, max_concurrency=4), "performance", tasks=TASKS,
                      limit=4, output_dir=str(tmp_path / "h"), progress=False)
    settings = hosted["model"]["settings"]
    assert hosted["counters"]["errors"] == 0
    h = _records(hosted)
    mc = [k for k in h if k[0] == "knowledge_mc_zh"]
    assert len(mc) == 4
    if settings["loglikelihood"] == "generation-fallback":
        assert "misaligned" in settings["loglikelihood_note"]
        assert hosted["scores"]["tasks"]["knowledge_mc_zh"]["comparable_with_loglikelihood_runs"] is False
        assert all(h[k]["fallback"] == "generation-fallback" for k in mc)
    else:
        local = evaluate("smollm2-135m", "performance", adapter=smollm2_adapter, tasks=["knowledge_mc_zh"], limit=4,
                         output_dir=str(tmp_path / "l"), progress=False)
        loc = _records(local)
        agree = sum(h[k]["parsed"] == loc[k]["parsed"] for k in mc) / len(mc)
        assert agree >= 0.75, agree
    gens = [r for k, r in h.items() if k[0] != "knowledge_mc_zh"]
    assert len(gens) == 4 and all(r["response"].strip() for r in gens)
    assert hosted["efficiency"]["usage"]["tokens_out"] > 0 and hosted["efficiency"]["max_in_flight"] >= 2


def test_faults_between_adapter_and_llama_cpp_change_nothing(llama_server, tmp_path):
    proxy = FaultProxy(llama_server, rate=0.1, seed=34, hang_s=32.0)
    try:
        tasks = ["knowledge_mc_en", "arithmetic_en"]
        clean = evaluate(_profile(tmp_path, "direct", llama_server, max_concurrency=4), "performance", tasks=tasks,
                         limit=6, output_dir=str(tmp_path / "a"), progress=False)
        faulty = evaluate(_profile(tmp_path, "proxied", proxy.url, max_concurrency=4, timeout_s=30.0, max_retries=8,
                                   backoff_base_s=0.1), "performance", tasks=tasks, limit=6,
                          output_dir=str(tmp_path / "b"), progress=False)
    finally:
        proxy.close()
    assert sum(proxy.faults.values()) >= 3, proxy.faults
    assert faulty["counters"]["errors"] == 0
    a, b = _records(clean), _records(faulty)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k]["scores"] == b[k]["scores"] and a[k]["parsed"] == b[k]["parsed"], k
        assert a[k].get("response") == b[k].get("response"), k
        for x, y in zip(a[k].get("logprobs") or [], b[k].get("logprobs") or []):
            assert x == pytest.approx(y, abs=1e-3), k


def test_serve_gives_the_local_adapters_answers(smollm2_adapter, tmp_path):
    """The same suite through `evaluate serve` and through the local adapter: identical greedy
    outputs and identical multiple-choice predictions."""
    from evals.serve import make_server

    local = evaluate("smollm2-135m", "performance", adapter=smollm2_adapter, tasks=TASKS, limit=3,
                     output_dir=str(tmp_path / "local"), progress=False)
    server = make_server(smollm2_adapter, "127.0.0.1", 0, "smollm2-135m")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        hosted = evaluate(_profile(tmp_path, "served", url), "performance", tasks=TASKS, limit=3,
                          output_dir=str(tmp_path / "hosted"), progress=False)
    finally:
        server.shutdown()
        server.server_close()
        server.worker.stop()
    assert hosted["counters"]["errors"] == 0
    a, b = _records(local), _records(hosted)
    assert a.keys() == b.keys() and len(a) == 6
    for k in a:
        if k[0] == "knowledge_mc_zh":
            assert a[k]["parsed"] == b[k]["parsed"], k
            assert b[k]["logprobs"] == pytest.approx(a[k]["logprobs"], abs=2e-3), k
        else:
            assert a[k]["response"] == b[k]["response"], k
        assert a[k]["scores"] == b[k]["scores"], k


def test_evaluate_serve_command(tiny_model):
    """The command itself (a tiny random model: the wire format is what is tested here)."""
    bad = subprocess.run([sys.executable, "-m", "evals", "serve", "--model", "smollm2-135m", "--host", "0.0.0.0"],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "loopback" in bad.stderr
    proc = subprocess.Popen([sys.executable, "-m", "evals", "serve", "--model", f"hf:{tiny_model}", "--port", "0",
                             "--served-name", "smollm2-135m", "--api-key-env", "SERVE_KEY"], cwd=REPO, env=dict(os.environ, SERVE_KEY="k-123"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "on http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line.split(" on ")[1].split()[0]
        auth = {"authorization": "Bearer k-123"}
        assert httpx.get(url + "/models").status_code == 401
        assert httpx.get(url + "/models", headers=auth).json()["data"][0]["id"] == "smollm2-135m"
        chat = {"model": "smollm2-135m", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8,
                "temperature": 0}
        plain = httpx.post(url + "/chat/completions", json=chat, headers=auth, timeout=60).json()
        text = plain["choices"][0]["message"]["content"]
        assert plain["usage"]["completion_tokens"] > 0 and plain["choices"][0]["finish_reason"] in ("stop", "length")
        streamed = httpx.post(url + "/chat/completions", json=dict(chat, stream=True), headers=auth, timeout=60).text
        pieces = [json.loads(x[6:]) for x in streamed.split("\n\n") if x.startswith("data: {")]
        assert "".join(p["choices"][0]["delta"].get("content", "") for p in pieces if p["choices"]) == text
        assert streamed.rstrip().endswith("data: [DONE]")
        echo = httpx.post(url + "/completions", headers=auth, timeout=60, json={
            "model": "smollm2-135m", "prompt": "答案：甲", "max_tokens": 1, "echo": True, "logprobs": 2}).json()
        lp = echo["choices"][0]["logprobs"]
        assert lp["token_logprobs"][0] is None and all(v < 0 for v in lp["token_logprobs"][1:])
        assert lp["text_offset"] == sorted(lp["text_offset"]) and lp["text_offset"][-1] == len("答案：甲")
        wrong = httpx.post(url + "/chat/completions", headers=auth, json=dict(chat, model="gpt-4"))
        assert wrong.status_code == 404 and "smollm2-135m" in wrong.json()["error"]["message"]
        assert httpx.post(url + "/chat/completions", headers=auth, json={"messages": "hi"}).status_code == 400
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
