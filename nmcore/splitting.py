"""Splitting long messages and long recipient lists the same way for every channel.

Text is cut at line boundaries where possible, then at spaces, and only then mid-word; a cut never falls
inside a character, whether the limit counts characters, UTF-8 bytes or UTF-16 units. Nothing is dropped.
"""

from collections.abc import Callable, Iterator, Sequence
from itertools import zip_longest
from typing import TypeVar

T = TypeVar("T")


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts its limits (an emoji outside the BMP counts two)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Pieces of `text`, each with measure(piece) <= limit, joined back they give `text` exactly."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text
    while measure(rest) > limit:
        cut = _longest_prefix(rest, limit, measure)
        window = rest[:cut]
        newline = window.rfind("\n")
        space = window.rfind(" ")
        if newline > 0:
            cut = newline + 1
        elif space > 0:
            cut = space + 1
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def _longest_prefix(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """The largest n with measure(text[:n]) <= limit (at least 1, so progress is certain)."""
    low, high = 1, min(len(text), limit)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` items (recipients per request, alerts per message)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def batches(*groups: tuple[Sequence[T], int]) -> Iterator[tuple[Sequence[T], ...]]:
    """Requests' worth of recipients of several kinds, each kind with its own per-request maximum: the i-th
    slice of every kind goes together (`batches((users, 1000), (parties, 100))`), an exhausted kind as ()."""
    return zip_longest(*(chunks(items, size) for items, size in groups), fillvalue=())
