"""C-Eval, CMMLU, MMLU and GSM8K run end to end from local copies in their public schemas.

The copies under tests/data/public are ours (a few questions per subject, two subjects each), laid
out as docs/public-benchmarks.md says. A fake model that knows the answer key, and misses the
questions we tell it to, makes every expected score exact.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterator

import pytest

import evals
from conftest import REPO, run_cli
from evals.adapters.base import Adapter
from evals.datasets_source import load_dataset_items
from evals.errors import InputError, UsageError
from evals.requests import Request, Response

DATA = REPO / "tests" / "data" / "public"
LETTERS = "ABCD"


@pytest.fixture(autouse=True)
def _real_tree(monkeypatch):
    """The shipped suites, whatever another fixture pointed EVALS_DATA_ROOT at."""
    from evals.suites import _load_catalog

    monkeypatch.delenv("EVALS_DATA_ROOT", raising=False)
    _load_catalog.cache_clear()
    yield
    _load_catalog.cache_clear()


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _jsonl_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# Each benchmark: the scored questions (read straight from the files, not through the loader) as
# (subject, question, gold), the demonstrations per subject, and the categories the YAML assigns.
def _ceval():
    base = DATA / "ceval" / "ceval" / "ceval-exam"
    subjects = ["computer_network", "high_school_geography"]
    key = [(s, r["question"], r["answer"]) for s in subjects for r in _csv_rows(base / s / "val.csv")]
    shots = {s: [r["question"] for r in _csv_rows(base / s / "dev.csv")] for s in subjects}
    return key, shots, {"computer_network": "STEM", "high_school_geography": "Social Science"}


def _cmmlu():
    base = DATA / "cmmlu" / "haonan-li" / "cmmlu"
    subjects = ["chinese_food_culture", "high_school_physics"]
    key = [(s, r["Question"], r["Answer"]) for s in subjects for r in _csv_rows(base / "test" / f"{s}.csv")]
    shots = {s: [r["Question"] for r in _csv_rows(base / "dev" / f"{s}.csv")] for s in subjects}
    return key, shots, {"chinese_food_culture": "Social Science", "high_school_physics": "STEM"}


def _mmlu():
    base = DATA / "mmlu" / "cais" / "mmlu"
    subjects = ["astronomy", "world_religions"]
    key = [(s, r["question"], LETTERS[r["answer"]]) for s in subjects for r in _jsonl_rows(base / s / "test.jsonl")]
    shots = {s: [r["question"] for r in _jsonl_rows(base / s / "dev.jsonl")] for s in subjects}
    return key, shots, {"astronomy": "STEM", "world_religions": "Humanities"}


def _gsm8k():
    base = DATA / "gsm8k" / "openai" / "gsm8k" / "main"
    key = [(None, r["question"], r["answer"].rsplit("####", 1)[1].strip().replace(",", ""))
           for r in _jsonl_rows(base / "test.jsonl")]
    return key, {None: [r["question"] for r in _jsonl_rows(base / "train.jsonl")]}, {}


BENCHMARKS = {"ceval": _ceval, "cmmlu": _cmmlu, "mmlu": _mmlu, "gsm8k": _gsm8k}


class KeyAdapter(Adapter):
    """Answers from the key; wrong on purpose for the questions in `miss`.

    It finds the scored question in each prompt and insists there is exactly one, so a test
    question shown as a demonstration (or a prompt without its question) fails loudly.
    """

    name = "fake"
    fingerprint = "fake:answer-key"

    def __init__(self, key: list[tuple[str | None, str, str]], miss: set[str]) -> None:
        self.gold = {q: g for _, q, g in key}
        self.miss = miss
        self.prompts: list[str] = []

    def _question(self, prompt: str) -> str:
        found = [q for q in self.gold if q in prompt]
        assert len(found) == 1, f"expected one scored question in the prompt, found {found}"
        return found[0]

    def run(self, requests: list[Request]) -> Iterator[list[tuple[int, Response]]]:
        out = []
        for i, r in enumerate(requests):
            self.prompts.append(r.prompt or "")
            q = self._question(r.prompt or "")
            gold = self.gold[q]
            if r.kind == "loglikelihood":
                want = LETTERS[(LETTERS.index(gold) + 1) % 4] if q in self.miss else gold
                out.append((i, Response(prompt_sent=r.prompt, logprob=-0.5 if r.continuation.strip() == want else -3.0,
                                             is_greedy=False)))
            else:
                said = str(int(gold) + 1) if q in self.miss else gold
                text = f" First 3 + 4 = 7, then 7 * 2 = 14, and the rest follows.\n#### {said}"
                out.append((i, Response(text=text, prompt_sent=r.prompt, tokens_out=20)))
        yield out

    def settings(self) -> dict:
        return {"device": "cpu", "dtype": "float32"}


def _run(bench: str, adapter: Adapter, out: Path, **kw):
    return evals.evaluate("hf:fake-answer-key", "performance-public", adapter=adapter, tasks=[bench],
                          data_dir=str(DATA / bench), output_dir=str(out), progress=False, use_cache=False, **kw)


def _records(report) -> list[dict]:
    path = Path(report["run"]["dir"]) / "records.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("bench", sorted(BENCHMARKS))
def test_benchmark_runs_from_its_local_copy_with_exact_scores(bench, tmp_path, capfd):
    key, _, categories = BENCHMARKS[bench]()
    miss = {key[0][1], key[-1][1]}  # one question of each subject answered wrongly
    report = _run(bench, KeyAdapter(key, miss), tmp_path)
    task = report["scores"]["tasks"][bench]
    assert task["n"] == len(key) == (4 if bench == "gsm8k" else 8)
    assert task["value"] == pytest.approx((len(key) - 2) / len(key))
    records = _records(report)
    gold = {q: (s, g) for s, q, g in key}
    for rec in records:
        q = next(q for q in gold if q in rec["prompt"])
        subject, g = gold[q]
        if bench == "gsm8k":
            assert rec["target"] == g and rec["scores"]["accuracy"] == float(q not in miss)
        else:
            assert rec["target"] == LETTERS.index(g) and len(rec["choices"]) == 4
            assert [c.strip() for c in rec["continuations"]] == list(LETTERS)
            assert rec["meta"]["subject"] == subject and rec["meta"]["category"] == categories[subject]
            assert rec["item_id"].startswith(f"{subject}/")
    if bench != "gsm8k":
        assert set(task["by"]["subject"]) == set(categories)
        assert set(task["by"]["category"]) == set(categories.values())
        # A partial copy is scored, and the run says which subjects it lacked.
        assert "holds 2 of the" in capfd.readouterr().err


def test_choices_are_the_option_texts_as_written(tmp_path):
    key, _, _ = _ceval()
    records = _records(_run("ceval", KeyAdapter(key, set()), tmp_path))
    ipv4 = next(r for r in records if "IPv4地址的长度" in r["prompt"])
    assert ipv4["choices"] == ["16", "32", "64", "128"] and ipv4["target"] == 1
    physics = _records(_run("cmmlu", KeyAdapter(_cmmlu()[0], set()), tmp_path / "c"))
    speed = next(r for r in physics if "匀速行驶20 s" in r["prompt"])
    assert speed["choices"] == ["2 m", "20 m", "200 m", "0.5 m"] and speed["target"] == 2


@pytest.mark.parametrize("bench", sorted(BENCHMARKS))
def test_fewshot_comes_from_dev_per_subject_and_is_fixed(bench, tmp_path):
    key, shots, _ = BENCHMARKS[bench]()
    first = _records(_run(bench, KeyAdapter(key, set()), tmp_path / "a"))
    again = _records(_run(bench, KeyAdapter(key, set()), tmp_path / "b"))
    assert {r["item_id"]: r["prompt"] for r in first} == {r["item_id"]: r["prompt"] for r in again}
    for rec in first:
        subject = rec["meta"].get("subject")
        own = shots[subject]
        shown = [q for q in own if q in rec["prompt"]]
        others = [q for s, qs in shots.items() if s != subject for q in qs if q in rec["prompt"]]
        assert len(shown) == min(5, len(own)) and not others
        question = next(q for _, q, _ in key if q in rec["prompt"])
        assert all(rec["prompt"].index(q) < rec["prompt"].index(question) for q in shown)
    # Every item of a subject sees the same demonstrations in the same order.
    for subject in shots:
        prefixes = {r["prompt"][: max(r["prompt"].rindex(q) for q in shots[subject] if q in r["prompt"])]
                    for r in first if r["meta"].get("subject") == subject}
        assert len(prefixes) == 1


def test_gsm8k_target_is_the_number_after_hashes(tmp_path):
    items = _items("gsm8k")
    assert [it.target for it in items] == ["21", "2160", "16", "900"]  # '#### 2,160' loses its comma
    assert all(it.choices is None and it.input.rstrip().endswith("Answer:") for it in items)


def _items(bench: str, **override):
    from evals.suites import load_catalog

    spec = load_catalog().tasks[bench]
    return load_dataset_items(spec.items | override, str(spec.path), DATA / bench)


def test_fewshot_seed_fixes_the_demonstrations():
    def shots(seed):
        items = _items("gsm8k", fewshot={"split": "train", "n": 3, "seed": seed})
        train = _gsm8k()[1][None]
        prompt = items[0].input
        return sorted((prompt.index(q), q) for q in train if q in prompt)

    assert shots(1) == shots(1)
    assert len(shots(1)) == 3
    assert [q for _, q in shots(1)] != [q for _, q in shots(2)]
    first = _items("gsm8k", fewshot={"split": "train", "n": 2})  # no seed: the first n rows in order
    train = _gsm8k()[1][None]
    assert train[0] in first[0].input and train[1] in first[0].input and train[2] not in first[0].input


def test_fewshot_from_the_scored_split_leaves_those_rows_out():
    items = _items("gsm8k", fewshot={"split": "test", "n": 1, "seed": 3})
    assert len(items) == 3
    shown = [q for _, q, _ in _gsm8k()[0] if q in items[0].input]
    assert len(shown) == 2  # the demonstration, then the item's own question


def test_public_tasks_are_not_in_the_default_performance_suite():
    from evals.suites import load_catalog

    cat = load_catalog()
    default = {t.name for t, _ in cat.suite_tasks(cat.suite("performance"))}
    public = {t.name for t, _ in cat.suite_tasks(cat.suite("performance-public"))}
    assert set(BENCHMARKS) <= public and not default & set(BENCHMARKS)


def test_offline_without_a_local_copy_is_one_line(tmp_path):
    proc = run_cli("--model", "hf:nothing-here", "--suite", "performance-public", "--tasks", "mmlu,gsm8k",
                   "--data-dir", str(tmp_path), "--output-dir", str(tmp_path / "out"),
                   env={"HF_HUB_OFFLINE": "1"}, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "'cais/mmlu' is not on disk and the hub is offline" in lines[0]
    assert str(tmp_path / "cais" / "mmlu") in lines[0]


def test_unreachable_hub_fails_fast_with_the_same_advice(monkeypatch):
    import evals.datasets_source as ds

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(ds, "_hub_unreachable", lambda: True)
    with pytest.raises(UsageError, match="hub is unreachable .*--data-dir"):
        load_dataset_items({"dataset": "openai/gsm8k", "name": "main", "split": "test"}, "gsm8k.yaml")


def test_layouts_of_hub_snapshots_and_release_zips(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    # A hub snapshot: <config>/<split>-NNNNN-of-NNNNN.parquet, two shards.
    snap = tmp_path / "org" / "bench"
    (snap / "algebra").mkdir(parents=True)
    for n, rows in enumerate([[("What is 2 + 2?", 1)], [("What is 3 * 3?", 2)]]):
        pq.write_table(pa.table({"question": [q for q, _ in rows], "choices": [["3", "4", "9"]] * len(rows),
                                 "answer": [a for _, a in rows]}), snap / "algebra" / f"test-0000{n}-of-00002.parquet")
    items = load_dataset_items({"dataset": "org/bench", "name": ["algebra"], "split": "test",
                                "fields": {"input": "question", "choices": "choices", "target": "answer"}},
                               "t.yaml", tmp_path)
    assert [(it.id, it.target, it.meta["subject"]) for it in items] == [("algebra/0", 1, "algebra"),
                                                                        ("algebra/1", 2, "algebra")]
    # The hub's refs/convert/parquet branch: <config>/<split>/NNNN.parquet.
    conv = tmp_path / "org" / "converted" / "main" / "test"
    conv.mkdir(parents=True)
    pq.write_table(pa.table({"question": ["Half of 10?"], "answer": ["It is 10 / 2 = 5.\n#### 5"]}),
                   conv / "0000.parquet")
    items = load_dataset_items({"dataset": "org/converted", "name": "main", "split": "test",
                                "fields": {"input": "question", "target": "{{ answer.split('####')[-1].strip() }}"}},
                               "t.yaml", tmp_path)
    assert [(it.id, it.input, it.target) for it in items] == [("0", "Half of 10?", "5")]
    # C-Eval's release zip: <split>/<subject>_<split>.csv; every cell stays text as written.
    zipped = tmp_path / "ceval-zip"
    (zipped / "val").mkdir(parents=True)
    (zipped / "val" / "logic_val.csv").write_text(
        "id,question,A,B,C,D,answer\n0,选出与1.50相等的数,1.50,NA,1.5000,,A\n", encoding="utf-8")
    items = load_dataset_items({"dataset": str(zipped), "name": {"logic": "Humanities"}, "split": "val",
                                "fields": {"input": "question", "choices": ["A", "B", "C", "D"],
                                           "target": "{{ 'ABCD'.index(answer) }}"}}, "t.yaml")
    assert items[0].choices == ["1.50", "NA", "1.5000", ""] and items[0].target == 0
    assert items[0].meta == {"subject": "logic", "category": "Humanities"}


def test_missing_fewshot_split_names_what_to_copy(tmp_path):
    folder = tmp_path / "org" / "bench" / "algebra"
    folder.mkdir(parents=True)
    (folder / "test.jsonl").write_text('{"question": "What is 2 + 2?", "answer": "4"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="not its 'dev' split"):
        load_dataset_items({"dataset": "org/bench", "name": ["algebra"], "split": "test",
                            "fewshot": {"split": "dev", "n": 5, "seed": 1}, "fields": {"input": "question"}},
                           "t.yaml", tmp_path)
    with pytest.raises(InputError, match="unknown key 'shots'"):
        load_dataset_items({"dataset": "org/bench", "shots": 5}, "t.yaml", tmp_path)


def test_ceval_on_a_real_model_scores_letters(tiny_model, tmp_path):
    report = evals.evaluate(f"hf:{tiny_model}", "performance-public", tasks=["ceval"], data_dir=str(DATA / "ceval"),
                            output_dir=str(tmp_path), progress=False)
    assert report["scores"]["tasks"]["ceval"]["n"] == 8
    rec = next(r for r in _records(report) if r["meta"]["subject"] == "high_school_geography")
    assert rec["prompt"].startswith("以下是中国关于高中地理考试的单项选择题，请选出其中的正确答案。\n\n")
    assert rec["prompt"].endswith("答案：") and rec["continuations"] == list(LETTERS)
    assert len(rec["logprobs"]) == 4 and all(lp < 0 for lp in rec["logprobs"])
