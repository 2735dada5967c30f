"""The maths word-problem and reading-comprehension banks keep their promises: sizes, verified
answers, passages with 3-4 questions each, balanced answer positions, and prompts whose answer
marker the `number` scorer actually reads."""
from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict

import pytest

from evals.banks.neardup import check_files
from evals.items import Item
from evals.paths import seeds_dir
from evals.prompts import PromptBuilder
from evals.requests import Response
from evals.scoring.match import NumberMatch
from evals.suites import load_catalog

MATH = {"zh": 120, "en": 100}
READING = {"zh": 80, "en": 75}
MATH_CATEGORIES = {"ratio", "percent", "rate", "age", "money", "units", "equation", "counting", "geometry",
                   "average", "calendar"}
QUESTION_TYPES = {"detail", "inference", "main_idea", "vocabulary", "reference"}
SEPARATOR = {"zh": "\n\n问题：", "en": "\n\nQuestion: "}
# `meta.check` is plain arithmetic; ceil/floor cover "how many boxes are needed" answers.
CHECK_NAMES = {"__builtins__": {}, "ceil": math.ceil, "floor": math.floor}


@pytest.fixture(autouse=True)
def _real_tree(monkeypatch):
    monkeypatch.delenv("EVALS_DATA_ROOT", raising=False)


def _bank(name: str) -> list[dict]:
    path = seeds_dir() / "performance" / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_math_bank_size_ids_and_categories(lang):
    items = _bank(f"math_word_{lang}")
    assert len(items) >= MATH[lang]
    assert len({i["id"] for i in items}) == len(items)
    cats = Counter(i["meta"]["category"] for i in items)
    assert set(cats) == MATH_CATEGORIES
    assert min(cats.values()) >= 8, cats
    assert all(i["meta"]["lang"] == lang and i["meta"]["area"] == "performance" for i in items)
    assert all(i["meta"]["group"] == i["id"] for i in items)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_math_answer_is_verified_by_its_check_expression(lang):
    for item in _bank(f"math_word_{lang}"):
        target = item["target"]
        assert isinstance(target, str) and re.fullmatch(r"-?\d+(\.\d+)?", target), (item["id"], target)
        got = eval(item["meta"]["check"], dict(CHECK_NAMES))  # noqa: S307 - our own bank, no builtins
        assert math.isclose(got, float(target), rel_tol=1e-9, abs_tol=1e-9), (item["id"], got, target)
        assert len(item["meta"]["solution"]) >= 10, item["id"]


def test_a_wrong_check_expression_would_be_caught():
    assert not math.isclose(eval("(120-30)*0.8", dict(CHECK_NAMES)), 73.0, rel_tol=1e-9)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_reading_bank_size_choices_and_targets(lang):
    items = _bank(f"reading_{lang}")
    assert len(items) >= READING[lang]
    assert len({i["id"] for i in items}) == len(items)
    for i in items:
        assert len(i["choices"]) == 4 and len(set(i["choices"])) == 4 and all(c.strip() for c in i["choices"]), i["id"]
        assert isinstance(i["target"], int) and 0 <= i["target"] < 4, i["id"]
        assert i["meta"]["category"] in QUESTION_TYPES, i["id"]
    assert set(Counter(i["meta"]["category"] for i in items)) == QUESTION_TYPES
    shares = Counter(i["target"] for i in items)
    for pos in range(4):
        assert 0.15 <= shares[pos] / len(items) <= 0.35, shares


def test_reading_banks_together_have_at_least_155_questions():
    assert len(_bank("reading_zh")) + len(_bank("reading_en")) >= 155


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_each_passage_is_one_group_with_three_or_four_questions(lang):
    passages: dict[str, set[str]] = defaultdict(set)
    questions: dict[str, list[str]] = defaultdict(list)
    for i in _bank(f"reading_{lang}"):
        passage, question = i["input"].split(SEPARATOR[lang])
        passages[i["meta"]["group"]].add(passage)
        questions[i["meta"]["group"]].append(question)
    assert len(passages) >= 24
    for group, texts in passages.items():
        assert len(texts) == 1, f"{group}: questions of one group must share one passage"
        assert 3 <= len(questions[group]) <= 4, group
        assert len(set(questions[group])) == len(questions[group]), group
        (text,) = texts
        size = len(re.sub(r"\s", "", text)) if lang == "zh" else len(text.split())
        assert (150 <= size <= 400) if lang == "zh" else (120 <= size <= 300), (group, size)
    every = [p for texts in passages.values() for p in texts]
    assert len(set(every)) == len(every), "two groups share a passage"


def test_new_banks_have_no_near_duplicates():
    files = [seeds_dir() / "performance" / f"{n}.jsonl"
             for n in ("math_word_zh", "math_word_en", "reading_zh", "reading_en")]
    assert check_files(files) == []


@pytest.mark.parametrize("lang,marker", [("zh", "答案："), ("en", "Answer: ")])
def test_math_prompt_asks_for_the_marker_the_number_scorer_reads(lang, marker):
    task = load_catalog().task(f"math_word_{lang}")
    assert task.kind == "generate" and [sc.name for sc in task.scorers] == ["number"]
    assert task.generation["max_new_tokens"] >= 256 and task.generation["temperature"] == 0
    raw = _bank(f"math_word_{lang}")[14]
    item = Item(id=raw["id"], input=raw["input"], target=raw["target"], meta=raw["meta"])
    prompt = PromptBuilder(task, use_chat=False, fewshot=[]).user_text(item)
    assert raw["input"] in prompt and marker.strip() in prompt
    # every worked solution (full of intermediate numbers) followed by the final line the prompt
    # asks for is scored right, and the same text with a wrong final number is scored wrong
    scorer = NumberMatch()
    for raw in _bank(f"math_word_{lang}"):
        item = Item(id=raw["id"], input=raw["input"], target=raw["target"], meta=raw["meta"])
        good = Response(text=f"{raw['meta']['solution']}\n{marker}{raw['target']}")
        bad = Response(text=f"{raw['meta']['solution']}\n{marker}{float(raw['target']) + 1:g}")
        assert scorer.score(item, [], [good]).values["accuracy"] == 1.0, raw["id"]
        assert scorer.score(item, [], [bad]).values["accuracy"] == 0.0, raw["id"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_reading_task_renders_passage_and_question(lang):
    task = load_catalog().task(f"reading_{lang}")
    assert task.kind == "loglikelihood"
    raw = _bank(f"reading_{lang}")[0]
    item = Item(id=raw["id"], input=raw["input"], choices=raw["choices"], target=raw["target"], meta=raw["meta"])
    prompt = PromptBuilder(task, use_chat=False, fewshot=[]).user_text(item)
    passage, question = raw["input"].split(SEPARATOR[lang])
    assert passage in prompt and question in prompt
