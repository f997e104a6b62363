"""The three-way merge of merged files: examples and properties."""

from __future__ import annotations

import itertools
import tracemalloc
from collections import Counter

from hypothesis import example, given, settings
from hypothesis import strategies as st
from purista.merge import diff, has_conflict_markers, merge3

PYPROJECT = """\
[project]
name = "shop"
dependencies = [
    "celery[redis]>=5.4,<6",
    "redis>=5",
]

[tool.ruff]
line-length = 100
"""


def test_both_sides_add_a_dependency_in_different_places() -> None:
    yours = PYPROJECT.replace('    "redis>=5",\n', '    "redis>=5",\n    "httpx>=0.27",\n')
    theirs = PYPROJECT.replace('    "celery', '    "psycopg>=3.2",\n    "celery')
    result = merge3(PYPROJECT, yours, theirs)
    assert result.conflicts == 0
    assert '"httpx>=0.27"' in result.text and '"psycopg>=3.2"' in result.text
    assert result.text.index("psycopg") < result.text.index("celery") < result.text.index("httpx")


def test_the_generator_changing_a_line_the_user_kept_takes_the_new_line() -> None:
    yours = PYPROJECT + "\n[tool.mine]\nx = 1\n"
    theirs = PYPROJECT.replace('"redis>=5"', '"redis>=5.1"')
    result = merge3(PYPROJECT, yours, theirs)
    assert result.conflicts == 0
    assert result.text == theirs + "\n[tool.mine]\nx = 1\n"


def test_lines_added_at_a_line_the_generator_changed_conflict() -> None:
    yours = PYPROJECT + "\n[tool.mine]\nx = 1\n"
    theirs = PYPROJECT.replace("line-length = 100", "line-length = 120")
    result = merge3(PYPROJECT, yours, theirs)
    assert result.conflicts == 1
    assert result.text.endswith(
        "<<<<<<< yours\nline-length = 100\n\n[tool.mine]\nx = 1\n=======\n"
        "line-length = 120\n>>>>>>> purista\n"
    )


def test_both_sides_changing_one_line_differently_conflict() -> None:
    yours = PYPROJECT.replace('name = "shop"', 'name = "my-shop"')
    theirs = PYPROJECT.replace('name = "shop"', 'name = "store"')
    result = merge3(PYPROJECT, yours, theirs)
    assert result.conflicts == 1
    assert (
        '[project]\n<<<<<<< yours\nname = "my-shop"\n=======\nname = "store"\n'
        ">>>>>>> purista\ndependencies = [\n"
    ) in result.text
    assert has_conflict_markers(result.text)
    assert not has_conflict_markers(yours)


def test_the_same_change_on_both_sides_is_no_conflict() -> None:
    changed = PYPROJECT.replace("100", "120")
    assert merge3(PYPROJECT, changed + "# mine\n", changed).text == changed + "# mine\n"


def test_conflict_keeps_lines_both_sides_share_outside_the_markers() -> None:
    result = merge3("a\nb\n", "a\nx\nshared\n", "a\ny\nshared\n")
    assert result.text == "a\n<<<<<<< yours\nx\n=======\ny\n>>>>>>> purista\nshared\n"


def test_a_last_line_without_newline_still_gets_markers_on_lines_of_their_own() -> None:
    result = merge3("a\nb", "a\nc", "a\nd")
    assert result.text == "a\n<<<<<<< yours\nc\n=======\nd\n>>>>>>> purista\n"


def test_diff_matches_equal_lines_in_order() -> None:
    a, b = list("abcabba"), list("cbabac")
    pairs = diff(a, b)
    assert len(pairs) >= 3  # the longest run both share, `bab`, at least
    assert all(a[i] == b[j] for i, j in pairs)
    assert [i for i, _ in pairs] == sorted({i for i, _ in pairs})
    assert [j for _, j in pairs] == sorted({j for _, j in pairs})


def test_diff_matches_the_common_head_and_tail_as_they_are() -> None:
    a = ["head\n", "]\n", "x\n", "]\n", "tail\n"]
    b = ["head\n", "]\n", "y\n", "]\n", "tail\n"]
    assert diff(a, b) == [(0, 0), (1, 1), (3, 3), (4, 4)]


# ------------------------------------------------------------------ properties

lines = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "\n", "x = 1\n", "}\n"]), max_size=12)


@settings(max_examples=200, deadline=None)
@given(base=lines, side=lines)
def test_identical_sides_merge_to_that_side(base: list[str], side: list[str]) -> None:
    text = "".join(side)
    assert merge3("".join(base), text, text).text == text
    assert merge3("".join(base), text, text).conflicts == 0


@settings(max_examples=200, deadline=None)
@given(base=lines, changed=lines)
def test_a_change_on_one_side_only_is_taken_as_it_is(base: list[str], changed: list[str]) -> None:
    old, new = "".join(base), "".join(changed)
    assert merge3(old, new, old).text == new
    assert merge3(old, old, new).text == new


@settings(max_examples=200, deadline=None)
@given(base=lines, a=lines, b=lines)
# A common last line once took the partner of `b`, the one line unique on both sides.
@example(base=["b\n", "a\n", "a\n"], a=["a\n", "b\n", "a\n"], b=[])
def test_diff_pairs_are_equal_lines_in_order(base: list[str], a: list[str], b: list[str]) -> None:
    pairs = diff(base, a)
    assert all(base[i] == a[j] for i, j in pairs)
    assert all(p[0] < q[0] and p[1] < q[1] for p, q in itertools.pairwise(pairs))
    # Never more than the longest common subsequence dynamic programming finds.
    assert len(pairs) <= _lcs_length(base, a)
    # Lines found once on each side, in the same order on both, are all matched.
    once = _once_in_both(base, a)
    if [line for line in base if line in once] == [line for line in a if line in once]:
        assert {base[i] for i, _ in pairs} >= once
    merged = merge3("".join(base), "".join(a), "".join(b))
    assert (merged.conflicts > 0) == has_conflict_markers(merged.text)


def _once_in_both(a: list[str], b: list[str]) -> set[str]:
    count_a, count_b = Counter(a), Counter(b)
    return {line for line in count_a if count_a[line] == 1 and count_b[line] == 1}


def _lcs_length(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a)):
        for j in range(len(b)):
            table[i + 1][j + 1] = (
                table[i][j] + 1 if a[i] == b[j] else max(table[i][j + 1], table[i + 1][j])
            )
    return table[-1][-1]


@st.composite
def insertions(draw: st.DrawFn) -> tuple[list[str], dict[int, list[str]], dict[int, list[str]]]:
    """A base of distinct lines and, per side, lines inserted at distinct gaps."""
    size = draw(st.integers(min_value=1, max_value=10))
    base = [f"base {i}\n" for i in range(size)]
    gaps = draw(st.lists(st.integers(0, size), min_size=2, max_size=2, unique=True))
    yours_gap, theirs_gap = gaps
    yours = draw(st.lists(st.sampled_from(["mine\n", "dep = 1\n", "\n"]), min_size=1, max_size=3))
    theirs = draw(
        st.lists(st.sampled_from(["generated\n", "dep = 2\n", "\n"]), min_size=1, max_size=3)
    )
    return base, {yours_gap: yours}, {theirs_gap: theirs}


def _insert(base: list[str], at: dict[int, list[str]]) -> list[str]:
    out: list[str] = []
    for i in range(len(base) + 1):
        out.extend(at.get(i, []))
        if i < len(base):
            out.append(base[i])
    return out


@settings(max_examples=300, deadline=None)
@given(insertions())
def test_both_sides_additions_at_different_places_are_kept(
    case: tuple[list[str], dict[int, list[str]], dict[int, list[str]]],
) -> None:
    base, yours_at, theirs_at = case
    yours, theirs = _insert(base, yours_at), _insert(base, theirs_at)
    result = merge3("".join(base), "".join(yours), "".join(theirs))
    assert result.conflicts == 0, result.text
    assert result.text == "".join(_insert(base, yours_at | theirs_at))


# ------------------------------------------------------------------ scale


def _peak_mb(base: str, yours: str, theirs: str) -> tuple[str, int, float]:
    tracemalloc.start()
    try:
        result = merge3(base, yours, theirs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result.text, result.conflicts, peak / 1e6


def test_a_5000_line_rewrite_of_a_merged_file_merges_in_bounded_memory() -> None:
    """The user's own 5,000 lines against purista's one-line change: a single conflict.

    The diff kept a copy of its frontier per edit: 414 MB for this merge.
    """
    base = [f"generated line {i}\n" for i in range(200)]
    yours = [f"the user's line {i}\n" for i in range(5000)]
    theirs = [*base[:100], "generated line 100, changed\n", *base[101:]]
    text, conflicts, peak = _peak_mb("".join(base), "".join(yours), "".join(theirs))
    assert peak < 50, f"{peak:.0f} MB"
    assert conflicts == 1
    assert text.startswith("<<<<<<< yours\nthe user's line 0\n")
    assert text.endswith(">>>>>>> purista\n")


def test_dense_edits_on_both_sides_of_3000_lines_merge_in_bounded_memory() -> None:
    base = [f"line {i}\n" for i in range(3000)]
    yours = [f"mine {i}\n" if i % 2 == 0 else line for i, line in enumerate(base)]
    theirs = [f"purista {i}\n" if i % 3 == 0 else line for i, line in enumerate(base)]
    text, conflicts, peak = _peak_mb("".join(base), "".join(yours), "".join(theirs))
    assert peak < 50, f"{peak:.0f} MB"
    # In each six lines, both changed line 0, and lines 2 to 4 are one region both changed
    # (yours 2 and 4, purista's 3): two conflicts, as diff3 has them; 1 and 5 are kept.
    assert conflicts == 1000
    assert text.startswith(
        "<<<<<<< yours\nmine 0\n=======\npurista 0\n>>>>>>> purista\nline 1\n"
        "<<<<<<< yours\nmine 2\nline 3\nmine 4\n=======\nline 2\npurista 3\nline 4\n"
        ">>>>>>> purista\nline 5\n<<<<<<< yours\nmine 6\n"
    )
