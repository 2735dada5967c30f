"""`kill -9` in the middle of a run, then the same command: every item exactly once, and no request
answered before the kill is sent to the model again."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO, run_then_kill, write_jsonl


def test_kill_9_then_resume(data_root, tiny_model, tmp_path):
    items = [{"id": f"k{i:03d}", "input": f"Tell me a long story number {i}.", "target": "0",
              "meta": {"category": "story"}} for i in range(40)]
    write_jsonl(data_root / "seeds" / "toy" / "gen.jsonl", items)
    gen = data_root / "suites" / "toy" / "toy_gen.yaml"
    gen.write_text(gen.read_text().replace("max_new_tokens: 12", "max_new_tokens: 400"))
    out = tmp_path / "results"
    argv = [sys.executable, "-m", "evals", "--model", f"hf:{tiny_model}", "--suite", "toy", "--tasks", "toy_gen",
            "--batch-size", "1", "--output-dir", str(out), "--quiet"]
    records = run_then_kill(argv, out, 5)
    done_before = {json.loads(l)["item_id"] for l in records.read_text().splitlines() if l.endswith("}")}
    assert 5 <= len(done_before) < 40, "kill the run in the middle, not after it finished"

    again = subprocess.run(argv + ["--json"], cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    lines = records.read_text().splitlines()
    ids = [json.loads(l)["item_id"] for l in lines]
    assert len(ids) == 40 and len(set(ids)) == 40  # every item exactly once
    c = report["counters"]
    resumed = c["items_resumed"]
    assert resumed >= len(done_before)  # everything recorded before the kill was kept ...
    # ... and only the other items' requests were built; of those, answers cached before the kill
    # (at most the one batch in flight) were not sent again.
    assert c["requests"] == 40 - resumed
    assert c["requests_to_model"] == c["requests"] - c["requests_from_cache"]
    assert c["requests_to_model"] < 40 - len(done_before) + 1
