"""Benchmark the three-way merge of a merged file (run on demand; not a test).

    .venv/bin/python benchmarks/merge.py

Two cases that were slow and large with the hand-written Myers diff it replaced
(3.4 s and 414 MB; 1.1 s and 214 MB):

- rewrite: the user replaced a 200-line merged file by 5,000 lines of their own,
  and purista changed one of its 200 lines;
- dense: on a 3,000-line file the user changed every second line and purista every
  third.

A third, `repeated`, shows the limit of the line matcher (see its docstring). For
each it prints the wall time of `merge3` and the peak of memory Python allocated
during it (tracemalloc). Last figures (a shared 2-core machine, python 3.11):

    case            time   peak memory  conflicts
    rewrite        5.9ms        1.2 MB          1
    dense         80.6ms        1.4 MB       1000
    repeated       8.3ms        0.6 MB          1
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

from purista.merge import Merge, merge3


def rewrite() -> tuple[str, str, str]:
    """200 lines of base, 5,000 lines of the user's own, one line changed by purista."""
    base = [f"generated line {i}\n" for i in range(200)]
    yours = [f"the user's line {i}\n" for i in range(5000)]
    theirs = [*base[:100], "generated line 100, changed\n", *base[101:]]
    return "".join(base), "".join(yours), "".join(theirs)


def dense() -> tuple[str, str, str]:
    """3,000 lines; the user changed every second one, purista every third."""
    base = [f"line {i}\n" for i in range(3000)]
    yours = [f"mine {i}\n" if i % 2 == 0 else line for i, line in enumerate(base)]
    theirs = [f"purista {i}\n" if i % 3 == 0 else line for i, line in enumerate(base)]
    return "".join(base), "".join(yours), "".join(theirs)


def repeated() -> tuple[str, str, str]:
    """3,000 lines of only `}` and blank lines; the user changed every fourth, purista every sixth.

    No line is found once on each side, so nothing anchors the diff; difflib's matcher
    would take minutes here, and the region is taken as changed whole.
    """
    base = ["}\n" if i % 2 else "\n" for i in range(3000)]
    yours = ["mine\n" if i % 4 == 0 else line for i, line in enumerate(base)]
    theirs = ["purista\n" if i % 6 == 0 else line for i, line in enumerate(base)]
    return "".join(base), "".join(yours), "".join(theirs)


def measure(case: Callable[[], tuple[str, str, str]]) -> tuple[Merge, float, float]:
    """The merge of `case`, its wall time in seconds and its peak allocation in MB.

    Time and memory come from two runs: tracemalloc slows allocation several times.
    """
    base, yours, theirs = case()
    started = time.perf_counter()
    result = merge3(base, yours, theirs)
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    merge3(base, yours, theirs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, elapsed, peak / 1e6


def main() -> None:
    """Print each case's time, peak memory and number of conflicts."""
    print(f"{'case':<10}{'time':>10}{'peak memory':>14}{'conflicts':>11}")
    for case in (rewrite, dense, repeated):
        result, elapsed, peak = measure(case)
        print(f"{case.__name__:<10}{elapsed * 1000:>8.1f}ms{peak:>11.1f} MB{result.conflicts:>11}")


if __name__ == "__main__":
    main()
