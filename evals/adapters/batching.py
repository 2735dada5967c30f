"""Batching helpers shared by local adapters: group by shared context, sort by length, chunk."""
from __future__ import annotations

from typing import Callable, Iterator, Sequence, TypeVar

T = TypeVar("T")


def length_sorted_batches(rows: Sequence[T], length: Callable[[T], int], batch_size: int,
                          max_tokens: int | None = None) -> Iterator[list[T]]:
    """Longest first (an out-of-memory error shows in the first batch, not the last); neighbours
    have similar lengths, so padding stays small. `max_tokens` bounds batch_size × longest row."""
    order = sorted(rows, key=lambda r: -length(r))
    batch: list[T] = []
    longest = 0
    for row in order:
        n = length(row)
        longest_if = max(longest, n)
        if batch and (len(batch) >= batch_size or (max_tokens and longest_if * (len(batch) + 1) > max_tokens)):
            yield batch
            batch, longest_if = [], n
        batch.append(row)
        longest = longest_if
    if batch:
        yield batch
