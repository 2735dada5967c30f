"""The real bundled SmolLM2 end to end through the CLI."""
from __future__ import annotations

import json

from conftest import run_cli


def test_smollm2_performance_through_the_cli(tmp_path, monkeypatch):
    monkeypatch.delenv("EVALS_DATA_ROOT", raising=False)
    args = ["--model", "smollm2-135m", "--suite", "performance", "--tasks", "knowledge_mc_en,arithmetic_en",
            "--limit", "4"]
    first = run_cli(*args, "--output-dir", str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr
    assert "OVERALL" in first.stdout and "knowledge_mc_en" in first.stdout
    run_dir = next((tmp_path / "a").iterdir())
    report = json.loads((run_dir / "report.json").read_text())
    assert report["model"]["fingerprint"] == "sha256:b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert report["model"]["settings"]["chat_template"] is True
    assert report["suite"]["name"] == "performance" and report["suite"]["hash"].startswith("sha256:")
    records = [json.loads(l) for l in (run_dir / "records.jsonl").read_text().splitlines()]
    assert len(records) == 8
    gen = [r for r in records if r["task"] == "arithmetic_en"]
    assert all(r["response"] and r["prompt"].startswith("<|im_start|>system") for r in gen)
    mc = [r for r in records if r["task"] == "knowledge_mc_en"]
    assert all(len(r["logprobs"]) == 4 and all(lp < 0 for lp in r["logprobs"]) for r in mc)

    # the same greedy command again, without the cache, in a new folder: identical scores
    second = run_cli(*args, "--output-dir", str(tmp_path / "b"), "--no-cache", "--json")
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["counters"]["requests_to_model"] == again["counters"]["requests"] > 0
    assert again["scores"] == report["scores"]
