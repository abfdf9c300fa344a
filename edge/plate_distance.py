"""Confusable-aware edit distance between two plate texts, and the texts within a distance.

An OCR that misreads a plate usually swaps look-alike glyphs, so a watchlist match should not
pay a full edit for them: substituting one of a CONFUSABLE pair (0/O, 1/I, 8/B, 5/S, 2/Z, 6/G,
0/D, 0/Q, D/O: the format rules' default pairs) costs CONFUSABLE_COST; any other substitution,
insertion or deletion costs 1. '7ABC128' is 1 from '7ABC123' (3/8 look different), '7ABC12B'
is 0.5 from '7ABC128'. `CharCountIndex` skips most of a long list before the distance.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CONFUSABLE_COST = 0.5
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CONFUSABLE_PAIRS = ("0O", "1I", "8B", "5S", "2Z", "6G", "0D", "0Q", "DO")
_SLOT = {c: i for i, c in enumerate(ALPHABET)}
_PARTNERS: dict[str, tuple[str, ...]] = {
    c: tuple(sorted({p[1 - p.index(c)] for p in CONFUSABLE_PAIRS if c in p})) for c in ALPHABET
}


def substitution_cost(a: str, b: str) -> float:
    if a == b:
        return 0.0
    return CONFUSABLE_COST if b in _PARTNERS.get(a, ()) else 1.0


def distance(a: str, b: str, limit: float = float("inf")) -> float:
    """Weighted Levenshtein distance; any value above `limit` is returned as inf (early exit)."""
    if a == b:
        return 0.0
    if abs(len(a) - len(b)) > limit:
        return float("inf")
    prev = [float(j) for j in range(len(b) + 1)]
    for i, ca in enumerate(a, 1):
        cur = [float(i)] + [0.0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1.0, cur[j - 1] + 1.0, prev[j - 1] + substitution_cost(ca, cb))
        if min(cur) > limit:
            return float("inf")
        prev = cur
    return prev[-1] if prev[-1] <= limit else float("inf")


def _edits(text: str) -> Iterator[tuple[str, float]]:
    """Every text one operation away, with that operation's cost."""
    for i, c in enumerate(text):
        yield text[:i] + text[i + 1:], 1.0
        for other in ALPHABET:
            if other != c:
                yield text[:i] + other + text[i + 1:], substitution_cost(c, other)
    for i in range(len(text) + 1):
        for other in ALPHABET:
            yield text[:i] + other + text[i:], 1.0


def neighbourhood(text: str, budget: float) -> dict[str, float]:
    """All texts reachable from `text` by operations costing at most `budget` in total, with the
    cheapest cost found. About 36 x 2 x len(text) texts per full unit of budget, so it is meant
    for budgets up to 1 (`Watchlist` scans the list instead for larger ones)."""
    best = {text: 0.0}
    frontier = [text]
    while frontier:
        nxt: list[str] = []
        for current in frontier:
            spent = best[current]
            for variant, cost in _edits(current):
                total = spent + cost
                if total <= budget and total < best.get(variant, float("inf")):
                    best[variant] = total
                    if total + CONFUSABLE_COST <= budget:  # only expand what can still change
                        nxt.append(variant)
        frontier = nxt
    return best


class CharCountIndex:
    """Each entry's character counts, to skip most of a long list before the edit distance:
    every operation costs at least CONFUSABLE_COST and changes at most one character of each
    text, so distance >= CONFUSABLE_COST x (characters of one text the other lacks). On a
    100 000-entry list of 7-character plates this leaves a few thousand for max_distance 2
    (about 140 ms per read on the development machine, against 1.5 s without it)."""

    def __init__(self, plates: frozenset[str]) -> None:
        self.plates = plates
        self.entries = sorted(plates)
        self.counts = np.zeros((len(self.entries), len(ALPHABET)), np.int16)
        for row, plate in enumerate(self.entries):
            for ch in plate:
                self.counts[row, _SLOT[ch]] += 1
        self.lengths = self.counts.sum(axis=1)

    def candidates(self, text: str, limit: float) -> list[str]:
        mine = np.zeros(len(ALPHABET), np.int16)
        for ch in text:
            mine[_SLOT[ch]] += 1
        lacking = np.maximum(self.counts - mine, 0).sum(axis=1)  # entry characters text lacks
        extra = len(text) - (self.lengths - lacking)  # text characters the entry lacks
        bound = CONFUSABLE_COST * np.maximum(lacking, extra)
        return [self.entries[i] for i in np.flatnonzero(bound <= limit)]
