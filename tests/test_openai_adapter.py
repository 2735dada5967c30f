"""The hosted adapter against small servers we control: capability negotiation, the generation
fallback, secrets, permanent failures, faults on the wire, and kill-then-resume. The real servers
(llama.cpp, `evaluate serve`) are in test_openai_servers.py."""
from __future__ import annotations

import asyncio
import email.utils
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, run_cli, run_then_kill
from fake_openai import FakeModel, FaultProxy, fake_echo

from evals.adapters.http_client import RateLimiter, retry_after_seconds
from evals.adapters.openai_logprobs import NO_PICK, continuation_logprob, pick_choice
from evals.pipeline import evaluate


@pytest.fixture
def fake():
    server = FakeModel()
    yield server
    server.close()


def _records(report: dict) -> list[dict]:
    path = Path(report["run"]["dir"]) / "records.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _comparable(recs: list[dict]) -> dict:
    keep = ("scores", "parsed", "response", "logprobs", "error")
    return {(r["task"], r["item_id"]): {k: r.get(k) for k in keep} for r in recs}


def _profile(root: Path, name: str, **settings) -> Path:
    lines = [f"runner: {name}", "adapter: openai", "model: {name: fake-1}", "settings:"]
    lines += [f"  {k}: {json.dumps(v)}" for k, v in settings.items()]
    path = root / "runners" / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _shown(body: dict) -> str:
    """A request body as the adapter records its prompt."""
    if "messages" in body:
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in body["messages"])
    return body.get("prompt", "")


# ---- pieces --------------------------------------------------------------------------------
def test_retry_after_forms():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    future = email.utils.formatdate(time.time() + 5, usegmt=True)
    assert 3.0 < retry_after_seconds({"retry-after": future}) <= 5.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_rate_limiter_holds_the_rate_after_the_burst():
    async def go() -> float:
        lim = RateLimiter(600)  # 10 a second, a burst of 600 allowed
        for _ in range(600):
            await lim.acquire()
        t0 = time.monotonic()
        for _ in range(5):
            await lim.acquire()
        return time.monotonic() - t0

    assert 0.4 <= asyncio.run(go()) < 1.0


def test_continuation_split_by_offsets_and_greedy():
    lp = {"text_offset": [0, 8, 9, 11], "token_logprobs": [None, -1.0, -0.5, -3.0],
          "top_logprobs": [None, {":": -1.0}, {" B": -0.5, " A": -0.9}, {"x": -0.1}]}
    # prompt "Question: B" with context "Question:" (9 chars); token 3 is a generated one
    assert continuation_logprob(lp, 9, 11) == (-0.5, True, 1)
    with pytest.raises(ValueError):
        continuation_logprob({"text_offset": [0], "token_logprobs": [None]}, 0, 5)


def test_pick_choice_reads_answers():
    assert pick_choice(" Paris, of course", [" London", " Paris"]) == 1
    assert pick_choice("(C)", ["A", "B", "C"]) == 2
    assert pick_choice("答案：B", [" x", " y"], "题目\nA. x\nB. y\n答案：") == 1
    assert pick_choice("B", [" x", " y"], "no lettered options here") is None
    assert pick_choice("I do not know", [" yes", " no"]) is None


# ---- whole runs against the fake -----------------------------------------------------------
def test_logprob_endpoint_scores_by_echo(data_root, fake, tmp_path):
    report = evaluate("openai:fake-1", "toy", base_url=fake.url, output_dir=str(tmp_path / "r"), progress=False)
    assert report["model"]["settings"]["loglikelihood"] == "echo-logprobs"
    assert report["counters"]["errors"] == 0
    recs = _records(report)
    mc = next(r for r in recs if r["task"] == "toy_mc")
    prompt = mc["prompt"]
    for cont, got in zip(mc["continuations"], mc["logprobs"]):
        full = prompt + cont
        expected = continuation_logprob(fake_echo(full + " x"), len(prompt), len(full))[0]
        assert got == pytest.approx(expected)
    assert "method_note" not in report["scores"]["tasks"]["toy_mc"]
    assert report["efficiency"]["usage"]["tokens_in"] > 0


def test_no_logprobs_falls_back_to_generation_and_says_so(data_root, tmp_path):
    server = FakeModel(logprobs=False)
    try:
        report = evaluate("openai:fake-1", "toy", base_url=server.url, output_dir=str(tmp_path / "r"), progress=False)
    finally:
        server.close()
    assert report["model"]["settings"]["loglikelihood"] == "generation-fallback"
    assert report["model"]["fingerprint"].endswith("#generation-fallback")
    task = report["scores"]["tasks"]["toy_mc"]
    assert task["comparable_with_loglikelihood_runs"] is False and "not comparable" in task["method_note"]
    recs = [r for r in _records(report) if r["task"] == "toy_mc"]
    assert all(r["fallback"] == "generation-fallback" for r in recs)
    for r in recs:  # at most one choice picked; an answer naming none scores 0 instead of "A"
        picked = [lp for lp in r["logprobs"] if lp != NO_PICK]
        assert len(picked) <= 1
        if not picked:
            assert r["parsed"] is None and r["scores"]["acc"] == 0.0
    md = (Path(report["run"]["dir"]) / "report.md").read_text()
    assert "not comparable with log-likelihood runs" in md


def test_api_key_is_never_written(data_root, tmp_path, monkeypatch):
    secret, wrong = "sk-test-CORRECT-0123456789", "sk-test-WRONG-9876543210"
    server = FakeModel(key=secret)
    try:
        _profile(data_root, "keyed", base_url=server.url, api_key_env="FAKE_API_KEY", max_retries=1,
                 backoff_base_s=0.01)
        monkeypatch.setenv("FAKE_API_KEY", secret)
        ok = run_cli("--model", "keyed", "--suite", "toy", "--output-dir", str(tmp_path / "ok"), "--quiet")
        assert ok.returncode == 0, ok.stderr
        monkeypatch.setenv("FAKE_API_KEY", wrong)  # the server answers 401 and echoes the header back
        bad = run_cli("--model", "keyed", "--suite", "toy", "--output-dir", str(tmp_path / "bad"), "--quiet",
                      "--no-cache")
        assert bad.returncode == 1, bad.stderr  # every item errored: a runtime failure, not silence
        unset = run_cli("--model", "keyed", "--suite", "toy", "--output-dir", str(tmp_path / "x"),
                        env={"FAKE_API_KEY": ""})
        assert unset.returncode == 2 and "FAKE_API_KEY" in unset.stderr
    finally:
        server.close()
    errors = [r["error"] for p in (tmp_path / "bad").glob("*/records.jsonl")
              for r in map(json.loads, p.read_text().splitlines())]
    assert errors and all("HTTP 401" in e and "***" in e for e in errors)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written
    for path in written:
        blob = path.read_bytes()
        assert secret.encode() not in blob and wrong.encode() not in blob, path
    for out in (ok, bad, unset):
        assert secret not in out.stdout + out.stderr and wrong not in out.stdout + out.stderr


def test_a_permanently_failing_item_is_an_error_not_a_hang(data_root, tmp_path, monkeypatch):
    server = FakeModel(fail_marker="What is 3 plus 3?")  # one toy_gen item always gets HTTP 500
    try:
        _profile(data_root, "flaky", base_url=server.url, max_retries=2, backoff_base_s=0.01)
        t0 = time.monotonic()
        out = run_cli("--model", "flaky", "--suite", "toy", "--output-dir", str(tmp_path / "r"), "--json")
        assert time.monotonic() - t0 < 120
    finally:
        server.close()
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["counters"]["errors"] == 1 and report["scores"]["tasks"]["toy_gen"]["errors"] == 1
    recs = _records(report)
    bad = [r for r in recs if r.get("error")]
    assert [r["item_id"] for r in bad] == ["g3"] and "gave up after 3 attempts" in bad[0]["error"]
    assert len(recs) == 22  # every other item was answered and scored


def test_faults_on_the_wire_change_no_result(data_root, tmp_path):
    server = FakeModel()
    proxy = FaultProxy(server.url, rate=0.1, seed=11, hang_s=2.5)
    try:
        _profile(data_root, "direct", base_url=server.url)
        _profile(data_root, "proxied", base_url=proxy.url, timeout_s=1.0, backoff_base_s=0.05, max_retries=8)
        clean = evaluate("direct", "toy", output_dir=str(tmp_path / "a"), progress=False)
        faulty = evaluate("proxied", "toy", output_dir=str(tmp_path / "b"), progress=False)
    finally:
        proxy.close()
        server.close()
    assert sum(proxy.faults.values()) >= 5, proxy.faults
    assert faulty["counters"]["errors"] == 0
    assert faulty["efficiency"]["retries"] >= sum(proxy.faults.values())
    assert _comparable(_records(clean)) == _comparable(_records(faulty))
    assert clean["scores"]["overall"] == faulty["scores"]["overall"]


def test_kill_halfway_then_resume_repeats_no_completed_request(data_root, tmp_path):
    from evals.runners import list_profiles  # noqa: F401  (profiles are read from the data root)

    items = [{"id": f"k{i:03d}", "input": f"Question number {i}: what comes after {i}?", "target": str(i + 1),
              "meta": {"category": "count"}} for i in range(60)]
    (data_root / "seeds" / "toy" / "gen.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    server = FakeModel(delay_s=0.1)
    _profile(data_root, "slow", base_url=server.url, max_concurrency=4)
    out = tmp_path / "results"
    argv = [sys.executable, "-m", "evals", "--model", "slow", "--suite", "toy", "--tasks", "toy_gen",
            "--output-dir", str(out), "--quiet"]
    try:
        records = run_then_kill(argv, out, 20, timeout=120)
        done = [json.loads(line) for line in records.read_text().splitlines() if line.endswith("}")]
        assert 20 <= len(done) < 60
        sent_before = len(server.bodies)
        again = subprocess.run(argv, cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
    finally:
        server.close()
    second = [_shown(b) for b in server.bodies[sent_before:] if "logprobs" not in b]  # not the capability probe
    done_prompts = {r["prompt"] for r in done}
    assert second and all(p.startswith("[user]") for p in second)  # the toy task goes through chat
    assert not done_prompts & set(second), "a completed request was sent again"
    assert len(second) <= 60 - len(done) + 4  # the rest, and at most the requests in flight at the kill
    ids = [json.loads(line)["item_id"] for line in records.read_text().splitlines()]
    assert sorted(ids) == sorted(it["id"] for it in items)  # every item exactly once
