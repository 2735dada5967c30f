"""Verifiable instructions (IFEval-style): small checkers a program can apply to a response.

Checkers register under an id with declared params, so a bank is validated before any model runs.
Responses are read after NFKC, which maps full-width digits, letters and ，：！？（）［］ to ASCII
(。 and the enumeration comma 、 stay). Counting rules (documented in seeds/performance/README.md):
words are Latin letter/digit runs (don't, well-known, 1,250 are one word each); Chinese length
(字数) is Han characters plus one per Latin word or number, punctuation and spaces not counted;
a sentence ends at . ! ? 。 … (a "." only before white space or the end, so 3.14 does not split)
or at a line break, list markers dropped; paragraphs are separated by blank lines; the language
of a response is Han characters against Latin words, and the asked language needs a share of at
least `min_share` (default 0.8), so a few English terms in Chinese (or the reverse) are fine.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable

RELATIONS = ("at_least", "at_most", "exactly")
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
HAN = re.compile(f"[{_HAN}]")
_LATIN_WORD = re.compile(r"\d+(?:[.,:]\d+)+|[A-Za-z0-9\u00c0-\u024f]+(?:['’-][A-Za-z0-9\u00c0-\u024f]+)*")
_CN_NUM = "一二三四五六七八九十"
_CHOICES = {"relation": RELATIONS, "lang": ("zh", "en"), "style": ("markdown", "numbered", "any")}


CheckFn = Callable[..., bool]


@dataclass(frozen=True)
class Check:
    """A registered checker: `params` maps a name to (kind, default); default None = required."""

    id: str
    family: str
    fn: Callable[..., bool]
    params: dict[str, tuple[str, Any]]
    doc: str


CHECKS: dict[str, Check] = {}


def check(id: str, family: str, **params: str | tuple[str, Any]) -> Callable[[CheckFn], CheckFn]:
    """Register a checker; a param given as a bare kind is required, a (kind, default) tuple is not."""

    def wrap(fn: CheckFn) -> CheckFn:
        spec = {k: (v, None) if isinstance(v, str) else v for k, v in params.items()}
        CHECKS[id] = Check(id, family, fn, spec, (fn.__doc__ or "").strip())
        return fn

    return wrap


# -- parameter validation ---------------------------------------------------------------------

def _bad_param(kind: str, value: Any) -> str | None:
    """What is wrong with a param value of this kind, or None."""
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return None if ok else "must be a whole number >= 0"
    if kind == "str":
        return None if isinstance(value, str) and value.strip() else "must be a non-empty string"
    if kind == "strs":
        ok = isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value)
        return None if ok else "must be a non-empty list of non-empty strings"
    if kind in _CHOICES:
        return None if value in _CHOICES[kind] else f"must be one of {', '.join(_CHOICES[kind])}"
    if kind == "share":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.5 <= value <= 1
        return None if ok else "must be a number from 0.5 to 1"
    raise AssertionError(kind)


def param_problem(instruction: Any) -> str | None:
    """Why an instruction {id, params} cannot be checked, or None when it can."""
    if not isinstance(instruction, dict) or not isinstance(instruction.get("id"), str):
        return "each instruction must be an object with a string 'id' and an object 'params'"
    iid = instruction["id"]
    if iid not in CHECKS:
        return f"unknown instruction id {iid!r}; known: {', '.join(sorted(CHECKS))}"
    params = instruction.get("params", {})
    if not isinstance(params, dict):
        return f"instruction {iid!r}: 'params' must be an object"
    spec = CHECKS[iid].params
    for name in params:
        if name not in spec:
            return f"instruction {iid!r}: unknown param {name!r}; allowed: {', '.join(spec) or 'none'}"
    for name, (kind, default) in spec.items():
        if name not in params and default is None:
            return f"instruction {iid!r}: param {name!r} is required"
        bad = name in params and _bad_param(kind, params[name])
        if bad:
            return f"instruction {iid!r}: param {name!r} {bad}"
    return None


def run_check(instruction: dict[str, Any], text: str) -> bool:
    """Apply one validated instruction to a response."""
    chk = CHECKS[instruction["id"]]
    args = {k: d for k, (_, d) in chk.params.items() if d is not None} | instruction.get("params", {})
    return bool(chk.fn(text, **args))


# -- text helpers -----------------------------------------------------------------------------

def nfkc(text: str) -> str:
    """Full-width digits, letters and punctuation to ASCII (see the module docstring)."""
    return unicodedata.normalize("NFKC", text)


def compare(value: int, relation: str, n: int) -> bool:
    return value >= n if relation == "at_least" else value <= n if relation == "at_most" else value == n


def count_words(text: str) -> int:
    return len(_LATIN_WORD.findall(HAN.sub(" ", nfkc(text))))


def count_chars(text: str) -> int:
    return len(HAN.findall(nfkc(text))) + count_words(text)


_SENT_END = re.compile(r"(?:[!?。…]+|\.+(?=\s|$))[\"'”’)\]」』]*|\n")
_LIST_MARK = re.compile(rf"(?m)^\s*(?:[-*+•]|\d+[.)、]|\(\d+\)|[{_CN_NUM}]+、)\s*")


def count_sentences(text: str) -> int:
    """List markers (1. - 一、) are dropped first, so "1. Check the oil." is one sentence."""
    parts = _SENT_END.split(_LIST_MARK.sub("", nfkc(text)))
    return sum(1 for p in parts if HAN.search(p) or re.search(r"[^\W_]", p))


def count_paragraphs(text: str) -> int:
    return sum(1 for p in re.split(r"\n\s*\n", text.strip()) if p.strip())


def _lines(text: str) -> list[str]:
    return nfkc(text).splitlines()


def _latin_pattern(word: str, whole: bool) -> re.Pattern[str]:
    """Case-insensitive; Latin words must start at a word boundary (and end at one when `whole`)."""
    word = nfkc(word).strip()
    pat = re.escape(word)
    if re.match(r"[A-Za-z0-9]", word):
        pat = r"(?<![A-Za-z0-9])" + pat
    if whole and re.search(r"[A-Za-z0-9]$", word):
        pat += r"(?![A-Za-z0-9])"
    return re.compile(pat, re.IGNORECASE)


# -- length -----------------------------------------------------------------------------------

@check("length_words", "length", relation="relation", n="int")
def length_words(text: str, relation: str, n: int) -> bool:
    """Number of words (Latin letter/digit runs) at least / at most / exactly n."""
    return compare(count_words(text), relation, n)


@check("length_chars", "length", relation="relation", n="int")
def length_chars(text: str, relation: str, n: int) -> bool:
    """Chinese length (字数): Han characters plus one per Latin word or number."""
    return compare(count_chars(text), relation, n)


@check("length_sentences", "length", relation="relation", n="int")
def length_sentences(text: str, relation: str, n: int) -> bool:
    """Number of sentences (English or Chinese end punctuation, or a line break)."""
    return compare(count_sentences(text), relation, n)


@check("length_paragraphs", "length", relation="relation", n="int")
def length_paragraphs(text: str, relation: str, n: int) -> bool:
    """Number of paragraphs separated by blank lines."""
    return compare(count_paragraphs(text), relation, n)


# -- keywords ---------------------------------------------------------------------------------

@check("keywords_include", "keywords", keywords="strs")
def keywords_include(text: str, keywords: list[str]) -> bool:
    """Every keyword appears (case-insensitive; an English keyword may take a suffix: plan → plans)."""
    return all(_latin_pattern(k, whole=False).search(nfkc(text)) for k in keywords)


@check("keywords_forbid", "keywords", words="strs")
def keywords_forbid(text: str, words: list[str]) -> bool:
    """None of the words appears (English as a whole word, case-insensitive; Chinese as a substring)."""
    return not any(_latin_pattern(w, whole=True).search(nfkc(text)) for w in words)


@check("keyword_frequency", "keywords", keyword="str", relation="relation", n="int")
def keyword_frequency(text: str, keyword: str, relation: str, n: int) -> bool:
    """The keyword appears at least / at most / exactly n times."""
    return compare(len(_latin_pattern(keyword, whole=False).findall(nfkc(text))), relation, n)


# -- lists and sections -----------------------------------------------------------------------

_MD_BULLET = re.compile(r"^(\s*)[-*+•·]\s+\S")
_NUMBERED = re.compile(rf"^(\s*)(?:\*\*)?(?:(\d+)(?:\.(?!\d)|、|\))|\((\d+)\)"
                       rf"|([{_CN_NUM}]+)[、.]|\(([{_CN_NUM}]+)\))\s*\S")
_RULE = re.compile(r"^\s*([-*])\s*\1\s*\1")  # a markdown horizontal rule, not a bullet


def _cn_value(numeral: str) -> int:
    """一 → 1, 十 → 10, 十二 → 12, 二十三 → 23."""
    digits = {c: i + 1 for i, c in enumerate(_CN_NUM[:9])}
    tens, ten, ones = numeral.partition("十")
    return digits.get(tens, 1) * 10 + digits.get(ones, 0) if ten else digits.get(numeral, 0)


def list_items(text: str, style: str) -> list[tuple[int, int | None]]:
    """(indent, number) of each top-level list item; nested items (deeper indent) are left out."""
    found: list[tuple[int, int | None]] = []
    for line in _lines(text):
        if style in ("markdown", "any") and (m := _MD_BULLET.match(line)) and not _RULE.match(line):
            found.append((len(m.group(1).expandtabs(4)), None))
        elif style in ("numbered", "any") and (m := _NUMBERED.match(line)):
            arabic = m.group(2) or m.group(3)
            num = int(arabic) if arabic else _cn_value(m.group(4) or m.group(5))
            found.append((len(m.group(1).expandtabs(4)), num))
    top = min((indent for indent, _ in found), default=0)
    return [f for f in found if f[0] == top]


@check("bullet_list", "lists", n="int", relation=("relation", "exactly"), style=("style", "markdown"))
def bullet_list(text: str, n: int, relation: str, style: str) -> bool:
    """At least one top-level list item, and n of them: markdown (- * + •), numbered (1. 1、 (1) 一、) or any."""
    found = len(list_items(text, style))
    return found > 0 and compare(found, relation, n)


@check("numbered_list", "lists", n="int", relation=("relation", "exactly"))
def numbered_list(text: str, n: int, relation: str) -> bool:
    """A numbered list (1. / 1、 / 一、 …) whose top-level items count 1, 2, 3 … in order."""
    nums = [num for _, num in list_items(text, "numbered")]
    return bool(nums) and nums == list(range(1, len(nums) + 1)) and compare(len(nums), relation, n)


@check("sections", "lists", marker="str", n="int", relation=("relation", "exactly"))
def sections(text: str, marker: str, n: int, relation: str) -> bool:
    """Lines starting with a marker ("#", "【", "Day {n}", "第{n}周": {n} is 1 or 一); leading # and ** ignored."""
    mk = nfkc(marker).strip().lower()
    pat = re.compile(re.escape(mk).replace(r"\{n\}", rf"(?:\d+|[{_CN_NUM}百零两]+)"))
    count = 0
    for line in _lines(text):
        s = line.strip().lower()
        if mk[0] not in "#*":
            s = s.lstrip("#* ")
        count += bool(pat.match(s))
    return compare(count, relation, n)


# -- markup -----------------------------------------------------------------------------------

@check("highlights", "markup", n="int", relation=("relation", "at_least"))
def highlights(text: str, n: int, relation: str) -> bool:
    """Markdown-highlighted spans, *like this* or **like this**."""
    body = re.sub(r"(?m)^\s*\*\s+", "", text)
    bold = [s for s in re.findall(r"\*\*([^\n*]+)\*\*", body) if s.strip()]
    body = re.sub(r"\*\*[^\n*]+\*\*", "", body)
    single = [s for s in re.findall(r"\*([^\n*]+)\*", body) if s.strip()]
    return compare(len(bold) + len(single), relation, n)


@check("title", "markup")
def title(text: str) -> bool:
    """A title wrapped in double angular brackets, <<like this>> (full-width ＜＜ ＞＞ also count)."""
    return bool(re.search(r"<<[^\n<>]*[^\s<>][^\n<>]*>>", nfkc(text)))


_PLACEHOLDER = re.compile(r"\[[^\[\]\n]*[^\s\[\]][^\[\]\n]*\]|【[^【】\n]*\S[^【】\n]*】")


@check("placeholders", "markup", n="int", relation=("relation", "at_least"))
def placeholders(text: str, n: int, relation: str) -> bool:
    """Placeholders in square brackets, [name] or 【姓名】."""
    return compare(len(_PLACEHOLDER.findall(nfkc(text))), relation, n)


@check("quoted", "markup")
def quoted(text: str) -> bool:
    """The whole response is wrapped in double quotes ("…" or “…”)."""
    s = nfkc(text).strip()
    return len(s) >= 2 and ((s[0] == s[-1] == '"') or (s[0] == "“" and s[-1] == "”"))


@check("separated_responses", "markup", n=("int", 2), separator=("str", "******"))
def separated_responses(text: str, n: int, separator: str) -> bool:
    """Exactly n answers separated by a line holding only the separator."""
    parts = re.split(rf"(?m)^[ \t]*{re.escape(separator)}[ \t]*$", text)
    return len(parts) == n and all(p.strip() for p in parts)


# -- JSON -------------------------------------------------------------------------------------

def parse_json(text: str) -> tuple[bool, Any]:
    """(ok, value) for a response that is JSON, or is one ```json fenced block holding JSON."""
    s = text.strip()
    fence = re.fullmatch(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)\n?[ \t]*```", s, re.DOTALL)
    try:
        return True, json.loads(fence.group(1) if fence else s)
    except ValueError:
        return False, None


@check("json_format", "json")
def json_format(text: str) -> bool:
    """The whole response is valid JSON (a ```json fence around it is allowed)."""
    return parse_json(text)[0]


@check("json_keys", "json", keys="strs")
def json_keys(text: str, keys: list[str]) -> bool:
    """The response is a JSON object with at least these top-level keys."""
    ok, value = parse_json(text)
    return ok and isinstance(value, dict) and all(k in value for k in keys)


# -- language, case and characters -----------------------------------------------------------

def zh_share(text: str) -> float | None:
    """Han characters / (Han characters + Latin words); None for a response with neither."""
    han, words = len(HAN.findall(nfkc(text))), count_words(text)
    return None if han + words == 0 else han / (han + words)


@check("language", "language", lang="lang", min_share=("share", 0.8))
def language(text: str, lang: str, min_share: float) -> bool:
    """The response is in Chinese or English, judged by script share (see the module docstring)."""
    share = zh_share(text)
    return share is not None and (share if lang == "zh" else 1 - share) >= min_share


@check("lowercase", "case")
def lowercase(text: str) -> bool:
    """English in lower case only: no capital letter anywhere, and at least one letter."""
    t = nfkc(text)
    return t == t.lower() and any(c.islower() for c in t)


@check("uppercase", "case")
def uppercase(text: str) -> bool:
    """English in capitals only: no lower-case letter anywhere, and at least one letter."""
    t = nfkc(text)
    return t == t.upper() and any(c.isupper() for c in t)


@check("capital_words", "case", n="int", relation="relation")
def capital_words(text: str, n: int, relation: str) -> bool:
    """Words written wholly in capitals (NASA, OK; a lone I or A counts too, as in IFEval)."""
    return compare(sum(1 for w in _LATIN_WORD.findall(nfkc(text)) if w.isupper()), relation, n)


@check("no_commas", "characters")
def no_commas(text: str) -> bool:
    """No comma, ASCII or Chinese full-width (，); the enumeration comma 、 is not a comma."""
    return "," not in nfkc(text)


@check("no_digits", "characters")
def no_digits(text: str) -> bool:
    """No Arabic digits, half- or full-width; numbers spelled out (three, 三) are fine."""
    return not re.search(r"[0-9]", nfkc(text))


# -- start and end ----------------------------------------------------------------------------

def _edge_text(text: str) -> str:
    """NFKC, lower case, quotes around the response dropped, white space runs made one space."""
    return re.sub(r"\s+", " ", nfkc(text).strip().strip('"“”')).strip().lower()


@check("start_with", "start_end", phrase="str")
def start_with(text: str, phrase: str) -> bool:
    """The response starts with the phrase (case-insensitive; surrounding quotes ignored)."""
    return _edge_text(text).startswith(_edge_text(phrase))


@check("end_with", "start_end", phrase="str")
def end_with(text: str, phrase: str) -> bool:
    """The response ends with the phrase, nothing after it (case-insensitive; quotes ignored)."""
    return _edge_text(text).endswith(_edge_text(phrase))


@check("postscript", "start_end", marker=("str", "P.S."))
def postscript(text: str, marker: str) -> bool:
    """A postscript: a line starting with the marker (P.S., 附注 …) followed by some text."""
    mk = re.sub(r"\s", "", nfkc(marker)).lower()
    for line in _lines(text):
        s = re.sub(r"\s", "", line).lower().lstrip("*")
        if s.startswith(mk) and s[len(mk):].lstrip(":*").strip():
            return True
    return False
