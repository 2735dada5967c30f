"""Reports people look at: report.html and the leaderboard site, checked in headless Chromium.

The site is built from three real runs (SmolLM2, Gemma 3 270M, SmolLM2 in bfloat16) plus a run
whose "model" answers with HTML/JS payloads; pages are opened in Debian's Chromium through
Playwright. The leaderboard screenshot is kept under test-artifacts/.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Iterator

import pytest

from conftest import REPO, run_cli
from evals.adapters.base import Adapter
from evals.requests import Request, Response

CHROMIUM = os.environ.get("EVALS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
TASKS = ["knowledge_mc_en", "arithmetic_en"]
LIMIT = 3
SCRIPT = "<script>window.__pwned = 'script'</script>"
IMG = "<img src=x onerror=\"window.__pwned = 'img'\">"
PAYLOAD = f"Answer: 4 {SCRIPT} and {IMG} &amp; done"


class PayloadAdapter(Adapter):
    """A 'model' whose every answer carries markup that must stay text."""

    name = "fake"
    fingerprint = "fake:payload"

    def run(self, requests: list[Request]) -> Iterator[list[tuple[int, Response]]]:
        yield [(i, Response(text=PAYLOAD, logprob=-1.0 - i % 3, is_greedy=False, tokens_out=3)) if r.kind != "loglikelihood"
               else (i, Response(logprob=-1.0 - (i % 4), is_greedy=False)) for i, r in enumerate(requests)]

    def settings(self) -> dict:
        return {"device": "cpu", "dtype": "float32"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, model_cache) -> dict[str, Path]:
    import evals

    out = tmp_path_factory.mktemp("runs")
    env = {"EVALS_MODEL_CACHE_DIR": str(model_cache), "EVALS_CACHE_DIR": str(out / "cache")}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.delenv("EVALS_DATA_ROOT", raising=False)
        found = {}
        for key, model, extra in [("smollm2", "smollm2-135m", {}), ("gemma", "gemma3-270m", {}),
                                  ("smollm2-bf16", "smollm2-135m", {"dtype": "bfloat16"})]:
            r = evals.evaluate(model, "performance", tasks=TASKS, limit=LIMIT, output_dir=str(out), progress=False, **extra)
            found[key] = Path(r["run"]["dir"])
        evil = out / "evil<img src=x onerror=window.__pwned='name'>"
        evil.mkdir()
        r = evals.evaluate(f"hf:{evil}", "performance", tasks=TASKS, limit=LIMIT, output_dir=str(out / "evil"),
                           progress=False, adapter=PayloadAdapter())
        found["payload"] = Path(r["run"]["dir"])
    return found


@pytest.fixture(scope="module")
def site(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    proc = run_cli("publish", *(str(p) for p in runs.values()), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "4 runs in 1 suite group(s), 3 models" in proc.stdout
    return out


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: apt-get install chromium (or set EVALS_CHROMIUM)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        yield b
        b.close()


def _open(browser, path: Path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, dialogs


def test_leaderboard_lists_the_models_with_their_scores_and_sorts(site, runs, browser):
    page, _ = _open(browser, site / "index.html")
    table = page.locator("#overall-0")
    labels = table.locator("tbody tr td:nth-child(2)").all_text_contents()
    assert {"smollm2-135m (limit 3)", "gemma3-270m (limit 3)", "smollm2-135m (bfloat16, limit 3)"} <= set(labels)
    for key in ("smollm2", "gemma", "smollm2-bf16"):
        report = json.loads((runs[key] / "report.json").read_text())
        label = next(lbl for lbl in labels if lbl.startswith(report["model"]["name"]) and
                     (("bfloat16" in lbl) == (key == "smollm2-bf16")))
        row = table.locator("tbody tr", has_text=label).first
        assert row.locator("td").nth(2).text_content().startswith(f"{report['scores']['overall']['value']:.3f}")

    def overall_column() -> list[float]:
        return [float(t.split()[0]) for t in table.locator("tbody tr td:nth-child(3)").all_text_contents()]

    ranked = overall_column()
    assert ranked == sorted(ranked, reverse=True)  # ranked by overall score as built
    table.locator("thead th", has_text="overall").click()
    assert page.locator("#overall-0 thead th[data-dir]").text_content().startswith("overall")
    first = overall_column()
    table.locator("thead th", has_text="overall").click()
    second = overall_column()
    assert sorted(first) in (first, second) and sorted(first, reverse=True) in (first, second) and first != second
    table.locator("thead th", has_text="model").click()
    by_name = table.locator("tbody tr td:nth-child(2)").all_text_contents()
    assert by_name in (sorted(by_name, key=str.lower), sorted(by_name, key=str.lower, reverse=True))

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "leaderboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    page.close()


def test_payloads_stay_text_in_every_page(site, browser):
    pages = [site / "index.html", *sorted((site / "models").glob("*.html")), *sorted((site / "runs").glob("*/report.html"))]
    assert len(pages) == 1 + 3 + 4
    seen_response = seen_name = 0
    for path in pages:
        page, dialogs = _open(browser, path)
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        page.wait_for_timeout(50)
        assert page.evaluate("window.__pwned") is None, f"markup executed in {path}"
        assert dialogs == [] and page.locator("body img").count() == 0, path
        text = page.evaluate("document.body.innerText")
        seen_response += SCRIPT in text and IMG in text and "&amp; done" in text
        seen_name += "onerror=window.__pwned='name'" in text
        page.close()
    assert seen_response == 1   # the payload run's report.html in the site shows the response, as text
    assert seen_name >= 3       # the model name on the leaderboard, its model page and its report


def test_run_folder_report_html_is_written_with_the_run(runs, browser):
    html = runs["payload"] / "report.html"
    assert html.is_file()
    page, dialogs = _open(browser, html)
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert page.evaluate("window.__pwned") is None and dialogs == []
    rows = page.locator("#tbl-items-arithmetic_en tbody tr")
    assert rows.count() == LIMIT and SCRIPT in rows.first.inner_text()
    page.locator('[data-filter-for="tbl-items-arithmetic_en"]').fill("no such text anywhere")
    assert page.locator("#tbl-items-arithmetic_en tbody tr:visible").count() == 0
    page.close()


def test_report_command_formats(runs, tmp_path):
    run = runs["smollm2"]
    for fmt, probe in [("md", "# smollm2-135m"), ("json", '"schema": "evals.report/1"'), ("html", "<svg class=\"radar\""),
                       ("junit", "<testsuite")]:
        out = tmp_path / f"r.{fmt}"
        proc = run_cli("report", str(run), "--format", fmt, "--output", str(out))
        assert proc.returncode == 0, proc.stderr
        assert probe in out.read_text(encoding="utf-8"), fmt
    proc = run_cli("report", str(tmp_path / "nope"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no such run folder" in proc.stderr


def test_publish_accumulates_runs_and_keeps_groups_apart(runs, tmp_path):
    out = tmp_path / "site"
    assert run_cli("publish", str(runs["smollm2"]), "--out", str(out)).returncode == 0
    proc = run_cli("publish", str(runs["gemma"]), "--out", str(out))
    assert proc.returncode == 0 and "2 runs in 1 suite group(s), 2 models" in proc.stdout
    # a run of another exam (different tasks → different suite hash) is listed apart, not ranked
    other = tmp_path / "other"
    shutil.copytree(runs["smollm2-bf16"], other)
    rep = json.loads((other / "report.json").read_text())
    rep["suite"]["hash"] = "sha256:" + "0" * 64
    rep["run"]["key"] = "other"
    (other / "report.json").write_text(json.dumps(rep))
    assert run_cli("publish", str(other), "--out", str(out)).returncode == 0
    index = json.loads((out / "index.json").read_text())
    assert [len(g["runs"]) for g in index["groups"]] == [2, 1]
    assert "Not ranked with the runs above" in (out / "index.html").read_text()
    with sqlite3.connect(out / "index.sqlite") as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 3
        assert db.execute("SELECT count(*) FROM scores WHERE level = 'task'").fetchone()[0] == 3 * len(TASKS)
    # a bad run folder changes nothing
    before = (out / "index.html").read_text()
    bad = run_cli("publish", str(tmp_path / "missing"), "--out", str(out))
    assert bad.returncode == 2 and (out / "index.html").read_text() == before
