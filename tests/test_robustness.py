"""Input perturbations, circular evaluation and needle prompts (evals.adaptation.robustness)."""
from __future__ import annotations

import re

import pytest

from evals.adaptation.robustness import (NEEDLES, ZH_CONFUSIONS, circular_correct, drop_rate, needle_answer_found,
                                         needle_prompt, punctuation_noise, rotations, typos)

EN = ("Please answer carefully: the committee approved 3.14 million dollars on 2024-05-17, and "
      "{{ subject }} received {name} exactly 1,000 tickets. Which statement describes the outcome? "
      "Explain your reasoning in three sentences, then write the final answer at https://example.com/form.")
ZH = ("请仔细阅读下面的材料，然后回答问题。我们在2024年已经做好了准备，他的计划是明天再出发，"
      "预算为3.5万元，共三百二十人参加。请把{{ answer }}写在这里：GPT模型的表现如何？")


def _digits(s: str) -> str:
    return "".join(re.findall(r"\d", s))


def _latin(s: str) -> str:
    return "".join(re.findall(r"[A-Za-z]", s))


# --- typos ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,lang", [(EN, "en"), (ZH, "zh")])
def test_typos_deterministic_per_key_and_different_across_keys(text, lang):
    a = typos(text, lang, rate=0.3, key="item-1")
    assert a == typos(text, lang, rate=0.3, key="item-1") and a != text
    assert a != typos(text, lang, rate=0.3, key="item-2")
    assert a != typos(text, lang, rate=0.3, key="item-1", seed=1)


@pytest.mark.parametrize("text,lang", [(EN, "en"), (ZH, "zh")])
def test_typos_rate_zero_is_identity(text, lang):
    assert typos(text, lang, rate=0.0, key="x") == text


def test_typos_leave_digits_templates_and_urls_alone():
    for key in map(str, range(20)):
        out = typos(EN, "en", rate=1.0, key=key)
        assert _digits(out) == _digits(EN)
        assert "{{ subject }}" in out and "{name}" in out and "https://example.com/form." in out


def test_english_typos_hit_only_long_words_and_keep_the_first_letter():
    assert typos("a cat and dog ran far", "en", rate=1.0, key="k") == "a cat and dog ran far"
    words = "Please answer carefully committee approved".split()
    out = typos(" ".join(words), "en", rate=1.0, key="k").split()
    assert len(out) == len(words)
    assert all(o != w and o[0] == w[0] for o, w in zip(out, words))


def test_chinese_typos_keep_digits_numerals_and_latin_letters():
    for key in map(str, range(20)):
        out = typos(ZH, "zh", rate=1.0, key=key)
        assert _digits(out) == _digits(ZH) and _latin(out) == _latin(ZH)
        assert "三百二十" in out and "{{ answer }}" in out


def test_chinese_confusion_table():
    pairs = {frozenset((a, b)) for a, alike in ZH_CONFUSIONS.items() for b in alike}
    assert len(pairs) >= 60
    assert all(a in ZH_CONFUSIONS[b] for a, alike in ZH_CONFUSIONS.items() for b in alike)  # symmetric
    assert "地" in ZH_CONFUSIONS["的"] and "再" in ZH_CONFUSIONS["在"] and "己" in ZH_CONFUSIONS["已"]


def test_bad_arguments():
    with pytest.raises(ValueError):
        typos(EN, "fr")
    with pytest.raises(ValueError):
        typos(EN, "en", rate=1.5)


# --- punctuation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text,lang", [(EN, "en"), (ZH, "zh")])
def test_punctuation_noise_keeps_letters_and_digits(text, lang):
    for key in map(str, range(20)):
        out = punctuation_noise(text, lang, key=key, rate=1.0)
        assert out != text
        alnum = lambda s: "".join(ch for ch in s if ch.isalnum())  # noqa: E731
        assert alnum(out) == alnum(text)
        assert "{{ subject }}" in out or "{{ answer }}" in out
    assert "3.14" in punctuation_noise(EN, "en", key="k", rate=1.0)
    assert "1,000" in punctuation_noise(EN, "en", key="k", rate=1.0)


@pytest.mark.parametrize("text,lang", [(EN, "en"), (ZH, "zh")])
def test_punctuation_noise_deterministic(text, lang):
    a = punctuation_noise(text, lang, key="item-1")
    assert a == punctuation_noise(text, lang, key="item-1")
    assert a != punctuation_noise(text, lang, key="item-2")
    assert punctuation_noise(text, lang, key="item-1", rate=0.0) == text


def test_punctuation_noise_swaps_width():
    outs = {punctuation_noise("好，走。", "zh", key=str(k), rate=1.0) for k in range(40)}
    assert any("," in o or "." in o for o in outs)
    assert any("\n" in o for o in outs) and any("  " in o or o.endswith(" ") for o in outs)


# --- circular evaluation and drop rate -----------------------------------------------------------

def test_rotations_move_the_target():
    choices = ["red", "green", "blue", "black"]
    rots = rotations(choices, target=2)
    assert len(rots) == 4 and rots[0] == (choices, 2)
    for opts, t in rots:
        assert opts[t] == "blue" and sorted(opts) == sorted(choices)
    for pos in range(4):  # every option sits in every position exactly once
        assert sorted(opts[pos] for opts, _ in rots) == sorted(choices)
    assert rotations([], 0) == []
    with pytest.raises(IndexError):
        rotations(choices, 4)


def test_circular_correct():
    assert circular_correct([True, True, True, True])
    assert not circular_correct([True, True, False, True])  # one wrong rotation fails the item
    assert not circular_correct([])


def test_drop_rate():
    assert drop_rate(0.0, 0.0) is None and drop_rate(0, 0.3) is None
    assert drop_rate(0.8, 0.6) == pytest.approx(0.25)
    assert drop_rate(0.5, 0.6) == pytest.approx(-0.2)  # perturbation helped
    assert drop_rate(0.5, 0.5) == 0.0


# --- needle in a haystack ------------------------------------------------------------------------

HAY_EN = ("The river bends twice before the mill. Farmers bring grain in the autumn! "
          "Nobody remembers who built the bridge. Why would they? ")
HAY_ZH = "河流在磨坊前拐了两个弯。秋天农民把粮食运来！没人记得是谁修的桥。他们为什么要记得呢？"


@pytest.mark.parametrize("hay,needle_idx", [(HAY_EN, 0), (HAY_ZH, 7)])
def test_needle_depths(hay, needle_idx):
    needle, question, answer = NEEDLES[needle_idx]
    start = needle_prompt(hay, needle, question, depth=0.0, target_chars=2000)
    assert start.startswith(needle) and start.endswith("\n\n" + question)
    end = needle_prompt(hay, needle, question, depth=1.0, target_chars=2000)
    assert end.split("\n\n")[0].endswith(needle)
    mid = needle_prompt(hay, needle, question, depth=0.5, target_chars=2000)
    context = mid.split("\n\n")[0]
    at = context.index(needle)
    assert 0.4 < at / len(context) < 0.6
    assert context[:at].rstrip()[-1] in ".!?。！？"  # snapped to a sentence boundary
    assert 1800 <= len(context) <= 2000  # about target_chars
    assert needle_answer_found(mid, answer)


def test_needle_prompt_trims_long_haystacks_and_validates():
    long_hay = HAY_EN * 200
    prompt = needle_prompt(long_hay, NEEDLES[1][0], NEEDLES[1][1], 0.3, target_chars=500)
    assert len(prompt.split("\n\n")[0]) <= 500
    with pytest.raises(ValueError):
        needle_prompt(HAY_EN, "x.", "q?", depth=1.5, target_chars=100)
    with pytest.raises(ValueError):
        needle_prompt("   ", "x.", "q?", depth=0.5, target_chars=100)


def test_needles_bank():
    assert len(NEEDLES) >= 12
    zh = [n for n in NEEDLES if re.search(r"[\u4e00-\u9fff]", n[0])]
    assert len(zh) * 2 == len(NEEDLES)
    for needle, question, answer in NEEDLES:
        assert needle_answer_found(needle, answer)
        assert not needle_answer_found(question, answer)


def test_needle_answer_found_normalises():
    assert needle_answer_found("The code is 4-7-1-9.", "4719")
    assert needle_answer_found("The code is 4 7 1 9", "4719")
    assert needle_answer_found("密码是４７１９。", "4719")
    assert needle_answer_found("They counted 2,846 gulls.", "2846")
    assert not needle_answer_found("The code is 47190.", "4719")
    assert not needle_answer_found("I do not know.", "4719")
    assert needle_answer_found("It is painted Vermilion.", "vermilion")
    assert needle_answer_found("它叫“墨 团”。", "墨团")
    assert not needle_answer_found("", "墨团")
