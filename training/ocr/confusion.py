"""Per-character confusions of a reader: which true character is read as what.

Each (label, read) pair is aligned by edit distance, so a dropped or added character shows as
a deletion ('label char' -> '-') or an insertion ('-' -> 'read char') instead of shifting every
character after it. `table` gives the most frequent confusions as markdown rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def align(label: str, read: str) -> list[tuple[str, str]]:
    """Aligned (label char, read char) pairs, '-' for a gap; a minimal edit script."""
    n, m = len(label), len(read)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (label[i - 1] != read[j - 1]))
    out, i, j = [], n, m
    while i or j:
        if i and j and d[i][j] == d[i - 1][j - 1] + (label[i - 1] != read[j - 1]):
            out.append((label[i - 1], read[j - 1]))
            i, j = i - 1, j - 1
        elif i and d[i][j] == d[i - 1][j] + 1:
            out.append((label[i - 1], "-"))
            i -= 1
        else:
            out.append(("-", read[j - 1]))
            j -= 1
    return out[::-1]


def confusions(pairs: Iterable[tuple[str, str]]) -> tuple[Counter, Counter]:
    """(errors by (true, read), occurrences of each true character) over (label, read) pairs."""
    errors, seen = Counter(), Counter()
    for label, read in pairs:
        seen.update(label)
        errors.update((a, b) for a, b in align(label, read) if a != b)
    return errors, seen


def table(errors: Counter, seen: Counter, top: int = 15) -> str:
    """Markdown: the most frequent confusions with their share of that character's occurrences."""
    rows = ["| true | read as | times | of the true char's |", "|---|---|---:|---:|"]
    for (a, b), k in errors.most_common(top):
        share = f"{k / seen[a]:.1%}" if a != "-" and seen[a] else ""
        rows.append(f"| {a} | {b} | {k} | {share} |")
    return "\n".join(rows)
