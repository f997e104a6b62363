"""A line-based three-way merge (diff3), so merged files keep both sides' changes.

`base` is the version the generator last wrote, `yours` the file as it is now
(with the user's edits), `theirs` the generator's new version. Lines changed on
one side only are taken from that side; a region both sides changed differently
is a conflict and is written between markers, as git does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

YOURS_MARKER = "<<<<<<< yours\n"
SEPARATOR = "=======\n"
THEIRS_MARKER = ">>>>>>> purista\n"


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
    """The pairs `(i, j)` with `a[i] == b[j]` of a longest common subsequence (Myers)."""
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a, end_b = end_a - 1, end_b - 1
    head = [(i, i) for i in range(start)]
    middle = _myers(a[start:end_a], b[start:end_b])
    tail = [(end_a + k, end_b + k) for k in range(len(a) - end_a)]
    return head + [(i + start, j + start) for i, j in middle] + tail


def _myers(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int]]:
    """Myers' O((N+M)D) greedy diff: the matched pairs of a shortest edit script."""
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        return []
    offset = n + m
    v = [0] * (2 * offset + 2)
    trace: list[list[int]] = []
    for d in range(n + m + 1):
        trace.append(v.copy())
        for k in range(-d, d + 1, 2):
            if k == -d or (k != d and v[offset + k - 1] < v[offset + k + 1]):
                x = v[offset + k + 1]  # down: an insertion from b
            else:
                x = v[offset + k - 1] + 1  # right: a deletion from a
            y = x - k
            while x < n and y < m and a[x] == b[y]:
                x, y = x + 1, y + 1
            v[offset + k] = x
            if x >= n and y >= m:
                return _backtrack(trace, offset, n, m)
    raise AssertionError("unreachable: a path of length n + m always exists")


def _backtrack(trace: list[list[int]], offset: int, n: int, m: int) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    x, y = n, m
    for d in range(len(trace) - 1, 0, -1):
        v = trace[d]
        k = x - y
        if k == -d or (k != d and v[offset + k - 1] < v[offset + k + 1]):
            prev_k = k + 1
        else:
            prev_k = k - 1
        prev_x = v[offset + prev_k]
        prev_y = prev_x - prev_k
        while x > prev_x and y > prev_y:
            x, y = x - 1, y - 1
            pairs.append((x, y))
        x, y = prev_x, prev_y
    while x > 0 and y > 0:
        x, y = x - 1, y - 1
        pairs.append((x, y))
    pairs.reverse()
    return pairs


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
