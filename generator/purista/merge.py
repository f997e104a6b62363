"""A line-based three-way merge (diff3), so merged files keep both sides' changes.

`base` is the version the generator last wrote, `yours` the file as it is now
(with the user's edits), `theirs` the generator's new version. Lines changed on
one side only are taken from that side; a region both sides changed differently
is a conflict and is written between markers, as git does.
"""

from __future__ import annotations

import bisect
import difflib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

YOURS_MARKER = "<<<<<<< yours\n"
SEPARATOR = "=======\n"
THEIRS_MARKER = ">>>>>>> purista\n"
# Equal-line pairs times lines that difflib's matcher may compare in one region (about a
# second); a region over it is not matched line by line (see `_matched`).
MATCHER_BUDGET = 5_000_000


@dataclass(frozen=True)
class Merge:
    """The merged text and how many regions conflict (0: a clean merge)."""

    text: str
    conflicts: int


def merge3(base: str, yours: str, theirs: str) -> Merge:
    """Merge the changes from `base` to `yours` and from `base` to `theirs`."""
    if theirs in (yours, base):
        return Merge(yours, 0)
    if yours == base:
        return Merge(theirs, 0)
    o, a, b = (text.splitlines(keepends=True) for text in (base, yours, theirs))
    out: list[str] = []
    conflicts = 0
    for chunk_o, chunk_a, chunk_b in _chunks(o, a, b):
        if chunk_b in (chunk_a, chunk_o):
            out.extend(chunk_a)
        elif chunk_a == chunk_o:
            out.extend(chunk_b)
        else:
            lines, clean = _conflict(chunk_o, chunk_a, chunk_b)
            conflicts += not clean
            out.extend(lines)
    return Merge("".join(out), conflicts)


def has_conflict_markers(text: str) -> bool:
    """Whether `text` still holds a conflict a merge wrote and nobody resolved."""
    lines = text.splitlines(keepends=True)
    return YOURS_MARKER in lines and THEIRS_MARKER in lines


def diff(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int]]:
    """The pairs `(i, j)` with `a[i] == b[j]` of a common subsequence, in order.

    Each region is cut first at the lines it has exactly once on each side, kept in
    the longest run of them that is in the same order on both (patience diff); a
    region with none goes to difflib's matcher, junk heuristic off, so a line
    repeated often (`]`, a blank line) still matches. Time and memory grow with the
    lines, not with lines times edits; the matcher alone takes quadratic time when
    every other line changed.
    """
    pairs: list[tuple[int, int]] = []
    regions = [(0, len(a), 0, len(b))]
    while regions:
        alo, ahi, blo, bhi = regions.pop()
        if alo == ahi or blo == bhi:
            continue
        # Anchors first: equal lines at the ends must not take a unique line's partner.
        anchors = [(alo + i, blo + j) for i, j in _anchors(a[alo:ahi], b[blo:bhi])]
        if not anchors:
            while alo < ahi and blo < bhi and a[alo] == b[blo]:
                pairs.append((alo, blo))
                alo, blo = alo + 1, blo + 1
            while ahi > alo and bhi > blo and a[ahi - 1] == b[bhi - 1]:
                ahi, bhi = ahi - 1, bhi - 1
                pairs.append((ahi, bhi))
            pairs.extend((alo + i, blo + j) for i, j in _matched(a[alo:ahi], b[blo:bhi]))
            continue
        pairs.extend(anchors)
        starts = [(alo, blo), *((i + 1, j + 1) for i, j in anchors)]
        ends = [*anchors, (ahi, bhi)]
        regions.extend((i0, i1, j0, j1) for (i0, j0), (i1, j1) in zip(starts, ends, strict=True))
    pairs.sort()
    return pairs


def _matched(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int]]:
    """The lines difflib matches in a region without anchors, unless that would take long.

    The matcher's work grows with the pairs of equal lines times the blocks it finds:
    in a region of a few lines repeated many times on both sides (3,000 alternating
    `}` and blank lines) that is minutes. Such a region is taken as changed whole.
    """
    count_b = Counter(b)
    if sum(count_b[line] for line in a) * min(len(a), len(b)) > MATCHER_BUDGET:
        return []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return [(i + k, j + k) for i, j, size in matcher.get_matching_blocks() for k in range(size)]


def _anchors(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int]]:
    """The pairs of lines found once in `a` and once in `b`: their longest run in order."""
    count_a, count_b = Counter(a), Counter(b)
    where_b = {line: j for j, line in enumerate(b) if count_b[line] == 1 and count_a[line] == 1}
    candidates = [(i, where_b[line]) for i, line in enumerate(a) if line in where_b]
    # The longest increasing run of `j` (patience sorting): `tops[k]` ends a run of k + 1.
    tops: list[int] = []
    ends: list[int] = []
    before = [-1] * len(candidates)
    for n, (_, j) in enumerate(candidates):
        k = bisect.bisect_left(tops, j)
        before[n] = ends[k - 1] if k else -1
        if k == len(tops):
            tops.append(j)
            ends.append(n)
        else:
            tops[k], ends[k] = j, n
    run: list[tuple[int, int]] = []
    n = ends[-1] if ends else -1
    while n >= 0:
        run.append(candidates[n])
        n = before[n]
    return run[::-1]


def _chunks(
    o: list[str], a: list[str], b: list[str]
) -> list[tuple[list[str], list[str], list[str]]]:
    """Split the three versions into alternating stable and changed regions.

    A stable region is a run of base lines matched, in step, on both sides; the
    regions between them are where one side, or both, changed something.
    """
    match_a = dict(diff(o, a))
    match_b = dict(diff(o, b))
    chunks: list[tuple[list[str], list[str], list[str]]] = []
    i = ia = ib = 0
    while i < len(o) or ia < len(a) or ib < len(b):
        stable = i
        while (
            stable < len(o)
            and match_a.get(stable) == ia + stable - i
            and (match_b.get(stable) == ib + stable - i)
        ):
            stable += 1
        if stable > i:
            chunks.append((o[i:stable], a[ia : ia + stable - i], b[ib : ib + stable - i]))
            ia, ib, i = ia + stable - i, ib + stable - i, stable
            continue
        end = i
        while end < len(o) and not (end in match_a and end in match_b):
            end += 1
        end_a = match_a[end] if end < len(o) else len(a)
        end_b = match_b[end] if end < len(o) else len(b)
        chunks.append((o[i:end], a[ia:end_a], b[ib:end_b]))
        i, ia, ib = end, end_a, end_b
    return chunks


def _conflict(o: list[str], a: list[str], b: list[str]) -> tuple[list[str], bool]:
    """A region both sides changed: both between markers, or merged if that is safe.

    Lines both sides begin or end with stand outside the markers. When what is
    left is lines only one side added (none of them from the base), both sides
    made the same change and one added lines next to it: that side is taken.
    """
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    ours, others = a[head : len(a) - tail], b[head : len(b) - tail]
    added = ours or others
    if not (ours and others) and not set(added) & set(o):
        return (a if ours else b), True
    return [
        *a[:head],
        YOURS_MARKER,
        *_terminated(ours),
        SEPARATOR,
        *_terminated(others),
        THEIRS_MARKER,
        *a[len(a) - tail :],
    ], False


def _terminated(lines: list[str]) -> list[str]:
    """The lines, the last one ended by a newline so a marker starts a line of its own."""
    if lines and not lines[-1].endswith("\n"):
        return [*lines[:-1], lines[-1] + "\n"]
    return lines
