"""Which option did a generated answer choose? For multiple choice asked in generation mode."""
from __future__ import annotations

import re
import unicodedata

from evals.prompts import LETTERS

_MARKED = re.compile(r"(?:答案|选项|选择|answer|option|choice)\s*(?:是|为|is|:|：)?\s*[（(\[]?\s*([A-Z])\b", re.IGNORECASE)
_LEADING = re.compile(r"^\s*[（(\[]?([A-Z])[)）\].、:：\s]", re.IGNORECASE)


def extract_choice(text: str, choices: list[str]) -> int | None:
    """The index of the chosen option: an explicit letter marker, a leading letter, or the only
    option text the answer contains; None when the answer does not commit to one."""
    t = unicodedata.normalize("NFKC", text or "").strip()
    k = len(choices)
    for pattern in (_MARKED, _LEADING):
        m = pattern.search(t)
        if m and m.group(1).upper() in LETTERS[:k]:
            return LETTERS.index(m.group(1).upper())
    lowered = t.lower()
    hits = [i for i, c in enumerate(choices) if c and c.lower() in lowered]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:  # an option that contains another ("不可接受" ⊃ "可接受"): the longest match wins
        longest = max(hits, key=lambda i: len(choices[i]))
        if all(choices[i].lower() in choices[longest].lower() for i in hits):
            return longest
    return None
