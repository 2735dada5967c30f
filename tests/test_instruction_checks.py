"""IFEval-style instruction checkers: each one passes a response that follows it and fails one that
does not, in Chinese and English; the scorer's strict and loose metrics; the shipped bank is valid."""
from __future__ import annotations

import json

import pytest

from evals.errors import UsageError
from evals.items import Item, read_jsonl
from evals.paths import seeds_dir
from evals.requests import Request, Response
from evals.scoring import make_scorer
from evals.scoring.instruction_checks import CHECKS, count_chars, count_sentences, param_problem, run_check, zh_share
from evals.scoring.instructions import loose_variants, validate

BANKS = ("performance/instruction_following_zh.jsonl", "performance/instruction_following_en.jsonl")


@pytest.fixture(autouse=True)
def _real_tree(monkeypatch):
    """The bank tests read the shipped seeds and suites, whatever EVALS_DATA_ROOT says."""
    monkeypatch.delenv("EVALS_DATA_ROOT", raising=False)

# (id, params, passing response, failing response)
CASES = [
    ("length_words", {"relation": "at_most", "n": 5}, "Short and sweet, indeed.", "This answer has far more than five words."),
    ("length_words", {"relation": "exactly", "n": 4}, "It's a well-known fact.", "It is a well-known fact."),
    ("length_words", {"relation": "at_least", "n": 3}, "Prices rose 1,250 dollars.", "两个 words"),
    ("length_chars", {"relation": "at_most", "n": 10}, "春眠不觉晓，处处闻啼鸟。", "春眠不觉晓，处处闻啼鸟。夜来风雨声"),
    ("length_chars", {"relation": "at_least", "n": 8}, "我用Python写了3.14个程序。", "我用Python写了。"),
    ("length_chars", {"relation": "exactly", "n": 4}, "你好，世界！", "你好，世界们！"),
    ("length_sentences", {"relation": "exactly", "n": 3}, "Pi is 3.14. It never ends! Why? ", "Pi is 3.14 and it never ends."),
    ("length_sentences", {"relation": "exactly", "n": 2}, "西瓜拍起来声音清脆。瓜蒂发干的更熟！", "西瓜拍起来声音清脆，瓜蒂发干的更熟。"),
    ("length_sentences", {"relation": "at_most", "n": 2}, "“好的。”他说。", "第一句。第二句。第三句。"),
    ("length_sentences", {"relation": "exactly", "n": 2}, "1. Check the oil.\n2. Check the tyres.",
     "1. Check the oil. Wipe the dipstick.\n2. Check the tyres."),
    ("length_paragraphs", {"relation": "exactly", "n": 2}, "First part.\n\nSecond part.", "First part.\nStill first."),
    ("length_paragraphs", {"relation": "at_least", "n": 3}, "第一段。\n\n第二段。\n \n第三段。", "第一段。\n\n第二段。"),
    ("keywords_include", {"keywords": ["budget", "plan"]}, "Our budgets follow the Plan.", "We have a plan but no money."),
    ("keywords_include", {"keywords": ["art"]}, "Modern ART is fun.", "Let us start now."),
    ("keywords_include", {"keywords": ["光照", "Python"]}, "光照充足时用Python记录数据。", "光照充足时用Java记录数据。"),
    ("keywords_forbid", {"words": ["rain", "wet"]}, "The training went well in the drizzle.", "It was a wet day."),
    ("keywords_forbid", {"words": ["秋"]}, "傍晚的风有些凉了。", "秋天的傍晚有些凉了。"),
    ("keyword_frequency", {"keyword": "heat", "relation": "at_least", "n": 2}, "Heat moves; heat escapes.", "Heat moves outwards."),
    ("keyword_frequency", {"keyword": "谢谢", "relation": "exactly", "n": 1}, "谢谢你帮我浇花。", "谢谢你！真的谢谢。"),
    ("bullet_list", {"n": 3}, "Tips:\n- one\n* two\n+ three", "- one\n- two"),
    ("bullet_list", {"n": 2}, "- top\n  - nested\n  - nested\n- top", "- top\n  - nested"),
    ("bullet_list", {"n": 4, "style": "numbered"}, "1. 甲\n2、乙\n(3) 丙\n四、丁", "1. 甲\n2. 乙\n- 丙"),
    ("bullet_list", {"n": 2, "relation": "at_most"}, "- only one", "No list at all."),
    ("bullet_list", {"n": 2, "style": "any"}, "1. first\n- second", "***\n**bold** text"),
    ("numbered_list", {"n": 3}, "步骤：\n1. 关水阀\n2. 拆旧龙头\n3. 装新龙头", "1. 关水阀\n3. 拆旧龙头\n2. 装新龙头"),
    ("numbered_list", {"n": 3}, "一、头晕\n二、口渴\n三、乏力", "一、头晕\n二、口渴"),
    ("numbered_list", {"n": 2}, "１．全角\n２．数字", "1.5 million people\n2.7 million more"),
    ("numbered_list", {"n": 2}, "**1.** Bold one\n**2.** Bold two", "Step one, then step two."),
    ("sections", {"marker": "Day {n}", "n": 3}, "Day 1\nMuseum\n**Day 2**\nBeach\n## Day 3: home", "Day 1\nDay 2\nDays later"),
    ("sections", {"marker": "第{n}天", "n": 3}, "第一天\n第一站：钟楼\n第二天\n第三天", "第一天\n第二天"),
    ("sections", {"marker": "SECTION {n}", "n": 2}, "SECTION 1\nx\nSection 2\ny", "SECTION 1\nx"),
    ("sections", {"marker": "#", "n": 2}, "# A\ntext\n## B\ntext", "# A\ntext"),
    ("sections", {"marker": "【", "n": 2}, "【概念】\n...\n【过程】\n...", "【概念】\n...\n[过程]"),
    ("highlights", {"n": 2}, "Cycling *saves time* and **money**.", "* bullet one\n* bullet two"),
    ("highlights", {"n": 1}, "基金定投可以*摊薄成本*。", "基金定投可以摊薄成本。"),
    ("title", {}, "<<Tides>>\nThe sea comes in.", "Tides\nThe sea comes in."),
    ("title", {}, "＜＜新家＞＞\n窗外有树。", "<< >>\n窗外有树。"),
    ("placeholders", {"n": 3}, "Dear [client name], pay [amount] by [date].", "Dear [client name], pay now."),
    ("placeholders", {"n": 2}, "尊敬的【客户名称】：请于［日期］前付款。", "尊敬的客户：请尽快付款。"),
    ("quoted", {}, '"Stronger every day."', 'Stronger every day."'),
    ("quoted", {}, "“每天都比昨天更强。”", "每天都比昨天更强。"),
    ("separated_responses", {}, "Formal version.\n******\nCasual one.", "Formal version.\n*****\nCasual one."),
    ("separated_responses", {"n": 3}, "甲\n******\n乙\n ****** \n丙", "甲\n******\n乙"),
    ("json_format", {}, '{"name": "Maria", "party": 4}', "Sure! {\"name\": \"Maria\"}"),
    ("json_format", {}, '```json\n["towel", "sunscreen"]\n```', '```json\n["towel", "sunscreen",]\n```'),
    ("json_keys", {"keys": ["name", "email"]}, '```\n{"name": "Tom", "email": "t@x.org", "role": "pm"}\n```', '{"name": "Tom"}'),
    ("json_keys", {"keys": ["肯尼亚"]}, '{"肯尼亚": "内罗毕"}', '["肯尼亚", "内罗毕"]'),
    ("language", {"lang": "zh"}, "我们用Python和API做了一个小程序，很好用。", "We built a small app with 北京 data."),
    ("language", {"lang": "en"}, "We built a small app with 北京 data, and it works well.", "这个应用很好用。"),
    ("language", {"lang": "zh", "min_share": 0.99}, "全部都是中文。", "几乎全是中文OK"),
    ("lowercase", {}, "fresh lemonade, just 50 cents!", "Fresh lemonade, just 50 cents!"),
    ("lowercase", {}, "all lower, ｆｕｌｌ width too", "ＦＵＬＬ width"),
    ("uppercase", {}, "DANGER: HARD HATS REQUIRED 24/7", "DANGER: Hard hats required"),
    ("capital_words", {"relation": "at_least", "n": 2}, "NEW model, FREE shipping", "New model, free shipping, NOW"),
    ("capital_words", {"relation": "at_most", "n": 1}, "We are sorry; service is back.", "We are SORRY; service is BACK."),
    ("no_commas", {}, "我的家乡在江南。那里有小桥、流水和人家。", "我的家乡在江南，那里有小桥流水。"),
    ("no_commas", {}, "My hometown is small and quiet.", "My hometown is small, and quiet."),
    ("no_digits", {}, "The butterfly lives about two weeks; 屠呦呦生于一九三〇年。", "屠呦呦生于１９３０年。"),
    ("start_with", {"phrase": "Good evening, everyone"}, '"good evening,  everyone! Welcome."', "Hello and good evening, everyone"),
    ("start_with", {"phrase": "尊敬的街道办领导："}, "尊敬的街道办领导:\n小区路面坑洼……", "街道办领导：\n小区路面坑洼……"),
    ("end_with", {"phrase": "此致 敬礼"}, "……特此申请。\n此致\n敬礼", "……特此申请。\n此致\n敬礼\n张三"),
    ("end_with", {"phrase": "Have a great weekend."}, "The office is closed Friday.\nHave a great weekend.  ", "Have a great weekend. See you!"),
    ("postscript", {}, "See you soon.\n\nP.S. Bring the map.", "See you soon. PS bring the map."),
    ("postscript", {}, "Bye!\n**P. S.** The cat says hi.", "Bye!\nP.S."),
    ("postscript", {"marker": "附注"}, "祝好！\n附注：楼下面馆很好吃。", "祝好！\n附注："),
]


@pytest.mark.parametrize("iid,params,good,bad", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_checker_passes_good_and_fails_bad(iid, params, good, bad):
    ins = {"id": iid, "params": params}
    assert param_problem(ins) is None
    assert run_check(ins, good) is True
    assert run_check(ins, bad) is False


def test_every_checker_is_covered_by_a_case():
    assert {c[0] for c in CASES} == set(CHECKS)


@pytest.mark.parametrize("iid", sorted(CHECKS))
def test_empty_response_follows_no_positive_instruction(iid):
    """Only 'absence' instructions (no commas, forbidden words, at most N) may hold for an empty answer."""
    chk = CHECKS[iid]
    params = {"relation": "at_least", "n": 1, "keywords": ["x"], "words": ["x"], "keyword": "x", "marker": "#",
              "lang": "en", "keys": ["a"], "phrase": "x"}
    ins = {"id": iid, "params": {k: v for k, v in params.items() if k in chk.params}}
    absent_ok = {"keywords_forbid", "no_commas", "no_digits"}
    assert run_check(ins, "") is (iid in absent_ok)


def test_counting_rules():
    assert count_chars("我用Python写了3.14个程序。") == 9      # 7 Han + Python + 3.14
    assert count_chars("ＡＢＣ２０２４") == 1                 # full-width letters and digits, one run
    assert count_sentences("Dr. Who said hi. OK") == 3         # "Dr." splits: documented, like IFEval
    assert count_sentences("好。\n\n- 列表项\n- 另一项") == 3    # line breaks end a sentence
    assert zh_share("") is None and zh_share("中文 English") == pytest.approx(2 / 3)


@pytest.mark.parametrize("ins,problem", [
    ({"id": "no_such_check", "params": {}}, "unknown instruction id"),
    ({"id": "length_words", "params": {"n": 5}}, "'relation' is required"),
    ({"id": "length_words", "params": {"relation": "around", "n": 5}}, "must be one of at_least"),
    ({"id": "length_words", "params": {"relation": "at_most", "n": -1}}, "whole number"),
    ({"id": "length_words", "params": {"relation": "at_most", "n": True}}, "whole number"),
    ({"id": "keywords_include", "params": {"keywords": []}}, "non-empty list"),
    ({"id": "title", "params": {"open": "《"}}, "unknown param 'open'"),
    ({"id": "language", "params": {"lang": "fr"}}, "must be one of zh, en"),
    ({"id": "bullet_list", "params": {"n": 3, "style": "roman"}}, "must be one of markdown, numbered, any"),
    ("length_words", "must be an object"),
])
def test_bad_instructions_are_named(ins, problem):
    assert problem in param_problem(ins)


def _score(instructions, text):
    item = Item(id="if-x", input="q", meta={"instructions": instructions})
    scorer = make_scorer("instruction_following", {}, "test")
    return scorer.score(item, [Request(kind="generate", prompt="q")], [Response(text=text)])


def test_scorer_strict_and_loose_metrics():
    ins = [{"id": "json_format", "params": {}}, {"id": "no_commas", "params": {}},
           {"id": "keywords_include", "params": {"keywords": ["towel"]}}]
    ok = _score(ins, '["towel", "hat"]')
    assert ok.values == {"prompt_strict": 0.0, "instruction_strict": 2 / 3, "prompt_loose": 0.0, "instruction_loose": 2 / 3}
    assert "failed: no_commas" in ok.why

    chatty = _score(ins[:1] + ins[2:], 'Sure, here is the list:\n["towel" ]')
    assert chatty.values["prompt_strict"] == 0.0 and chatty.values["prompt_loose"] == 1.0
    assert chatty.values["instruction_strict"] == 0.5 and chatty.values["instruction_loose"] == 1.0
    assert "json_format" in chatty.why and "loose pass: json_format" in chatty.why

    bold = _score([{"id": "start_with", "params": {"phrase": "Breathe"}}], "**Breathe.** You trained for this.")
    assert (bold.values["prompt_strict"], bold.values["prompt_loose"]) == (0.0, 1.0)

    perfect = _score(ins[1:], "Pack a towel and sunscreen.")
    assert perfect.values["prompt_strict"] == perfect.values["prompt_loose"] == 1.0
    assert perfect.why == "all 2 instructions followed" and perfect.parsed == {"0:no_commas": True, "1:keywords_include": True}


def test_no_response_scores_zero():
    s = make_scorer("instruction_following", {}, "t").score(
        Item(id="e", input="q", meta={"instructions": [{"id": "title", "params": {}}]}), [], [])
    assert s.values["prompt_strict"] == s.values["prompt_loose"] == 0.0


def test_loose_variants_drop_first_last_lines_and_asterisks():
    v = loose_variants("Sure!\n**Body**\nHope this helps.")
    assert "**Body**\nHope this helps." in v and "Sure!\n**Body**" in v and "**Body**" in v and "Body" in v
    assert "" not in v


def test_validate_names_the_item_and_problem():
    good = Item(id="a", input="q", meta={"instructions": [{"id": "title", "params": {}}]})
    validate([good], "bank.jsonl")
    for meta, msg in [({"instructions": [{"id": "titel", "params": {}}]}, "unknown instruction id 'titel'"),
                      ({}, "meta.instructions must be a non-empty list"),
                      ({"instructions": [{"id": "length_chars", "params": {"n": 5}}]}, "'relation' is required")]:
        with pytest.raises(UsageError) as err:
            validate([good, Item(id="bad-7", input="q", meta=meta)], "bank.jsonl")
        assert str(err.value).startswith("bank.jsonl: item 'bad-7'") and msg in str(err.value)
        assert "\n" not in str(err.value)


def test_scorer_rejects_unknown_instruction_at_score_time():
    with pytest.raises(UsageError, match="unknown instruction id"):
        _score([{"id": "shout", "params": {}}], "HI")


def _bank() -> list[dict]:
    return [r for bank in BANKS for r in read_jsonl(seeds_dir() / bank)]


def test_shipped_bank_is_valid_and_balanced():
    rows = _bank()
    items = [Item(id=r["id"], input=r["input"], meta=r["meta"]) for r in rows]
    validate(items, "performance/instruction_following_*.jsonl")
    by_lang = {lang: [r for r in rows if r["meta"]["lang"] == lang] for lang in ("zh", "en")}
    assert len(by_lang["zh"]) >= 110 and len(by_lang["en"]) >= 110
    for r in rows:
        ins = r["meta"]["instructions"]
        assert 1 <= len(ins) <= 3
        assert r["meta"]["category"] == CHECKS[ins[0]["id"]].family and r["meta"]["group"] == r["id"]
        assert r["id"].startswith(f"if-{r['meta']['lang']}-")
    for lang, sub in by_lang.items():
        families = {CHECKS[i["id"]].family for r in sub for i in r["meta"]["instructions"]}
        assert len(families) >= 8, lang
    used = {i["id"] for r in rows for i in r["meta"]["instructions"]}
    assert used == set(CHECKS)


def test_bank_constraints_are_consistent_with_prompts():
    """Quoted phrases and keywords an instruction checks must be written in the prompt itself."""
    for r in _bank():
        for ins in r["meta"]["instructions"]:
            p = ins["params"]
            for word in p.get("keywords", []) + p.get("words", []) + p.get("keys", []) + [p.get("phrase", "")]:
                assert word.lower()[:4] in r["input"].lower(), (r["id"], word)
            if ins["id"] == "language":
                wanted = {"zh": ("Chinese", "中文"), "en": ("English", "英文")}[p["lang"]]
                assert any(w in r["input"] for w in wanted), r["id"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_each_task_reads_only_its_language(lang):
    from evals.suites import load_catalog

    cat = load_catalog()
    spec = cat.tasks[f"instruction_following_{lang}"]
    from evals.items import load_items

    items = load_items(spec.items, str(spec.path))
    assert items and {it.meta["lang"] for it in items} == {lang}
    assert spec.items["path"] == f"performance/instruction_following_{lang}.jsonl"
