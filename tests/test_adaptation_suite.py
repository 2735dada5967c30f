"""The adaptation suite: its shipped tasks and banks, perturbed and circular tasks, long-context items,
and the drop-rate and zh/en parity blocks of the report — all on scripted fake adapters (no model)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import pytest

from conftest import run_cli, write_jsonl
from evals.adapters.base import Adapter
from evals.adaptation.robustness import NEEDLES, typos
from evals.errors import InputError
from evals.requests import Request, Response

DOMAINS = ("manufacturing", "integrated_circuits", "biopharma", "fintech", "education", "digital_government",
           "autonomous_driving", "robotics")
TASKS = {"domain_zh", "domain_en", "robust_typos_zh", "robust_typos_en", "robust_punct_zh", "robust_punct_en",
         "circular_domain_zh", "circular_domain_en", "long_context_retrieval"}


# ---- the shipped suite -----------------------------------------------------------------------------

@pytest.fixture
def real_tree(monkeypatch):
    from evals.suites import _load_catalog

    monkeypatch.delenv("EVALS_DATA_ROOT", raising=False)
    _load_catalog.cache_clear()
    yield
    _load_catalog.cache_clear()


def test_shipped_suite_loads_with_its_equivalence_block(real_tree):
    from evals.suites import load_catalog

    cat = load_catalog()
    suite = cat.suite("adaptation")
    assert suite.area == "adaptation" and suite.version == "0.1.0" and suite.description
    assert suite.equivalence == {"margin": 0.01, "alpha": 0.05, "min_items": 30, "refusal_margin": 0.05,
                                 "top1_min": 0.95}
    tasks = {t.name: t for t, _ in cat.suite_tasks(suite)}
    assert set(tasks) == TASKS
    for lang in ("zh", "en"):
        paths = tasks[f"domain_{lang}"].items["paths"]
        assert paths == [f"adaptation/domain_{d}_{lang}.jsonl" for d in DOMAINS]
        for name in (f"robust_typos_{lang}", f"robust_punct_{lang}", f"circular_domain_{lang}"):
            assert tasks[name].items["paths"] == paths
        assert tasks[f"robust_typos_{lang}"].baseline == tasks[f"robust_punct_{lang}"].baseline == f"domain_{lang}"
        assert tasks[f"robust_typos_{lang}"].perturb["kind"] == "typos"
        assert tasks[f"robust_punct_{lang}"].perturb["kind"] == "punctuation"
        circ = tasks[f"circular_domain_{lang}"]
        assert circ.circular and circ.primary_metric == "circular_acc"
        assert [s.name for s in circ.scorers] == ["circular_choice"]
    assert tasks["long_context_retrieval"].breakdowns[:2] == ["length", "depth"]


def test_list_tasks_json_shows_domain_counts(real_tree):
    proc = run_cli("list", "tasks", "--suite", "adaptation", "--json")
    assert proc.returncode == 0, proc.stderr
    tasks = {t["name"]: t for t in json.loads(proc.stdout)}
    assert set(tasks) == TASKS
    for lang, least in (("zh", 100), ("en", 50)):
        dom = tasks[f"domain_{lang}"]
        assert set(dom["by_category"]) == set(DOMAINS)
        assert min(dom["by_category"].values()) >= least
        assert set(dom["by_kind"]) <= {"knowledge", "scenario"}
        assert tasks[f"robust_typos_{lang}"]["items"] == dom["items"]
        circ = tasks[f"circular_domain_{lang}"]
        assert circ["items"] == 4 * dom["items"] and circ["original_items"] == dom["items"]
    lcr = tasks["long_context_retrieval"]
    assert lcr["items"] == len(NEEDLES) * 3 * 4
    assert lcr["by_length"] == {"1k": 42, "2k": 42, "4k": 42, "8k": 42}
    assert lcr["by_lang"] == {"en": 84, "zh": 84}


@pytest.mark.parametrize("lang,least", [("zh", 100), ("en", 50)])
def test_domain_banks_are_large_enough_and_free_of_near_duplicates(lang, least):
    from evals.banks.neardup import check_files
    from evals.paths import bundled_root

    folder = bundled_root() / "seeds" / "adaptation"
    files = [folder / f"domain_{d}_{lang}.jsonl" for d in DOMAINS]
    missing = [f.name for f in files if not f.is_file()]
    assert not missing, f"domain banks not written yet: {missing}"
    for domain, path in zip(DOMAINS, files):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        assert len(rows) >= least, f"{path.name}: {len(rows)} items, want ≥ {least}"
        assert len({r["id"] for r in rows}) == len(rows)
        for r in rows:
            assert len(r["choices"]) == 4 and 0 <= r["target"] < 4, r["id"]
            assert r["meta"]["category"] == domain and r["meta"]["kind"] in ("knowledge", "scenario"), r["id"]
            assert r["meta"]["lang"] == lang, r["id"]
    assert check_files(files) == []


def test_long_context_items_are_deterministic_and_cover_the_grid(real_tree):
    from evals.items import load_items
    from evals.suites import load_catalog

    spec = load_catalog().task("long_context_retrieval")
    a = load_items(spec.items, "x")
    b = load_items(spec.items, "x")
    assert [(i.id, i.input) for i in a] == [(i.id, i.input) for i in b]
    assert len(a) == len(NEEDLES) * 12 and len({i.id for i in a}) == len(a)
    assert {i.meta["depth"] for i in a} == {"0.1", "0.5", "0.9"}
    for it in a:
        needle = next(n for n, _, ans in NEEDLES if ans == it.target)
        assert needle in it.input and it.input.endswith(("?", "？"))
        ratio = 4.0 if it.meta["lang"] == "en" else 1.5
        assert 0.85 * it.meta["context_tokens"] * ratio <= len(it.input) <= 1.05 * it.meta["context_tokens"] * ratio


# ---- a private suite on scripted adapters ------------------------------------------------------------

CLEAN_EN = [f"Which gizmo holds the correct answer number {k}?" if k % 2 == 0 else f"Is it {k} or not"
            for k in range(20)]
CHOICES = ["yes", "no", "maybe", "never"]


def _write_suite(root: Path) -> None:
    en = [{"id": f"en-{k:02d}", "input": CLEAN_EN[k], "choices": CHOICES, "target": 0,
           "meta": {"lang": "en", "category": "c", "pair": f"zh-{k:02d}"}} for k in range(20)]
    zh = [{"id": f"zh-{k:02d}", "input": f"第{k}题：这是哪一个选项呢", "choices": ["是", "否", "或许", "从不"], "target": 0,
           "meta": {"lang": "zh", "category": "c", "pair": f"en-{k:02d}"}} for k in range(20)]
    circ = [{"id": f"c-{k:02d}", "input": f"Circle {k}: pick the right one", "target": 0,
             "choices": [f"right-{k}", "wrong-a", "wrong-b", "wrong-c"], "meta": {"lang": "en", "category": "c"}}
            for k in range(10)]
    write_jsonl(root / "seeds" / "rob" / "en.jsonl", en)
    write_jsonl(root / "seeds" / "rob" / "zh.jsonl", zh)
    write_jsonl(root / "seeds" / "rob" / "circ.jsonl", circ)
    write_jsonl(root / "seeds" / "rob" / "hay_en.jsonl", [{"id": "h1", "text": "The river runs north past the mill. " * 40}])
    write_jsonl(root / "seeds" / "rob" / "hay_zh.jsonl", [{"id": "h1", "text": "河水从磨坊旁向北流去。" * 60}])
    d = root / "suites" / "rob"
    d.mkdir(parents=True, exist_ok=True)
    (d / "suite.yaml").write_text(
        "suite: rob\nversion: 1.0.0\narea: adaptation\ntasks: [clean_en, clean_zh, typos_en, circ_en, lcr]\n"
        "equivalence: {margin: 0.02, min_items: 10}\n")
    mc = "area: adaptation\nkind: loglikelihood\nchat: false\ntemplate: \"Q: {{ input }}\\nA:\"\nscorers: [choice]\n" \
         "metrics: [acc]\nbreakdowns: [category]\n"
    (d / "clean_en.yaml").write_text("task: clean_en\nitems: {path: rob/en.jsonl}\n" + mc)
    (d / "clean_zh.yaml").write_text("task: clean_zh\nitems: {path: rob/zh.jsonl}\n" + mc)
    (d / "typos_en.yaml").write_text("task: typos_en\nitems: {path: rob/en.jsonl}\nbaseline: clean_en\n"
                                     "perturb: {kind: typos, rate: 1.0, seed: 3}\n" + mc)
    (d / "circ_en.yaml").write_text(
        "task: circ_en\narea: adaptation\nitems: {path: rob/circ.jsonl}\ncircular: true\nkind: loglikelihood\n"
        "chat: false\ntemplate: \"{{ input }}\\n{% for c in choices %}{{ letters[loop.index0] }}. {{ c }}\\n{% endfor %}"
        "Answer:\"\nchoice_template: ' {{ letter }}'\nscorers: [choice]\nbreakdowns: [category]\n")
    (d / "lcr.yaml").write_text(
        "task: lcr\narea: adaptation\nkind: generate\ntemplate: '{{ input }}'\n"
        "items: {generator: needle_haystack, haystack: {en: rob/hay_en.jsonl, zh: rob/hay_zh.jsonl}, depths: [0.5],\n"
        "        context_tokens: [200, 2000]}\n"
        "generation: {max_new_tokens: 16, temperature: 0}\nscorers: [needle]\nbreakdowns: [length, depth]\n")
    (root / "runners").mkdir(exist_ok=True)


@pytest.fixture
def rob_root(tmp_path, monkeypatch) -> Path:
    from evals.suites import _load_catalog

    root = tmp_path / "data"
    _write_suite(root)
    monkeypatch.setenv("EVALS_DATA_ROOT", str(root))
    _load_catalog.cache_clear()
    yield root
    _load_catalog.cache_clear()


class Scripted(Adapter):
    """Right on clean English items and wrong on perturbed ones; right on even-numbered Chinese items;
    on circular items, reads the options when k is even and always says "A" when k is odd; retrieves
    any needle that is in its prompt, within a 1,000-token window."""

    name = "scripted"
    fingerprint = "scripted:rob"

    def _mc(self, r: Request) -> Response:
        text = r.prompt
        best = -0.1
        if m := re.search(r"Circle (\d+):", text):
            k = int(m.group(1))
            letter = next(line[0] for line in text.splitlines() if "right-" in line) if k % 2 == 0 else "A"
            return Response(logprob=best if r.continuation.strip() == letter else -4.0)
        if m := re.search(r"第(\d+)题", text):
            right = int(m.group(1)) % 2 == 0
            want = "是" if right else "否"
            return Response(logprob=best if r.continuation.strip() == want else -4.0)
        question = re.search(r"Q: (.*)\nA:", text, re.S).group(1)
        want = "yes" if question in CLEAN_EN else "no"
        return Response(logprob=best if r.continuation.strip() == want else -4.0)

    def _gen(self, r: Request) -> Response:
        prompt = r.prompt if r.prompt is not None else r.messages[-1][1]
        for needle, _, answer in NEEDLES:
            if needle in prompt:
                return Response(text=f"It is {answer}.", tokens_out=4)
        return Response(text="I do not know.", tokens_out=4)

    def run(self, requests: list[Request]) -> Iterator[list[tuple[int, Response]]]:
        yield [(i, self._mc(r) if r.kind == "loglikelihood" else self._gen(r)) for i, r in enumerate(requests)]

    def settings(self) -> dict:
        return {"device": "cpu", "dtype": "float32", "max_length": 1000}


def _evaluate(tmp_path: Path, **kw) -> dict:
    import evals

    return evals.evaluate(f"hf:{tmp_path / 'model'}", "rob", output_dir=str(tmp_path / "out"), progress=False,
                          adapter=Scripted(), **kw)


def _plan():
    from evals.pipeline import RunConfig, plan_tasks
    from evals.suites import load_catalog

    _, planned, s_hash = plan_tasks(load_catalog(), RunConfig(model="x", suite="rob"))
    return {p.spec.name: p for p in planned}, s_hash


def test_perturbation_is_applied_at_load_keyed_by_id(rob_root):
    planned, s_hash = _plan()
    clean = {it.id: it for it in planned["clean_en"].items}
    noisy = {it.id: it for it in planned["typos_en"].items}
    assert set(clean) == set(noisy)
    for k, text in enumerate(CLEAN_EN):
        item_id = f"en-{k:02d}"
        assert noisy[item_id].input == typos(text, "en", rate=1.0, key=item_id, seed=3)
        assert (noisy[item_id].input != text) == (k % 2 == 0)  # short words only: nothing to mistype
        assert noisy[item_id].choices == CHOICES and noisy[item_id].target == 0
        assert noisy[item_id].meta["perturbation"] == "typos@1/seed3" and "perturbation" not in clean[item_id].meta
    # the same again, and the same per id when the bank's lines are reordered
    again, again_hash = _plan()
    assert [it.input for it in again["typos_en"].items] == [it.input for it in planned["typos_en"].items]
    assert again_hash == s_hash
    bank = rob_root / "seeds" / "rob" / "en.jsonl"
    bank.write_text("".join(reversed(bank.read_text().splitlines(keepends=True))))
    reordered, _ = _plan()
    assert {it.id: it.input for it in reordered["typos_en"].items} == {i: it.input for i, it in noisy.items()}


def test_circular_expansion_ids_groups_and_rotated_targets(rob_root):
    planned, _ = _plan()
    items = planned["circ_en"].items
    assert len(items) == 40
    first = [it for it in items if it.meta["rotation_of"] == "c-00"]
    assert [it.id for it in first] == ["c-00#r0", "c-00#r1", "c-00#r2", "c-00#r3"]
    assert {it.meta["group"] for it in first} == {"c-00"}
    for it in first:
        assert it.choices[it.target] == "right-0"
    assert sorted(it.target for it in first) == [0, 1, 2, 3]  # the right option visits every position


def test_listing_counts_transformed_items(rob_root):
    from evals.listing import list_tasks

    tasks = {t["name"]: t for t in list_tasks("rob")}
    assert tasks["circ_en"]["items"] == 40 and tasks["circ_en"]["original_items"] == 10
    assert tasks["typos_en"]["items"] == 20
    assert tasks["lcr"]["items"] == len(NEEDLES) * 2 and tasks["lcr"]["by_length"] == {"200": 14, "2k": 14}


def test_report_has_circular_acc_drop_rate_parity_and_skipped_lengths(rob_root, tmp_path):
    report = _evaluate(tmp_path)
    tasks = report["scores"]["tasks"]
    # circular: even items right under every rotation, odd ones always "A" (right once in four)
    circ = tasks["circ_en"]
    assert circ["metric"] == "circular_acc" and circ["value"] == pytest.approx(0.5) and circ["n"] == 10
    assert circ["metrics"]["acc"]["value"] == pytest.approx(0.5 + 0.5 * 0.25) and circ["metrics"]["acc"]["n"] == 40
    assert circ["metrics"]["acc"]["method"] == "cluster-bootstrap"  # rotations of one item are one cluster
    assert circ["by"]["category"]["c"]["value"] == pytest.approx(0.5)
    # drop rate: every even item is mistyped (and answered wrong), odd ones are unchanged
    assert tasks["clean_en"]["value"] == 1.0 and tasks["typos_en"]["value"] == pytest.approx(0.5)
    (rob,) = report["robustness"]
    assert rob["task"] == "typos_en" and rob["baseline"] == "clean_en" and rob["metric"] == "acc"
    assert rob["clean"]["value"] == 1.0 and rob["perturbed"]["value"] == pytest.approx(0.5)
    assert rob["drop_rate"] == pytest.approx(0.5) and rob["n"] == 20
    assert rob["ci"][0] < 0.5 < rob["ci"][1]
    assert rob["perturbation"] == {"kind": "typos", "rate": 1.0, "seed": 3}
    # parity: zh right on even items, en right on all; clean_zh pairs with clean_en by name
    (par,) = report["parity"]
    assert (par["zh_task"], par["en_task"], par["pairs"]) == ("clean_zh", "clean_en", 20)
    assert par["zh"]["value"] == pytest.approx(0.5) and par["en"]["value"] == 1.0
    assert par["difference"] == pytest.approx(-0.5) and par["ci"][0] < -0.5 < par["ci"][1] < 0
    assert par["method"] == "paired (Newcombe)"
    # long context: the 2k items do not fit the 1,000-token window and are skipped, not truncated
    lcr = report["scores"]["tasks"]["lcr"]
    assert lcr["skipped"]["items"] == 14 and lcr["skipped"]["by_length"] == {"2k": 14}
    assert lcr["n"] == 14 and lcr["value"] == 1.0 and set(lcr["by"]["length"]) == {"200"}
    md = (Path(report["run"]["dir"]) / "report.md").read_text()
    assert "## Robustness: drop rate against the clean task" in md
    assert "| typos_en | clean_en | typos 1.0 | acc | 1.000 | 0.500 | 0.500 |" in md
    assert "## zh/en parity" in md and "| clean_zh | clean_en | acc | 0.500 (n=20) | 1.000 (n=20) | -0.500 |" in md
    assert "14 items skipped as longer than the model's window" in md
    html = (Path(report["run"]["dir"]) / "report.html").read_text()
    assert '<h2 id="robustness">' in html and "paired (Newcombe)" in html
    on_disk = json.loads((Path(report["run"]["dir"]) / "report.json").read_text())
    assert on_disk["robustness"] == report["robustness"] and on_disk["parity"] == report["parity"]


def test_limit_keeps_rotations_together(rob_root, tmp_path):
    report = _evaluate(tmp_path, limit=8, tasks=["circ_en"])
    circ = report["scores"]["tasks"]["circ_en"]
    assert circ["metrics"]["acc"]["n"] == 8 and circ["n"] == 2 and "incomplete" not in circ["metrics"]["circular_acc"]


def test_drop_rate_says_when_the_baseline_was_not_run(rob_root, tmp_path):
    report = _evaluate(tmp_path, tasks=["typos_en"])
    (rob,) = report["robustness"]
    assert rob["drop_rate"] is None and "not part of this run" in rob["note"]


# ---- input errors: one line naming the file and the field ----------------------------------------------

@pytest.mark.parametrize("value,says", [
    ("{kind: jumble}", "kind must be one of typos, punctuation, got 'jumble'"),
    ("{kind: typos, rate: 1.5}", "rate must be a number in [0, 1], got 1.5"),
    ("{kind: typos, rate: yes}", "rate must be a number in [0, 1], got True"),
    ("{kind: typos, seed: abc}", "seed must be an integer, got 'abc'"),
    ("{kind: typos, colour: red}", "unknown key 'colour'"),
    ("{kind: punctuation, lang: fr}", "lang must be zh or en"),
    ("typos", "must be a dict, got str"),
])
def test_bad_perturb_is_a_one_line_error_naming_file_and_field(rob_root, capsys, value, says):
    from evals.cli import main
    from evals.suites import load_catalog

    path = rob_root / "suites" / "rob" / "typos_en.yaml"
    path.write_text(re.sub(r"perturb: .*\n", f"perturb: {value}\n", path.read_text()))
    with pytest.raises(InputError) as exc:
        load_catalog()
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg and "field 'perturb'" in msg and says in msg
    from evals.suites import _load_catalog

    _load_catalog.cache_clear()
    assert main(["list", "tasks"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "field 'perturb'" in err


@pytest.mark.parametrize("edit,field,says", [
    (("baseline: clean_en", "baseline: clean_enn"), "baseline", "unknown task 'clean_enn'; did you mean 'clean_en'"),
    (("baseline: clean_en", "baseline: typos_en"), "baseline", "cannot be its own baseline"),
])
def test_bad_baseline_is_a_one_line_error(rob_root, edit, field, says):
    from evals.suites import load_catalog

    path = rob_root / "suites" / "rob" / "typos_en.yaml"
    path.write_text(path.read_text().replace(*edit))
    with pytest.raises(InputError) as exc:
        load_catalog()
    assert "\n" not in str(exc.value) and str(path) in str(exc.value) and f"field '{field}'" in str(exc.value)
    assert says in str(exc.value)


def test_circular_needs_a_multiple_choice_task(rob_root):
    from evals.suites import load_catalog

    path = rob_root / "suites" / "rob" / "lcr.yaml"
    path.write_text(path.read_text() + "circular: true\n")
    with pytest.raises(InputError, match=r"lcr.yaml:\d+: field 'circular': only multiple-choice tasks"):
        load_catalog()


@pytest.mark.parametrize("block,says", [
    ("{margin: 0}", "margin must be a number in (0.0, 1.0], got 0"),
    ("{min_items: 2.5}", "min_items must be an integer >= 1, got 2.5"),
    ("{margn: 0.01}", "unknown key 'margn'; did you mean 'margin'"),
])
def test_bad_equivalence_block_is_a_one_line_error(rob_root, block, says):
    from evals.suites import load_catalog

    path = rob_root / "suites" / "rob" / "suite.yaml"
    path.write_text(re.sub(r"equivalence: .*\n", f"equivalence: {block}\n", path.read_text()))
    with pytest.raises(InputError) as exc:
        load_catalog()
    assert "\n" not in str(exc.value) and "field 'equivalence'" in str(exc.value) and says in str(exc.value)
