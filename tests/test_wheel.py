"""The wheel carries suites/, seeds/ and runners/: installed into a fresh venv and run from another
folder, `evaluate list suites` and a demo evaluation work."""
from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import venv
from pathlib import Path

from conftest import REPO


def test_wheel_works_outside_the_repo(tmp_path, monkeypatch):
    monkeypatch.delenv("EVALS_DATA_ROOT", raising=False)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(REPO)],
                   check=True, capture_output=True, timeout=600)
    wheel = next(dist.glob("evals_center-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    # Dependencies come from this environment (no second multi-GB torch install); evals itself only
    # from the wheel.
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deps = [p for p in site.getsitepackages() if "site-packages" in p]
    Path(purelib, "deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH="")
    where = subprocess.run([str(py), "-c", "import evals, evals.paths; print(evals.__file__, evals.paths.data_root())"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True).stdout
    assert str(REPO) not in where and "_data" in where
    listing = subprocess.run([str(env_dir / "bin" / "evaluate"), "list", "suites"], cwd=elsewhere, env=env,
                             capture_output=True, text=True)
    assert listing.returncode == 0 and "performance" in listing.stdout, listing.stderr
    demo = subprocess.run([str(env_dir / "bin" / "evaluate"), "--model", "smollm2-135m", "--suite", "performance",
                           "--tasks", "knowledge_mc_zh", "--limit", "3", "--json", "--quiet"],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stderr
    report = json.loads(demo.stdout)
    assert report["scores"]["tasks"]["knowledge_mc_zh"]["n"] == 3
    assert (elsewhere / "results").is_dir()
