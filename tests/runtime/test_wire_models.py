"""The wire with the models purista generates: a JSON object in, the same JSON object out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from purista.models import _generate
from purista.runtime import wire
from purista.runtime.errors import InvalidPayload
from pydantic import BaseModel

SCHEMAS: dict[str, Any] = {
    "ListPayload": {
        "type": "object",
        "properties": {
            "limit": {"type": ["integer", "null"], "default": 10},
            "displayName": {"type": "string"},
            "a-b": {"type": "integer"},
            "a_b": {"type": "integer"},
            "page": {
                "type": "object",
                "properties": {
                    "size": {"type": "integer", "default": 20},
                    "cursor": {"type": "string"},
                },
            },
        },
        "additionalProperties": False,
    },
    "ListOutput": {
        "type": "object",
        "required": ["next"],
        "properties": {
            "next": {"type": ["string", "null"]},
            "status": {"type": "string", "default": "ok"},
        },
    },
}


@pytest.fixture(scope="module")
def models() -> dict[str, type[BaseModel]]:
    code = _generate([(name, json.dumps(schema)) for name, schema in SCHEMAS.items()])
    namespace: dict[str, Any] = {}
    exec(compile(code, "models.py", "exec"), namespace)
    for cls in namespace.values():
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls is not BaseModel:
            cls.model_rebuild(_types_namespace=namespace)
    return {name: namespace[name] for name in SCHEMAS}


def round_trip(model: type[BaseModel], data: Any) -> dict[str, Any]:
    """What the receiver of `data` gets: parsed by the sender's model, dumped, parsed again."""
    sent = wire.to_wire(model, data, "payload")
    return wire.dump(wire.parse(model, json.loads(json.dumps(sent)), "payload"))


def test_an_explicit_null_arrives_as_null_not_as_the_default(
    models: dict[str, type[BaseModel]],
) -> None:
    payload = models["ListPayload"]
    assert round_trip(payload, {"limit": None}) == {"limit": None}
    assert wire.parse(payload, {"limit": None}, "payload").limit is None  # type: ignore[attr-defined]


def test_a_default_arrives_and_an_absent_field_stays_absent(
    models: dict[str, type[BaseModel]],
) -> None:
    assert round_trip(models["ListPayload"], {}) == {"limit": 10}
    assert round_trip(models["ListPayload"], {"page": {}}) == {"limit": 10, "page": {"size": 20}}


def test_a_required_nullable_output_field_returned_as_none_is_sent_as_null(
    models: dict[str, type[BaseModel]],
) -> None:
    output = models["ListOutput"]
    returned = output(next=None)
    assert wire.to_wire(output, returned, "output") == {"next": None, "status": "ok"}
    assert wire.to_wire(output, {"next": None}, "output") == {"next": None, "status": "ok"}


def test_only_the_spec_property_names_are_accepted(models: dict[str, type[BaseModel]]) -> None:
    payload = models["ListPayload"]
    with pytest.raises(InvalidPayload, match="display_name: Extra inputs are not permitted"):
        wire.parse(payload, {"display_name": "ann"}, "payload")
    assert round_trip(payload, {"displayName": "ann"}) == {"limit": 10, "displayName": "ann"}


def test_two_properties_with_one_python_name_keep_their_own_values(
    models: dict[str, type[BaseModel]],
) -> None:
    assert round_trip(models["ListPayload"], {"a_b": 2}) == {"limit": 10, "a_b": 2}
    assert round_trip(models["ListPayload"], {"a-b": 1}) == {"limit": 10, "a-b": 1}
