"""Stage 5: typed payload models, one module per service, by datamodel-code-generator.

Each module is generated in one batch and cached by the hash of its schemas and
the generator's options, so a spec with hundreds of commands stays fast.
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib.metadata import version
from typing import Any

from purista import cache
from purista.errors import GenerationError
from purista.plan import Plan
from purista.render import GENERATED_HEADER

_OPTIONS: dict[str, Any] = {
    "input_file_type": "jsonschema",
    "output_model_type": "pydantic_v2.BaseModel",
    "target_python_version": "3.11",
    "use_annotated": True,
    "field_constraints": True,
    "snake_case_field": True,
    "allow_population_by_field_name": True,
    "use_standard_collections": True,
    "use_union_operator": True,
    "use_schema_description": True,
    "use_field_description": True,
    "disable_timestamp": True,
    "use_double_quotes": True,
    # Nested models are named after their parent (`PlaceOrderPayloadItem`), so adding
    # or removing a command never renames another command's classes.
    "parent_scoped_naming": True,
    "formatters": [],
}
_DCG_VERSION = version("datamodel-code-generator")
_ROOT_MODEL = re.compile(r"^class Model\(RootModel\[Any\]\):\n    root: Any\n", re.MULTILINE)
_DCG_HEADER = re.compile(r"\A(#[^\n]*\n)+")


def models(plan: Plan) -> dict[str, str]:
    """Every model module of the project, by path."""
    out: dict[str, str] = {}
    events = [(e.class_name, e.schema) for e in plan.events]
    out[f"src/{plan.project.package}/events.py"] = _module(events, "Event payloads.")
    for svc in plan.services:
        doc = f"Payloads and outputs of service {svc.name} v{svc.version}."
        out[f"{svc.path}/_generated/models.py"] = _module(list(svc.models), doc)
    return out


def _module(defs: list[tuple[str, str]], doc: str) -> str:
    body = _generate(defs) if defs else ""
    return f'{GENERATED_HEADER}"""{doc}"""\n\n{body}'


def _generate(defs: list[tuple[str, str]]) -> str:
    root = {"$defs": {name: _rebase(json.loads(schema), name) for name, schema in defs}}
    text = json.dumps(root)
    settings = json.dumps(_OPTIONS, sort_keys=True, default=str)
    key = hashlib.sha256(f"{_DCG_VERSION}\n{settings}\n{text}".encode()).hexdigest()
    cached = cache.get("models", key)
    if cached is not None:
        return cached
    import datamodel_code_generator as dcg  # noqa: PLC0415  (slow to import; only on a cache miss)

    try:
        code = dcg.generate(text, **_OPTIONS)
    except Exception as exc:
        raise GenerationError(
            f"datamodel-code-generator failed on {', '.join(n for n, _ in defs)}: {exc}"
        ) from exc
    if not isinstance(code, str):
        raise GenerationError("datamodel-code-generator returned no code")
    code = _ROOT_MODEL.sub("", _DCG_HEADER.sub("", code)).strip() + "\n"
    cache.put("models", key, code)
    return code


def _rebase(schema: Any, name: str) -> Any:
    """Point a schema's internal `$ref`s at its new place under `#/$defs/<name>`."""
    if isinstance(schema, list):
        return [_rebase(item, name) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _rebase(v, name) for k, v in schema.items()}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        out["$ref"] = f"#/$defs/{name}{ref[1:]}"
    return out
