"""Payloads between Python and the wire: parsing, dumping and error messages (`wire`)."""

from __future__ import annotations

import pytest
from purista.runtime import wire
from purista.runtime.errors import InvalidPayload
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from runtime_double.models import GreetedEvent, GreetOutput, GreetPayload


class Address(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    street_name: str = Field(alias="streetName")


class Person(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    first_name: str = Field(alias="firstName")
    nick: str | None = None
    address: Address | None = None


class Window(BaseModel):
    start: int
    end: int

    @model_validator(mode="after")
    def ordered(self) -> Window:
        if self.end < self.start:
            raise ValueError("end before start")
        return self


class Nullable(BaseModel):
    """What datamodel-code-generator writes for a required `["integer", "null"]` property."""

    model_config = ConfigDict(populate_by_name=True)
    value: int | None
    label: str | None = "unnamed"


# ------------------------------------------------------------------------- parse


def test_parse_takes_a_mapping() -> None:
    payload = wire.parse(GreetPayload, {"name": "ann", "shout": True}, "payload")
    assert isinstance(payload, GreetPayload)
    assert (payload.name, payload.shout, payload.sleep) == ("ann", True, 0.0)


def test_parse_takes_a_model_of_the_same_or_another_class() -> None:
    same = GreetPayload(name="ann", job=True)
    parsed = wire.parse(GreetPayload, same, "payload")
    assert parsed == same
    event = wire.parse(GreetedEvent, GreetOutput(greeting="hello ann", name="ann"), "event")
    assert event == GreetedEvent(name="ann")


def test_parse_reads_a_model_in_the_spec_spelling() -> None:
    person = wire.parse(Person, Person(first_name="ann"), "payload")
    assert person.first_name == "ann"
    assert wire.parse(Person, {"firstName": "bob"}, "payload").first_name == "bob"


def test_parse_takes_only_the_spec_spelling_of_a_json_object() -> None:
    with pytest.raises(InvalidPayload, match=r"^payload is invalid: firstName: Field required$"):
        wire.parse(Person, {"first_name": "ann"}, "payload")


@pytest.mark.parametrize(
    ("value", "type_name"),
    [(["name"], "list"), ("ann", "str"), (3, "int"), (None, "NoneType")],
)
def test_parse_refuses_what_is_not_an_object_naming_its_type(value: object, type_name: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        wire.parse(GreetPayload, value, "payload of greeter.v1.greet")
    assert (
        str(caught.value) == f"payload of greeter.v1.greet must be a JSON object, not {type_name}"
    )


def test_parse_names_every_failing_field() -> None:
    with pytest.raises(InvalidPayload) as caught:
        wire.parse(GreetPayload, {"shout": "maybe", "sleep": "long", "colour": "red"}, "payload")
    message = str(caught.value)
    assert message.startswith("payload is invalid: ")
    for field in ("name: Field required", "shout: ", "sleep: ", "colour: Extra inputs"):
        assert field in message
    assert message.count("; ") == 3
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_parse_names_a_nested_field_by_its_path() -> None:
    with pytest.raises(InvalidPayload, match=r"address\.streetName: Field required"):
        wire.parse(Person, {"firstName": "ann", "address": {}}, "payload")


def test_parse_takes_a_model_whose_required_field_is_none() -> None:
    assert wire.parse(Nullable, Nullable(value=None), "output").value is None


# -------------------------------------------------------------------------- dump


def test_dump_writes_the_spec_spelling_and_leaves_out_what_was_never_set() -> None:
    person = Person(first_name="ann", address=Address(street_name="main"))
    assert wire.dump(person) == {"firstName": "ann", "address": {"streetName": "main"}}


def test_dump_keeps_an_explicit_null() -> None:
    data = wire.dump(Nullable(value=None, label=None))
    assert data == {"value": None, "label": None}
    assert wire.parse(Nullable, data, "output").label is None


def test_dump_writes_the_defaults_a_receiver_relies_on() -> None:
    assert wire.dump(Nullable(value=1)) == {"value": 1, "label": "unnamed"}


def test_dump_writes_json_values() -> None:
    class Stamp(BaseModel):
        at: float
        tags: frozenset[str]

    assert wire.dump(Stamp(at=1, tags=frozenset({"a"}))) == {"at": 1.0, "tags": ["a"]}


# ----------------------------------------------------------------------- to_wire


def test_to_wire_validates_and_returns_the_json_object() -> None:
    assert wire.to_wire(Person, {"firstName": "ann"}, "payload") == {"firstName": "ann"}
    assert wire.to_wire(GreetedEvent, GreetOutput(greeting="hi", name="ann"), "event") == {
        "name": "ann"
    }
    with pytest.raises(InvalidPayload, match=r"^event greeted is invalid: name: Field required$"):
        wire.to_wire(GreetedEvent, {}, "event greeted")


# ---------------------------------------------------------------------- describe


def test_describe_lists_each_field_with_its_problem() -> None:
    with pytest.raises(ValidationError) as caught:
        GreetPayload.model_validate({"name": 1, "sleep": "x"})
    assert wire.describe(caught.value) == (
        "name: Input should be a valid string; "
        "sleep: Input should be a valid number, unable to parse string as a number"
    )


def test_describe_names_an_error_of_the_whole_object() -> None:
    with pytest.raises(ValidationError) as caught:
        Window.model_validate({"start": 2, "end": 1})
    assert wire.describe(caught.value) == "(the object): Value error, end before start"
