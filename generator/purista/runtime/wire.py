# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""Payloads between Python and the wire: models or dicts in, JSON objects out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import InvalidPayload

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], value: Any, what: str) -> M:
    """`value` (a model or a mapping) as `model`, or `InvalidPayload` naming each failing field."""
    if isinstance(value, BaseModel):
        value = dump(value)
    elif not isinstance(value, Mapping):
        raise InvalidPayload(f"{what} must be a JSON object, not {type(value).__name__}")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise InvalidPayload(f"{what} is invalid: {describe(exc)}") from None


def dump(model: BaseModel) -> dict[str, Any]:
    """A model as its JSON object, in the spec's spelling.

    Fields that were set are kept, an explicit `null` included; fields never set
    are left out, and the receiver's model gives them their defaults.
    """
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


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
