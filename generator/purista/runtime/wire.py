# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""Payloads between Python and the wire: models or dicts in, JSON objects out."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, RootModel, ValidationError

from .errors import InvalidPayload

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], value: Any, what: str) -> M:
    """`value` (a model or a mapping) as `model`, or `InvalidPayload` naming each failing field."""
    if isinstance(value, BaseModel):
        value = dump(value)
    elif not isinstance(value, Mapping):
        raise InvalidPayload(f"{what} must be a JSON object, not {type(value).__name__}")
    try:
        # Only the spec's property names: `displayName`, never the Python name `display_name`.
        return model.model_validate(value, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise InvalidPayload(f"{what} is invalid: {describe(exc)}") from None


def dump(model: BaseModel) -> dict[str, Any]:
    """A model as its JSON object, in the spec's spelling.

    Fields that were set are kept, an explicit `null` included, and so are the
    schema's defaults, which a receiver in any language relies on. Only a field that
    was never set and has no default (`None` stands for "absent") is left out.
    """
    return model.model_dump(mode="json", by_alias=True, exclude=_absent(model))


def _absent(value: Any) -> Any:
    """What `model_dump(exclude=...)` needs to leave out every absent field, at any depth."""
    if isinstance(value, RootModel):
        return _absent(value.root)
    if isinstance(value, BaseModel):
        optional, nested = _shape(type(value))
        absent: dict[str, Any] = {}
        if optional:
            given = value.model_fields_set
            for name in optional:
                if name not in given and getattr(value, name) is None:
                    absent[name] = True
        for name in nested:
            if name not in absent and (inner := _absent(getattr(value, name))) is not None:
                absent[name] = inner
        return absent or None
    if isinstance(value, list | tuple):
        items = {i: inner for i, item in enumerate(value) if (inner := _absent(item)) is not None}
        return items or None
    if isinstance(value, dict):
        entries = {k: inner for k, item in value.items() if (inner := _absent(item)) is not None}
        return entries or None
    return None


@functools.cache
def _shape(model: type[BaseModel]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A model's fields that may be absent (default `None`), and those that may hold models.

    Worked out once per model, so a message pays only for the fields that can matter.
    """
    fields = model.model_fields.items()
    optional = tuple(n for n, f in fields if f.default is None and f.default_factory is None)
    nested = tuple(n for n, f in fields if _holds_models(f.annotation))
    return optional, nested


def _holds_models(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_models(arg) for arg in get_args(annotation))


def to_wire(model: type[M], value: Any, what: str) -> dict[str, Any]:
    """Validate `value` against `model` and return its JSON object."""
    return dump(parse(model, value, what))


def describe(exc: ValidationError) -> str:
    """Every failing field of a validation error, one `field: problem` each."""
    problems = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(part) for part in err["loc"]) or "(the object)"
        problems.append(f"{field}: {err['msg']}")
    return "; ".join(problems)
