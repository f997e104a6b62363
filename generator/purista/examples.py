"""The built-in example specs `purista new` starts from."""

from __future__ import annotations

import io
from pathlib import Path

from ruamel.yaml import YAML

from purista.paths import data_dir
from purista.spec.names import KubeName
from purista.spec.schema import MODELINE

EXAMPLES = {"minimal": "minimal.yaml", "shop": "shop.yaml"}


def example_path(name: str) -> Path:
    """The path of a built-in example spec."""
    return data_dir("schemas") / "examples" / EXAMPLES[name]


def example_text(name: str, project_name: str) -> str:
    """A built-in example spec renamed to `project_name`, comments and layout kept.

    It starts with the comment that gives editors the project's copy of the schema.
    """
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    doc = yaml.load(example_path(name).read_text(encoding="utf-8"))
    doc["project"]["name"] = project_name
    if "kubernetes" in doc.get("infrastructure", {}):
        doc["infrastructure"]["kubernetes"]["namespace"] = str(KubeName(project_name))
    out = io.StringIO()
    yaml.dump(doc, out)
    return MODELINE + out.getvalue()
