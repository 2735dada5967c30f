"""Input robustness: the same items, perturbed the way real users and real pipelines perturb them.

Every perturbation is deterministic per item: the random stream is `random.Random(f"{seed}:{key}")`
with `key` the item id, so a rerun (or another model) sees exactly the same noisy text, and two
items see different noise. Perturbations never touch digits, template syntax (`{{ x }}`, `{% %}`,
`{name}`, `${x}`, `%s`) or URLs, so the answer of an item stays the same.

- `typos`, `punctuation_noise`: surface noise for English and Chinese text.
- `rotations`, `circular_correct`: circular evaluation of multiple-choice items (position bias).
- `drop_rate`: relative accuracy lost under a perturbation.
- `needle_prompt`, `NEEDLES`, `needle_answer_found`: long-context retrieval (needle in a haystack).
"""
from __future__ import annotations

import random
import re
import unicodedata
from typing import Callable, Sequence

# Spans never perturbed: template syntax, format placeholders, URLs.
_PROTECTED = re.compile(
    r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}|\$\{[^}]*\}|\{[A-Za-z_][A-Za-z0-9_.]*\}"
    r"|%\([A-Za-z_]\w*\)[sdfr]|%[sdfr]|https?://\S+",
    re.S)

_QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _qwerty_neighbours() -> dict[str, str]:
    """Keys adjacent on a QWERTY keyboard (same row ±1, the rows above and below ±1)."""
    pos = {ch: (r, c) for r, row in enumerate(_QWERTY_ROWS) for c, ch in enumerate(row)}
    out = {}
    for ch, (r, c) in pos.items():
        near = [o for o, (r2, c2) in pos.items() if o != ch and abs(r2 - r) <= 1 and abs(c2 - c) <= 1]
        out[ch] = "".join(sorted(near))
    return out


QWERTY_NEIGHBOURS = _qwerty_neighbours()

# Chinese characters commonly confused by sight (形近) or sound (音近). Symmetric, one pair a line.
_ZH_PAIRS = (
    "的地 的得 地得 在再 已己 己巳 已以 做作 做坐 坐座 他她 她它 那哪 象像 像向 带戴 反返 即既 须需 副付 "
    "辨辩 辩辫 账帐 申伸 历厉 候侯 末未 士土 日曰 人入 大太 天夫 午牛 王玉 自白 目且 刀力 拔拨 辛幸 折拆 "
    "免兔 戊戌 徒徙 贷货 晴睛 清请 请情 蓝篮 衰哀 哀衷 卷券 崇祟 析折 狠很 很恨 冶治 壁璧 密蜜 籍藉 园圆 "
    "元原 形型 练炼 词辞 决绝 权全 期其 经径 进近 到道 是事 时使 和合 知之 议意 义意 利力 再载 记纪 计记 "
    "制治 部步 平评 心新 新信 名明 工公 功攻 方放 生声 成城 为位 见件 现线 常长 话画 买卖 回会 果过 候后"
).split()


def _zh_confusions() -> dict[str, str]:
    table: dict[str, str] = {}
    for a, b in _ZH_PAIRS:
        table[a] = table.get(a, "") + b
        table[b] = table.get(b, "") + a
    return table


ZH_CONFUSIONS = _zh_confusions()
# Chinese numerals carry numbers: treated like digits, never perturbed.
_ZH_NUMERALS = set("〇零一二三四五六七八九十百千万亿两壹贰叁肆伍陆柒捌玖拾佰仟")
_EN_WORD = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z]{4,}(?![A-Za-z0-9_])")


def _rng(seed: int, key: str) -> random.Random:
    return random.Random(f"{seed}:{key}")


def _lang(lang: str) -> str:
    norm = lang.lower().replace("_", "-")
    if norm.startswith("zh"):
        return "zh"
    if norm.startswith("en"):
        return "en"
    raise ValueError(f"unsupported language {lang!r}: use 'en' or 'zh'")


def _check_rate(rate: float) -> None:
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must lie in [0, 1], got {rate}")


def _free_segments(text: str) -> list[tuple[str, bool]]:
    """`text` cut into (piece, may_perturb) runs, protected spans kept whole."""
    out, last = [], 0
    for m in _PROTECTED.finditer(text):
        if m.start() > last:
            out.append((text[last:m.start()], True))
        out.append((m.group(0), False))
        last = m.end()
    if last < len(text):
        out.append((text[last:], True))
    return out


def _map_free(text: str, fn: Callable[[str], str]) -> str:
    return "".join(fn(piece) if free else piece for piece, free in _free_segments(text))


def typos(text: str, lang: str, rate: float = 0.05, key: str = "", seed: int = 0) -> str:
    """Typing errors at `rate` per eligible word (English) or character (Chinese).

    English words of ≥ 4 letters (not touching digits or underscores) get one of: adjacent-letter
    swap, a dropped letter, a doubled letter, a QWERTY-neighbour substitution; the first letter is
    kept, as people rarely mistype it. Chinese characters (not numerals, not Latin letters) get a
    look-alike or sound-alike substitution from `ZH_CONFUSIONS` when one exists, else are dropped
    or doubled. rate 0 returns `text` unchanged.
    """
    _check_rate(rate)
    lang = _lang(lang)
    rng = _rng(seed, key)
    if lang == "en":
        return _map_free(text, lambda s: _EN_WORD.sub(lambda m: _word_typo(m.group(0), rng, rate), s))
    return _map_free(text, lambda s: "".join(_zh_typo(ch, rng, rate) for ch in s))


def _word_typo(word: str, rng: random.Random, rate: float) -> str:
    if rng.random() >= rate:
        return word
    op = rng.choice(("swap", "drop", "double", "neighbour"))
    if op == "swap":
        spots = [i for i in range(1, len(word) - 1) if word[i].lower() != word[i + 1].lower()]
        if spots:
            i = rng.choice(spots)
            return word[:i] + word[i + 1] + word[i] + word[i + 2:]
        op = "neighbour"
    i = rng.randrange(1, len(word))
    if op == "drop":
        return word[:i] + word[i + 1:]
    if op == "double":
        return word[:i + 1] + word[i:]
    sub = rng.choice(QWERTY_NEIGHBOURS[word[i].lower()])
    return word[:i] + (sub.upper() if word[i].isupper() else sub) + word[i + 1:]


def _is_hanzi(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" and ch not in _ZH_NUMERALS


def _zh_typo(ch: str, rng: random.Random, rate: float) -> str:
    if not _is_hanzi(ch) or rng.random() >= rate:
        return ch
    alike = ZH_CONFUSIONS.get(ch)
    if alike and rng.random() < 0.7:
        return rng.choice(alike)
    return "" if rng.random() < 0.5 else ch + ch


# Half-width ↔ full-width sentence punctuation (quotes map to the opening form).
_TO_FULL = {",": "，", ".": "。", "!": "！", "?": "？", ":": "：", ";": "；", "(": "（", ")": "）",
            '"': "“", "'": "‘"}
_TO_HALF = {v: k for k, v in _TO_FULL.items()} | {"”": '"', "’": "'", "、": ","}
_PUNCT = set(_TO_FULL) | set(_TO_HALF)


def punctuation_noise(text: str, lang: str, key: str = "", seed: int = 0, rate: float = 0.3) -> str:
    """Sloppy punctuation and spacing at `rate` per punctuation mark; letters and digits untouched.

    Each chosen mark is swapped between full and half width, dropped, or followed by extra spaces
    or a line break. Marks between two digits (3.14, 1,000, 10:30) are left alone, since they are
    part of a number. `lang` is validated but both languages get the same noise: mixed-width
    punctuation is what real Chinese and English inputs both contain. rate 0 returns `text`.
    """
    _check_rate(rate)
    _lang(lang)
    rng = _rng(seed, key)

    def noisy(s: str) -> str:
        out = []
        for i, ch in enumerate(s):
            if ch not in _PUNCT or (0 < i < len(s) - 1 and s[i - 1].isdigit() and s[i + 1].isdigit()):
                out.append(ch)
                continue
            if rng.random() >= rate:
                out.append(ch)
                continue
            op = rng.choice(("width", "width", "drop", "space", "newline"))
            if op == "width":
                out.append(_TO_FULL.get(ch) or _TO_HALF.get(ch, ch))
            elif op == "drop":
                continue
            elif op == "space":
                out.append(ch + " " * rng.randint(1, 3))
            else:
                out.append(ch + "\n")
        return "".join(out)

    return _map_free(text, noisy)


def rotations(choices: list, target: int) -> list[tuple[list, int]]:
    """All n cyclic rotations of the options with the correct index moved along; rotation 0 is the original.

    Rotation r shows option (r + j) mod n at position j, so each option sits in each position once:
    a model that prefers "A" cannot pass every rotation by position alone."""
    n = len(choices)
    if n == 0:
        return []
    if not 0 <= target < n:
        raise IndexError(f"target {target} out of range for {n} choices")
    return [(list(choices[r:]) + list(choices[:r]), (target - r) % n) for r in range(n)]


def circular_correct(correct_per_rotation: Sequence[bool]) -> bool:
    """Correct under every rotation (CircularEval); nothing scored counts as not correct."""
    return len(correct_per_rotation) > 0 and all(bool(x) for x in correct_per_rotation)


def drop_rate(clean: float, perturbed: float) -> float | None:
    """Share of clean accuracy lost under perturbation, (clean − perturbed) / clean; None when clean is 0."""
    if clean == 0:
        return None
    return (clean - perturbed) / clean


# --- long context -------------------------------------------------------------------------------

_SENTENCE = re.compile(r"[^.!?。！？]*(?:[.!?。！？]+[\"'”’」』)]*|$)")

# (needle, question, answer): invented facts, so the answer can only come from the context.
NEEDLES: list[tuple[str, str, str]] = [
    ("The access code for the Lantern Room is 4-7-1-9.",
     "What is the access code for the Lantern Room?", "4719"),
    ("Captain Orwell Finch keeps his spare compass in locker 382.",
     "In which locker does Captain Orwell Finch keep his spare compass?", "382"),
    ("The blue heron statue in Marrowby Square was cast in 1763.",
     "In what year was the blue heron statue in Marrowby Square cast?", "1763"),
    ("The vault beneath Harrowgate Library opens with the number 9-3-0-5-2.",
     "Which number opens the vault beneath Harrowgate Library?", "93052"),
    ("The lighthouse keeper on Skerrow Point counted 2,846 gulls last spring.",
     "How many gulls did the lighthouse keeper on Skerrow Point count last spring?", "2846"),
    ("The hidden key in the Quillon greenhouse is painted vermilion.",
     "What colour is the hidden key in the Quillon greenhouse painted?", "vermilion"),
    ("Professor Ysolde Parry's bicycle lock combination is 6-0-8-5.",
     "What is Professor Ysolde Parry's bicycle lock combination?", "6085"),
    ("月影书房的门禁密码是3-8-6-2。", "月影书房的门禁密码是多少？", "3862"),
    ("石桥镇的老钟楼是在1781年建成的。", "石桥镇的老钟楼是哪一年建成的？", "1781"),
    ("林晚舟船长把备用罗盘放在第527号储物柜里。", "林晚舟船长把备用罗盘放在几号储物柜里？", "527"),
    ("青岚档案馆保险库的密码是9-4-0-6-1。", "青岚档案馆保险库的密码是什么？", "94061"),
    ("雾溪村古井旁的石碑上刻着数字6158。", "雾溪村古井旁的石碑上刻着什么数字？", "6158"),
    ("苏合园里那只老猫的名字叫“墨团”。", "苏合园里那只老猫叫什么名字？", "墨团"),
    ("白鹭岛夜班渡轮的船票编号是2297。", "白鹭岛夜班渡轮的船票编号是多少？", "2297"),
]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def needle_prompt(haystack: str, needle: str, question: str, depth: float, target_chars: int) -> str:
    """A retrieval prompt of about `target_chars`: filler text, `needle` at relative `depth`, then `question`.

    The haystack's sentences are repeated (or cut) until the context reaches about `target_chars`
    characters in all (needle included), always at a sentence boundary; the needle goes in at the
    boundary nearest `depth` (0.0 before the first sentence, 1.0 after the last). Sentences are
    joined by a space when the haystack is mostly ASCII, else directly (Chinese has no spaces).
    """
    if not 0.0 <= depth <= 1.0:
        raise ValueError(f"depth must lie in [0, 1], got {depth}")
    if target_chars <= 0:
        raise ValueError(f"target_chars must be positive, got {target_chars}")
    pool = _sentences(haystack)
    if not pool:
        raise ValueError("haystack has no text")
    ascii_share = sum(ch.isascii() for ch in haystack) / len(haystack)
    sep = " " if ascii_share > 0.5 else ""
    needle = needle.strip()
    budget = target_chars - len(needle) - len(sep)
    filler: list[str] = []
    used = 0
    while True:
        nxt = pool[len(filler) % len(pool)]
        cost = len(nxt) + (len(sep) if filler else 0)
        if used + cost > budget:
            break
        filler.append(nxt)
        used += cost
    at = round(depth * len(filler))
    context = sep.join(filler[:at] + [needle] + filler[at:])
    return f"{context}\n\n{question.strip()}"


_DASHES = re.escape("-‐‑‒–—―−_")  # escaped for use inside a character class
_BETWEEN_DIGITS = re.compile(rf"(?<=\d)[\s{_DASHES}]+(?=\d)|(?<=\d)[,，](?=\d{{3}}(?!\d))")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return _BETWEEN_DIGITS.sub("", text)


def needle_answer_found(response: str, answer: str) -> bool:
    """Whether `response` states `answer`, forgiving how digits are written.

    Full-width digits, spaces or dashes between digits ("4 7 1 9", "4-7-1-9") and thousands commas
    are normalised away; a numeric answer must not be part of a longer number (4719 ≠ 47190).
    Text answers match case-insensitively, ignoring spaces and dashes."""
    resp, ans = _normalise(response or ""), _normalise(answer)
    if not ans.strip():
        raise ValueError("answer must not be empty")
    if ans.isdigit():
        return re.search(rf"(?<!\d){re.escape(ans)}(?!\d)", resp) is not None
    squash = re.compile(rf"[\s{_DASHES}]+")
    return squash.sub("", ans) in squash.sub("", resp)

