"""Log-likelihoods from an OpenAI-style completion with `echo` and `logprobs`, and the fallback
for endpoints without them: multiple choice answered by generation and read back."""
from __future__ import annotations

import re
from typing import Any

NO_PICK = -1e9  # log-prob given to choices the generated answer did not pick


def continuation_logprob(logprobs: dict[str, Any], ctx_chars: int, prompt_chars: int) -> tuple[float, bool, int]:
    """(sum of log-probs, all greedy, token count) of the echoed tokens of characters
    [ctx_chars, prompt_chars) of the prompt. `text_offset` is where each token's text starts; the
    byte tokens of one multi-byte character share a start. A token straddling the boundary counts
    as continuation."""
    starts = list(logprobs.get("text_offset") or [])
    lps = list(logprobs.get("token_logprobs") or [])
    tops = list(logprobs.get("top_logprobs") or [None] * len(lps))
    if not starts or len(starts) != len(lps):
        raise ValueError("the endpoint's echo gave no text offsets for the prompt's tokens")
    total, greedy, count = 0.0, True, 0
    for i, (start, lp) in enumerate(zip(starts, lps)):
        if start >= prompt_chars:
            break  # a generated token, not part of the prompt
        nxt = starts[i + 1] if i + 1 < len(starts) else prompt_chars
        if start < ctx_chars and nxt <= ctx_chars:
            continue  # inside the context (a token straddling the boundary counts as continuation)
        if lp is None:
            raise ValueError("the endpoint gave no log-prob for a continuation token")
        total += float(lp)
        count += 1
        top = tops[i] if i < len(tops) else None
        if top:
            greedy = greedy and float(lp) >= max(float(v) for v in top.values()) - 1e-6
    if count == 0:
        raise ValueError("no echoed token covers the continuation")
    return total, greedy, count


_LABEL = re.compile(r"^[\s(（\[【]*(?:答案|answer)?[\s:：是为is]*[\s(（\[【]*([A-Za-z])(?![A-Za-z])", re.IGNORECASE)


def _norm(text: str) -> str:
    return " ".join(text.strip().lower().split())


_LETTERED = re.compile(r"(?m)^\s*[(（]?A[).．、:：)）]")


def pick_choice(generated: str, continuations: list[str], context: str = "") -> int | None:
    """The continuation a generated answer chose: the longest one it starts with, else a letter
    label ("B", "(B)", "答案：B") naming a continuation that is that letter, or naming an option by
    position when the context lists lettered options."""
    said = _norm(generated)
    best, best_len = None, 0
    for i, cont in enumerate(continuations):
        c = _norm(cont)
        if c and said.startswith(c) and len(c) > best_len:
            best, best_len = i, len(c)
    if best is not None:
        return best
    m = _LABEL.match(generated)
    if m:
        letter = m.group(1).lower()
        for i, cont in enumerate(continuations):
            if _norm(cont).strip("().:：") == letter:
                return i
        index = ord(letter) - ord("a")
        if _LETTERED.search(context) and 0 <= index < len(continuations):
            return index
    return None
