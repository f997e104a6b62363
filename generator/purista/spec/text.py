"""Text and numbers every target can carry: checked in the spec as the user wrote it.

The spec's strings reach Python docstrings and literals, TOML, YAML, JSON and Markdown.
Each of those can carry any text but control characters (other than newline and tab)
and lone surrogates, and JSON has no infinity or NaN; such values are refused here,
located, instead of reaching the generated project changed.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterator
from typing import Any

from purista.errors import SpecError
from purista.load import Path_, Positions

_ALLOWED_CONTROLS = frozenset("\n\t")


def check_text(data: Any, pos: Positions, schemas: set[Path_]) -> Iterator[SpecError]:
    """A located error for each string or number of `data` no target can carry.

    Keys are checked inside the JSON Schemas at `schemas` (property names); elsewhere
    keys are names, which their own pattern checks.
    """
    yield from _walk(data, (), pos, schemas, in_schema=False)


def _walk(
    value: Any, path: Path_, pos: Positions, schemas: set[Path_], *, in_schema: bool
) -> Iterator[SpecError]:
    in_schema = in_schema or path in schemas
    if isinstance(value, str):
        problem = _text_problem(value)
        if problem:
            yield pos.error(path, problem)
    elif isinstance(value, float) and not math.isfinite(value):
        yield pos.error(path, f"expected a finite number, not {value} (JSON has no {_word(value)})")
    elif isinstance(value, dict):
        for key, item in value.items():
            if in_schema and isinstance(key, str) and (problem := _text_problem(key)):
                yield pos.error((*path, key), problem, at_key=True)
            yield from _walk(item, (*path, key), pos, schemas, in_schema=in_schema)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index), pos, schemas, in_schema=in_schema)


def _text_problem(text: str) -> str | None:
    """Why `text` cannot be carried, or None."""
    for index, char in enumerate(text):
        kind = unicodedata.category(char)
        if kind == "Cc" and char not in _ALLOWED_CONTROLS:
            what = f"the control character U+{ord(char):04X}"
        elif kind == "Cs":
            what = f"the lone surrogate U+{ord(char):04X}"
        else:
            continue
        return (
            f"text may not contain {what} (at character {index + 1}); "
            "only newline and tab are allowed among control characters"
        )
    return None


def _word(value: float) -> str:
    return "NaN" if math.isnan(value) else "infinity"
