"""The spec format's JSON Schema: what `purista schema` prints and every project carries.

A project keeps a copy at `SCHEMA_FILE`, written by `new` and `generate` like any
generated file, and the specs `purista new` writes start with `MODELINE`, a comment
that points editors using the YAML language server at that copy by a path relative
to the spec: it works offline, on every machine the project is checked out on, and
always describes the purista that last generated the project.
"""

from __future__ import annotations

import json

from purista.spec.models import Spec

SCHEMA_FILE = ".purista/purista.schema.json"
MODELINE = f"# yaml-language-server: $schema={SCHEMA_FILE}\n"


def json_schema_text() -> str:
    """The JSON Schema of `purista.yaml`, as `schemas/purista.schema.json` holds it."""
    return json.dumps(Spec.model_json_schema(), indent=2) + "\n"
