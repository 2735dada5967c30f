"""`torchrun --nproc-per-node 2 -m evals ...`: two CPU processes (gloo) shard the items and give
the same records as one process; a killed data-parallel run's shards are merged on resume."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from conftest import REPO

KEEP = ("scores", "parsed", "response", "logprobs", "target", "prompt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _records(out: Path) -> dict:
    (path,) = list(out.glob("*/records.jsonl"))
    return {(r["task"], r["item_id"]): {k: r.get(k) for k in KEEP}
            for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def _torchrun(args: list[str], nproc: int = 2) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), "-m", "evals", *args]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_two_processes_give_the_records_of_one(data_root, tiny_model, tmp_path):
    common = ["--model", f"hf:{tiny_model}", "--suite", "toy", "--batch-size", "4", "--quiet"]
    one = subprocess.run([sys.executable, "-m", "evals", *common, "--output-dir", str(tmp_path / "one"), "--json"],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr
    two = _torchrun(common + ["--output-dir", str(tmp_path / "two"), "--json", "--no-cache"])
    assert two.returncode == 0, two.stderr[-3000:]
    report = json.loads(two.stdout)  # only rank 0 prints
    assert report["counters"]["processes"] == 2
    assert report["counters"]["requests_to_model"] == json.loads(one.stdout)["counters"]["requests_to_model"]
    a, b = _records(tmp_path / "one"), _records(tmp_path / "two")
    assert len(a) == 22 and a == b
    assert not list((tmp_path / "two").glob("*/records.rank*.jsonl"))  # shards merged and removed
    assert report["scores"]["overall"]["value"] == json.loads(one.stdout)["scores"]["overall"]["value"]


def test_leftover_shards_are_merged_on_resume(data_root, tiny_model, tmp_path):
    common = ["--model", f"hf:{tiny_model}", "--suite", "toy", "--batch-size", "4", "--quiet",
              "--output-dir", str(tmp_path / "r")]
    first = _torchrun(common)
    assert first.returncode == 0, first.stderr[-3000:]
    (run,) = list((tmp_path / "r").glob("*/"))
    lines = (run / "records.jsonl").read_text(encoding="utf-8").splitlines()
    # as if killed before the merge: half the records only in a shard file, a torn line at its end
    (run / "records.jsonl").write_text("\n".join(lines[:10]) + "\n", encoding="utf-8")
    (run / "records.rank1.jsonl").write_text("\n".join(lines[10:-1]) + "\n{\"task\": \"toy_", encoding="utf-8")
    again = _torchrun(common + ["--json"])
    assert again.returncode == 0, again.stderr[-3000:]
    report = json.loads(again.stdout)
    assert report["counters"]["items_resumed"] == 21 and report["counters"]["requests_to_model"] <= 3
    ids = [json.loads(line)["item_id"] for line in (run / "records.jsonl").read_text().splitlines()]
    assert len(ids) == 22 == len(set(ids))
