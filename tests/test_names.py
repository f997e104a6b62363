"""Names derived from the spec (purista.spec.names) and example payloads (purista.plan.examples)."""

from __future__ import annotations

import keyword
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for
from purista.plan.examples import example_for
from purista.spec.names import (
    NAME_MAX_LENGTH,
    ClassName,
    KubeName,
    PythonIdentifier,
    hidden_module,
    is_valid_name,
)
from support import purista

# ---------------------------------------------------------------- Python identifiers


@pytest.mark.parametrize(
    ("name", "identifier"),
    [
        ("signUp", "sign_up"),
        ("sign_up", "sign_up"),
        ("notification-service", "notification_service"),
        ("HTTPServer", "http_server"),
        ("getHTTPResponse", "get_http_response"),
        ("userV2", "user_v2"),
        ("class", "class_"),  # a keyword
        ("match", "match_"),  # a soft keyword
        ("list", "list_"),  # a builtin
        ("type", "type_"),
        ("None", "none"),
    ],
)
def test_python_identifier(name: str, identifier: str) -> None:
    assert PythonIdentifier(name) == identifier
    assert identifier.isidentifier()
    assert not keyword.iskeyword(identifier)


def test_python_identifier_is_a_str() -> None:
    ident = PythonIdentifier("signUp")
    assert isinstance(ident, str)
    assert f"def {ident}():" == "def sign_up():"


# ---------------------------------------------------------------- class names


@pytest.mark.parametrize(
    ("name", "suffix", "class_name"),
    [
        ("signUp", "", "SignUp"),
        ("sign_up", "", "SignUp"),
        ("notification-service", "", "NotificationService"),
        ("HTTPServer", "", "HttpServer"),
        ("signUp", "Payload", "SignUpPayload"),
        ("processAvatar", "Job", "ProcessAvatarJob"),
        ("none", "", "None_"),  # `None` is a keyword
        ("true", "", "True_"),
        ("none", "Payload", "NonePayload"),
    ],
)
def test_class_name(name: str, suffix: str, class_name: str) -> None:
    assert ClassName(name, suffix) == class_name
    assert class_name.isidentifier()
    assert not keyword.iskeyword(class_name)


# ---------------------------------------------------------------- Kubernetes names


@pytest.mark.parametrize(
    ("parts", "label"),
    [
        (("shop",), "shop"),
        (("notificationService",), "notification-service"),
        (("sign_up",), "sign-up"),
        (("HTTPServer",), "http-server"),
        (("shop", "user", "v1"), "shop-user-v1"),
        (("myShop", "notification_service", "v2"), "my-shop-notification-service-v2"),
    ],
)
def test_kube_name(parts: tuple[str, ...], label: str) -> None:
    assert KubeName(*parts) == label


def test_kube_name_longer_than_a_label_is_refused() -> None:
    assert len(KubeName("a" * 29, "b" * 30, "v1")) == 63
    with pytest.raises(ValueError, match="Kubernetes name"):
        KubeName("a" * 30, "b" * 30, "v1")


# ---------------------------------------------------------------- valid names


@pytest.mark.parametrize(
    "name", ["a", "shop", "signUp", "sign_up", "notification-service", "v2", "a" * NAME_MAX_LENGTH]
)
def test_valid_names(name: str) -> None:
    assert is_valid_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "../x",
        "..",
        "a/b",
        "a\\b",
        "a.b",
        "a b",
        "1abc",
        "_abc",
        "-abc",
        "abc\n",
        "\nabc",
        "ab\0c",
        "ä",
        "a" * (NAME_MAX_LENGTH + 1),
    ],
)
def test_invalid_names(name: str) -> None:
    assert not is_valid_name(name)


# ---------------------------------------------------------------- names that hide a module


@pytest.mark.parametrize(
    ("name", "hidden"),
    [
        ("dns", "the `dns` module, which the generated project's dependencies install"),
        ("requests", "the `requests` module, which the generated project's dependencies install"),
        ("google", "the `google` module, which the generated project's dependencies install"),
        ("grpc", "the `grpc` module, which the generated project's dependencies install"),
        ("typing-extensions", "the `typing_extensions` module, which the generated project's "
         "dependencies install"),
        ("packaging", "the `packaging` module, which the generated project's dependencies install"),
        ("psycopg_pool", "the `psycopg_pool` module, which the generated project's dependencies "
         "install"),
        ("test", "the `test` module"),
        ("six", "the `six` module"),
        ("json", "the standard library's `json` module"),
        ("Email", "the standard library's `email` module"),
    ],
)  # fmt: skip
def test_names_that_hide_an_installed_module(name: str, hidden: str) -> None:
    assert hidden_module(name) == hidden


@pytest.mark.parametrize("name", ["shop", "hello", "my-requests", "tester", "googleShop"])
def test_names_that_hide_nothing(name: str) -> None:
    assert hidden_module(name) is None


@pytest.mark.parametrize("name", ["requests", "test"])
def test_new_refuses_a_name_that_hides_a_module(name: str, tmp_path: Path) -> None:
    result = purista("new", name, "--output", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert f"invalid project name '{name}': its package `{name}` would hide" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_validate_locates_a_project_name_that_hides_a_dependency(tmp_path: Path) -> None:
    spec = tmp_path / "purista.yaml"
    spec.write_text("spec_version: 1\nproject:\n  name: grpc\nservices:\n  user: {}\n")
    result = purista("validate", "--spec", str(spec))
    assert result.returncode == 2
    assert result.stderr == (
        f"{spec}:3:9: project.name: the package `grpc` would hide the `grpc` module, which the "
        "generated project's dependencies install; choose another name\n"
    )


# ---------------------------------------------------------------- example payloads


def assert_valid(schema: dict[str, Any], value: Any) -> None:
    cls = validator_for(schema, default=Draft202012Validator)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    errors = [e.message for e in validator.iter_errors(value)]
    assert not errors, f"{value!r} does not validate: {errors}"


ITEM = {
    "type": "object",
    "properties": {
        "sku": {"type": "string", "pattern": "^[A-Z0-9-]{3,20}$"},
        "quantity": {"type": "integer", "minimum": 1},
    },
    "required": ["sku", "quantity"],
}


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param({"type": "string", "format": "email"}, id="email"),
        pytest.param({"type": "string", "format": "date-time"}, id="date-time"),
        pytest.param({"type": "string", "format": "date"}, id="date"),
        pytest.param({"type": "string", "format": "uuid"}, id="uuid"),
        pytest.param({"type": "string", "format": "uri"}, id="uri"),
        pytest.param({"type": "string", "format": "ipv4"}, id="ipv4"),
        pytest.param({"type": "string", "pattern": "^[A-Z0-9-]{3,20}$"}, id="pattern"),
        pytest.param({"type": "string", "pattern": "^[a-z]+$", "minLength": 10}, id="pattern-min"),
        pytest.param({"type": "string", "minLength": 10, "maxLength": 12}, id="min-max-length"),
        pytest.param({"type": "string", "maxLength": 2}, id="short-string"),
        pytest.param({"type": "integer", "minimum": 5, "maximum": 10}, id="int-range"),
        pytest.param({"type": "integer", "exclusiveMinimum": 5}, id="int-exclusive-min"),
        pytest.param({"type": "number", "exclusiveMaximum": 0}, id="negative-number"),
        pytest.param({"type": "number", "minimum": 0, "maximum": 0.5}, id="number-range"),
        pytest.param({"type": "integer", "multipleOf": 7}, id="multiple-of"),
        pytest.param({"type": "boolean"}, id="boolean"),
        pytest.param({"type": ["string", "null"]}, id="nullable"),
        pytest.param({"enum": ["b", "a"]}, id="enum"),
        pytest.param({"type": "string", "enum": ["red", "green"]}, id="typed-enum"),
        pytest.param({"const": 3}, id="const"),
        pytest.param({"oneOf": [{"type": "integer"}, {"type": "string"}]}, id="one-of"),
        pytest.param(
            {"type": "array", "items": {"type": "integer", "minimum": 3}, "minItems": 2},
            id="array-min-items",
        ),
        pytest.param(
            {"type": "array", "items": ITEM, "minItems": 1, "maxItems": 100}, id="batch-array"
        ),
        pytest.param(
            {
                "type": "object",
                "properties": {
                    "user": {
                        "type": "object",
                        "properties": {"email": {"type": "string", "format": "email"}},
                        "required": ["email"],
                        "additionalProperties": False,
                    },
                    "note": {"type": "string"},
                },
                "required": ["user"],
            },
            id="nested-object",
        ),
        pytest.param(
            {
                "$defs": {"Item": ITEM},
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 1}
                },
                "required": ["items"],
            },
            id="ref-defs",
        ),
        pytest.param(
            {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "definitions": {"Id": {"type": "string", "format": "uuid"}},
                "type": "object",
                "properties": {"id": {"$ref": "#/definitions/Id"}},
                "required": ["id"],
            },
            id="draft7-ref-definitions",
        ),
    ],
)
def test_example_validates_against_its_schema(schema: dict[str, Any]) -> None:
    value = example_for(schema)
    assert value is not None
    assert_valid(schema, value)


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param({"type": "integer", "multipleOf": 7, "minimum": 10}, id="multiple-above-min"),
        pytest.param({"type": "integer", "minimum": 2.5}, id="fractional-minimum"),
        pytest.param(
            {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, id="open-interval"
        ),
        pytest.param(
            {"type": "array", "items": {"type": "integer"}, "minItems": 2, "uniqueItems": True},
            id="unique-items",
        ),
        pytest.param({"type": "string", "pattern": "^[0-9]{5}$"}, id="digits-pattern"),
    ],
)
def test_example_of_bounded_and_patterned_values(schema: dict[str, Any]) -> None:
    value = example_for(schema)
    assert value is not None
    assert_valid(schema, value)


def test_example_of_an_object_fills_exactly_the_required_properties() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
        "required": ["a"],
    }
    assert example_for(schema) == {"a": "example"}


def test_example_takes_the_first_enum_value_and_the_const() -> None:
    assert example_for({"enum": ["b", "a"]}) == "b"
    assert example_for({"const": {"k": 1}}) == {"k": 1}


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param({"type": "integer", "minimum": 10, "maximum": 5}, id="empty-range"),
        pytest.param({"not": {}}, id="nothing-validates"),
        pytest.param({"type": "string", "format": "ipv4", "minLength": 20}, id="format-too-short"),
        pytest.param({"$ref": "other.json#/Item"}, id="ref-to-another-file"),
        pytest.param({"$ref": "#/$defs/Missing"}, id="ref-to-nothing"),
        pytest.param(
            {"type": "object", "properties": {"next": {"$ref": "#"}}, "required": ["next"]},
            id="infinitely-recursive",
        ),
        pytest.param(
            {"type": "object", "required": ["a"], "additionalProperties": False},
            id="required-but-forbidden",
        ),
    ],
)
def test_no_example_where_none_can_be_found(schema: dict[str, Any]) -> None:
    assert example_for(schema) is None
