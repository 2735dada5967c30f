"""The subject-knowledge banks keep the promises their README makes.

Issue 9 asks for at least 500 Chinese and 300 English items across sciences, humanities, social
sciences, law, medicine and engineering. Each subject must have enough items for its score to
mean something. An answer position the model could learn would make the scores worthless. A
`pair` that points nowhere would break the cross-language comparison.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

BANKS = Path(__file__).resolve().parents[1] / "seeds" / "performance"
DOMAINS = {"sciences", "humanities", "social_sciences", "law", "medicine", "engineering"}
MIN_ITEMS = {"zh": 500, "en": 300}
MIN_PER_CATEGORY = {"zh": 20, "en": 12}
NEW_SUBJECTS = {"engineering", "philosophy", "political_science", "psychology", "art_music",
                "agriculture", "environmental_science", "statistics"}


def _load(lang: str) -> list[dict]:
    path = BANKS / f"knowledge_mc_{lang}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def banks() -> dict[str, list[dict]]:
    return {lang: _load(lang) for lang in ("zh", "en")}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_size_ids_and_subject_coverage(banks, lang):
    items = banks[lang]
    assert len(items) >= MIN_ITEMS[lang]
    ids = [it["id"] for it in items]
    assert ids == [f"kmc-{lang}-{n:04d}" for n in range(1, len(items) + 1)]  # unique, continuous
    per_category = Counter(it["meta"]["category"] for it in items)
    assert NEW_SUBJECTS <= set(per_category)
    thin = {c: n for c, n in per_category.items() if n < MIN_PER_CATEGORY[lang]}
    assert not thin, f"categories below {MIN_PER_CATEGORY[lang]} items: {thin}"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_item_has_a_valid_domain_fixed_by_its_category(banks, lang):
    domain_of: dict[str, set[str]] = {}
    for it in banks[lang]:
        meta = it["meta"]
        assert meta.get("domain") in DOMAINS, it["id"]
        assert meta["area"] == "performance" and meta["lang"] == lang and meta["group"] == it["id"]
        domain_of.setdefault(meta["category"], set()).add(meta["domain"])
    assert {c: d for c, d in domain_of.items() if len(d) > 1} == {}
    assert set().union(*domain_of.values()) == DOMAINS  # all six fields are represented


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_four_distinct_options_and_balanced_answer_positions(banks, lang):
    items = banks[lang]
    for it in items:
        choices = it["choices"]
        assert len(choices) == 4 and all(isinstance(c, str) and c.strip() for c in choices), it["id"]
        assert len(set(choices)) == 4, f"{it['id']}: repeated option"
        assert isinstance(it["target"], int) and 0 <= it["target"] < 4, it["id"]
    positions = Counter(it["target"] for it in items)
    shares = {k: positions[k] / len(items) for k in range(4)}
    assert all(0.15 <= s <= 0.35 for s in shares.values()), shares


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_questions_are_not_repeated(banks, lang):
    counts = Counter(it["input"].strip() for it in banks[lang])
    assert [q for q, n in counts.items() if n > 1] == []


def test_pairs_point_to_existing_items_both_ways(banks):
    by_id = {it["id"]: it for lang in ("zh", "en") for it in banks[lang]}
    pairs = 0
    for lang, other in (("zh", "en"), ("en", "zh")):
        for it in banks[lang]:
            target = it["meta"].get("pair")
            if target is None:
                continue
            pairs += 1
            assert target.startswith(f"kmc-{other}-") and target in by_id, f"{it['id']} -> {target}"
            back = by_id[target]
            assert back["meta"].get("pair") == it["id"], f"{target} does not point back to {it['id']}"
            assert back["meta"]["category"] == it["meta"]["category"], (it["id"], target)
    assert pairs >= 2 * 100  # the README promises 153 pairs; a wholesale loss must show


def test_tasks_break_scores_down_by_domain(monkeypatch):
    monkeypatch.delenv("EVALS_DATA_ROOT", raising=False)
    from evals.suites import load_catalog

    tasks = load_catalog().tasks
    for name in ("knowledge_mc_zh", "knowledge_mc_en"):
        assert {"category", "domain"} <= set(tasks[name].breakdowns), name
