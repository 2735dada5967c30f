"""Bad input gets one line naming the file, line or field, exit code 2, and no traceback."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli, write_jsonl


def _assert_one_line_error(proc, *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def test_malformed_suite_yaml_names_file_and_line(data_root: Path):
    bad = data_root / "suites" / "toy" / "broken.yaml"
    bad.write_text("suite: broken\nversion: 1\ntasks:\n  - toy_mc\n  bad: [unclosed\n")
    err = _assert_one_line_error(run_cli("--model", "hf:/nonexistent", "--suite", "toy"), "broken.yaml:", "invalid YAML")
    assert "broken.yaml:5" in err or "broken.yaml:4" in err


def test_unknown_task_field_suggests_the_right_one(data_root: Path):
    path = data_root / "suites" / "toy" / "toy_gen.yaml"
    path.write_text(path.read_text().replace("scorers:", "scorer:"))
    _assert_one_line_error(run_cli("list", "tasks"), "toy_gen.yaml:", "field 'scorer'", "did you mean 'scorers'")


def test_bad_field_value_names_field(data_root: Path):
    path = data_root / "suites" / "toy" / "toy_mc.yaml"
    path.write_text(path.read_text().replace("kind: loglikelihood", "kind: loglikelyhood"))
    _assert_one_line_error(run_cli("list", "tasks"), "toy_mc.yaml:4", "field 'kind'")


def test_broken_jsonl_line_is_named(data_root: Path):
    path = data_root / "seeds" / "toy" / "gen.jsonl"
    lines = path.read_text().splitlines()
    lines[6] = lines[6][:-5]  # cut the closing of line 7
    path.write_text("\n".join(lines) + "\n")
    _assert_one_line_error(run_cli("--model", "hf:/nonexistent", "--suite", "toy"), "gen.jsonl:7", "broken JSON")


def test_item_missing_target_index_is_named(data_root: Path):
    rows = [{"id": "a", "input": "x", "choices": ["p", "q"], "target": 5}]
    write_jsonl(data_root / "seeds" / "toy" / "mc.jsonl", rows)
    _assert_one_line_error(run_cli("--model", "hf:/nonexistent", "--suite", "toy"), "mc.jsonl:1", "'target'")


def test_unknown_model_and_suite(data_root: Path):
    _assert_one_line_error(run_cli("--model", "smollm-135m", "--suite", "toy"), "unknown model 'smollm-135m'")
    _assert_one_line_error(run_cli("--model", "hf:/x", "--suite", "toys"), "unknown suite 'toys'", "did you mean 'toy'")


def test_unknown_bundled_model_name_suggests(monkeypatch):
    monkeypatch.delenv("EVALS_DATA_ROOT", raising=False)
    _assert_one_line_error(run_cli("--model", "smollm2", "--suite", "performance"), "did you mean 'smollm2-135m'")


def test_unknown_task_in_tasks_flag(data_root: Path):
    _assert_one_line_error(run_cli("--model", "hf:/x", "--suite", "toy", "--tasks", "toy_mcq"), "did you mean 'toy_mc'")


def test_missing_model_package_gives_pip_command(data_root: Path):
    (data_root / "runners" / "ghost.yaml").write_text(
        "runner: ghost\nadapter: hf\nmodel: {module: no_such_model_pkg, file: m.gguf, install: pip install ghost-model==1.0}\n")
    _assert_one_line_error(run_cli("--model", "ghost", "--suite", "toy"), "pip install ghost-model==1.0")


def test_hub_id_offline_fails_fast(data_root: Path):
    import time

    t0 = time.time()
    _assert_one_line_error(run_cli("--model", "hf:some-org/some-model", "--suite", "toy"), "hf:/path/to/folder")
    assert time.time() - t0 < 30


def test_usage_error_exit_code():
    proc = run_cli("--suite", "performance")
    assert proc.returncode == 2 and "--model" in proc.stderr


@pytest.mark.parametrize("argv", [["--help"], ["list", "--help"]])
def test_help_is_fast_and_does_not_import_torch(argv):
    import subprocess
    import sys
    import time

    t0 = time.time()
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "evals", *argv], capture_output=True, text=True)
    assert proc.returncode == 0
    assert " torch" not in proc.stderr and "transformers" not in proc.stderr
    assert time.time() - t0 < 5
