"""The sandbox contains hostile code: each attack ends as a failure and the harness keeps going.

Each attack runs under the full isolation this machine gives and, where it matters, under single
layers, so a layer that silently stops working is caught even when another one still holds.
"""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Iterator

import pytest

from evals.adapters.base import Adapter
from evals.requests import Request, Response
from evals.sandbox import Limits, isolation, run_python

FAST = Limits(timeout_s=2.0, cpu_s=2)
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _layer_sets() -> dict[str, tuple[str, ...]]:
    """Full isolation, and the fallback without namespaces (audit hook, rlimits, nobody if root)."""
    full = isolation()
    plain = tuple(layer for layer in full if layer != "namespaces")
    sets = {"full": full}
    if plain != full:
        sets["no-namespaces"] = plain
    return sets


LAYER_SETS = _layer_sets()


def _sandbox_processes() -> list[int]:
    """Processes still running the sandbox's bootstrap (its code is on their command line)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        if b"_evals_guard" in cmd:
            found.append(int(name))
    return found


def _no_sandbox_processes_left(within_s: float = 2.0) -> bool:
    deadline = time.monotonic() + within_s
    while _sandbox_processes():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_machine_gives_the_expected_layers():
    layers = isolation()
    assert {"rlimits", "audit_hook"} <= set(layers)
    if ROOT:  # root ignores RLIMIT_NPROC, so it must run the code as another user
        assert "drop_privileges" in layers


def test_normal_code_passes_and_output_is_captured():
    res = run_python("import json, math\nprint(json.dumps({'pi': round(math.pi, 2)}))\n", FAST)
    assert res.passed and res.status == "ok" and res.returncode == 0
    assert res.stdout.strip() == '{"pi": 3.14}'
    assert res.reason() == "passed"


def test_failures_say_what_happened():
    res = run_python("def f(:\n    pass\n", FAST)
    assert res.status == "failed" and res.error.startswith("SyntaxError")
    res = run_python("assert 1 + 1 == 3, 'arithmetic is broken'\n", FAST)
    assert res.status == "failed" and res.error == "AssertionError: arithmetic is broken"
    assert res.reason() == "AssertionError: arithmetic is broken"


@pytest.mark.parametrize("code", ["while True:\n    pass\n", "import time\nwhile True:\n    time.sleep(0.05)\n"],
                         ids=["busy", "sleeping"])
def test_infinite_loop_times_out(code):
    t0 = time.monotonic()
    res = run_python(code, Limits(timeout_s=1.0, cpu_s=1))
    assert res.status == "timeout" and not res.passed
    assert time.monotonic() - t0 < 4
    assert res.reason().startswith("timeout after")
    assert _no_sandbox_processes_left()


# A bounded fork bomb: at most 200 children, each sleeping, so a broken sandbox cannot take the
# machine down. Half of them call setsid to leave the process group, as a real escape would.
FORK_BOMB = """
import os, time
made = 0
for i in range(200):
    try:
        pid = os.fork()
    except OSError as exc:
        print("refused after", made, type(exc).__name__, flush=True)
        break
    if pid == 0:
        if i % 2:
            os.setsid()
        time.sleep(30)
        os._exit(0)
    made += 1
print("made", made, flush=True)
time.sleep(30)
"""


def _fork_layer_sets() -> dict[str, tuple[str, ...]]:
    sets = dict(LAYER_SETS)
    if "namespaces" in isolation():
        # as root without the uid change RLIMIT_NPROC does nothing: the namespace must clean up alone
        sets["namespace-only"] = ("rlimits", "namespaces")
    return sets


FORK_SETS = _fork_layer_sets()


@pytest.mark.parametrize("name", sorted(FORK_SETS))
def test_fork_bomb_is_contained(name):
    layers = FORK_SETS[name]
    res = run_python(FORK_BOMB, Limits(timeout_s=1.5, cpu_s=2, nproc=16), layers=layers)
    assert res.status == "timeout" and not res.passed
    made = int(res.stdout.split("made")[-1].split()[0])
    if "namespaces" not in layers:  # without a PID namespace the audit hook refuses fork outright
        assert made == 0 and "refused after 0 PermissionError" in res.stdout
    elif "drop_privileges" in layers or not ROOT:
        assert made < 16 and "refused after" in res.stdout  # RLIMIT_NPROC
    assert _no_sandbox_processes_left(), "forked processes outlived the run"


@pytest.mark.parametrize("code", ["x = bytearray(8 * 1024 ** 3)\n",
                                  "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024 ** 2))\n"],
                         ids=["one-big", "growing"])
def test_memory_hog_hits_the_memory_limit(code):
    res = run_python(code, Limits(timeout_s=5.0, cpu_s=5, memory_mb=256))
    assert res.status == "memory" and res.reason() == "memory limit exceeded"


def test_huge_file_and_output_flood_hit_the_size_limit():
    res = run_python("with open('big.bin', 'wb') as fh:\n    fh.write(b'x' * (64 * 1024 ** 2))\n",
                     Limits(timeout_s=5.0, cpu_s=5, file_size_mb=4))
    assert res.status == "file_size"
    res = run_python("import sys\nwhile True:\n    sys.stdout.write('y' * 65536)\n",
                     Limits(timeout_s=5.0, cpu_s=5, file_size_mb=4, output_chars=1000))
    assert res.status == "file_size" and len(res.stdout) <= 1000


def _network_layer_sets() -> dict[str, tuple[str, ...]]:
    sets = dict(LAYER_SETS)
    sets["audit-hook-only"] = ("rlimits", "audit_hook")
    if "namespaces" in isolation():
        sets["namespace-only"] = ("rlimits", "namespaces")
    return sets


NETWORK_SETS = _network_layer_sets()


@pytest.mark.parametrize("name", sorted(NETWORK_SETS))
def test_network_calls_fail_and_reach_nobody(name):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.setblocking(False)
    port = server.getsockname()[1]
    code = (f"import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\ns.settimeout(1)\n"
            f"s.connect(('127.0.0.1', {port}))\ns.sendall(b'leak')\nprint('connected')\n")
    try:
        res = run_python(code, FAST, layers=NETWORK_SETS[name])
        assert res.status == "failed" and "connected" not in res.stdout
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody knocked
    finally:
        server.close()
    res = run_python("import urllib.request\nurllib.request.urlopen('http://example.com', timeout=2)\n", FAST,
                     layers=NETWORK_SETS[name])
    assert res.status == "failed"


SECRET_READER = """
import os
found = [k for k, v in os.environ.items() if "EVALS_TEST_SECRET" in k or "hunter2" in v]
for pid in [str(os.getppid())] + sorted(os.listdir("/proc")):
    if not pid.isdigit():
        continue
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            blob = fh.read()
    except OSError:
        continue
    if b"hunter2" in blob:
        found.append(blob.decode(errors="replace"))
print("FOUND", found)
assert found, "no secret found"
"""


@pytest.mark.parametrize("name", sorted(LAYER_SETS))
def test_environment_secrets_stay_out_of_reach(name, monkeypatch):
    monkeypatch.setenv("EVALS_TEST_SECRET", "hunter2-do-not-leak")
    assert os.environ["EVALS_TEST_SECRET"] == "hunter2-do-not-leak"
    res = run_python(SECRET_READER, FAST, layers=LAYER_SETS[name])
    assert res.status == "failed" and "AssertionError: no secret found" in res.error
    assert "hunter2" not in res.stdout and "hunter2" not in res.stderr
    env = run_python("import os\nprint(sorted(os.environ))\n", FAST, layers=LAYER_SETS[name])
    assert env.stdout.strip() == "['HOME', 'LANG', 'PATH', 'TMPDIR']"


def test_working_directory_is_fresh_and_removed():
    res = run_python("import os\nprint(os.getcwd())\nprint(os.listdir('.'))\nopen('note.txt', 'w').write('x')\n", FAST)
    cwd, listing = res.stdout.splitlines()
    assert res.passed and listing == "['solution.py']"
    assert not Path(cwd).exists()


def test_harness_keeps_running_after_hostile_code():
    hostile = ["while True:\n    pass\n", "x = bytearray(8 * 1024 ** 3)\n", "import os\nos.kill(os.getpid(), 9)\n",
               "import sys\nsys.exit(3)\n", "raise SystemExit('bye')\n"]
    statuses = [run_python(code, Limits(timeout_s=1.0, cpu_s=1)).status for code in hostile]
    assert statuses[:2] == ["timeout", "memory"] and "ok" not in statuses
    assert statuses[2] in ("crashed", "timeout")  # SIGKILL from inside looks like the CPU limit's kill
    good = run_python("def add(a, b):\n    return a + b\n\nassert add(2, 3) == 5\n", FAST)
    assert good.passed


# --- through the scorer and the pipeline, with a fake model that writes hostile code -----------

HOSTILE_ANSWERS = {
    "good": "```python\ndef add(a, b):\n    return a + b\n```",
    "wrong": "```python\ndef add(a, b):\n    return a - b\n```",
    "loop": "```python\ndef add(a, b):\n    while True:\n        pass\n```",
    "secret": "```python\nimport os\ndef add(a, b):\n    return int(os.environ['EVALS_TEST_SECRET'])\n```",
    "network": "```python\nimport urllib.request\ndef add(a, b):\n"
               "    return len(urllib.request.urlopen('http://example.com').read())\n```",
    # leaves sleeping children behind (or is refused fork); correct otherwise, so it passes
    "fork": "```python\nimport os, time\ndef add(a, b):\n    for _ in range(20):\n        try:\n"
            "            if os.fork() == 0:\n                time.sleep(30)\n                os._exit(0)\n"
            "        except OSError:\n            break\n    return a + b\n```",
}


class HostileCoder(Adapter):
    """Answers each item with the code its id names."""

    name = "fake"
    fingerprint = "fake:hostile-coder"

    def run(self, requests: list[Request]) -> Iterator[list[tuple[int, Response]]]:
        out = []
        for i, r in enumerate(requests):
            prompt = r.prompt or ""
            kind = prompt.split("[", 1)[1].split("]", 1)[0]
            out.append((i, Response(text=HOSTILE_ANSWERS[kind], prompt_sent=prompt)))
        yield out


def test_hostile_answers_through_the_pipeline_are_failures(data_root, tmp_path, monkeypatch):
    import json

    import evals
    from conftest import write_jsonl

    monkeypatch.setenv("EVALS_TEST_SECRET", "hunter2-do-not-leak")
    tests = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"
    rows = [{"id": kind, "input": f"[{kind}] def add(a, b):\n    \"\"\"Return a + b.\"\"\"\n",
             "meta": {"entry_point": "add", "tests": tests, "category": kind}} for kind in HOSTILE_ANSWERS]
    write_jsonl(data_root / "seeds" / "toy" / "code.jsonl", rows)
    (data_root / "suites" / "toy" / "toy_code.yaml").write_text(
        "task: toy_code\narea: performance\nitems: {path: toy/code.jsonl}\nkind: generate\nchat: false\n"
        "template: '{{ input }}'\ngeneration: {max_new_tokens: 64, temperature: 0}\n"
        "scorers: [{name: code_exec, timeout_s: 1}]\nmetrics: ['pass@1']\n")
    suite = data_root / "suites" / "toy" / "suite.yaml"
    suite.write_text(suite.read_text().replace("tasks:\n", "tasks:\n  - toy_code\n"))
    report = evals.evaluate("hf:fake-coder", "toy", adapter=HostileCoder(), tasks=["toy_code"],
                            output_dir=str(tmp_path / "out"), progress=False, use_cache=False)
    task = report["scores"]["tasks"]["toy_code"]
    assert task["metric"] == "pass@1" and task["n"] == len(HOSTILE_ANSWERS)
    assert task["value"] == pytest.approx(2 / len(HOSTILE_ANSWERS))
    recs = {r["item_id"]: r for r in map(json.loads, (Path(report["run"]["dir"]) / "records.jsonl")
                                           .read_text(encoding="utf-8").splitlines())}
    assert recs["good"]["scores"]["pass@1"] == 1.0 and recs["good"]["why"] == "passed"
    assert recs["wrong"]["why"].startswith("AssertionError")
    assert recs["loop"]["why"].startswith("timeout after")
    assert "KeyError: 'EVALS_TEST_SECRET'" in recs["secret"]["why"]
    assert recs["network"]["exec"][0]["status"] == "failed"
    assert recs["fork"]["scores"]["pass@1"] == 1.0
    assert all(recs[k]["scores"]["pass@1"] == 0.0 for k in HOSTILE_ANSWERS if k not in ("good", "fork"))
    assert _no_sandbox_processes_left(), "the forked sleepers outlived the run"
