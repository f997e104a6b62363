"""The docs build, their spec reference is current, and new specs point editors at the schema."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from purista import reference
from purista.spec.models import Spec
from purista.spec.schema import MODELINE, SCHEMA_FILE, json_schema_text
from ruamel.yaml import YAML
from support import ROOT, purista

DOCS = ROOT / "docs"


def test_the_site_builds_with_strict_checks(tmp_path: Path) -> None:
    """`mkdocs build --strict`: every page in the nav, every link and anchor resolves."""
    site = tmp_path / "site"
    config = str(ROOT / "mkdocs.yml")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", config, "-d", str(site)],
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    page = (site / "reference" / "spec" / "index.html").read_text(encoding="utf-8")
    assert "recovery_batch_size" in page
    assert "<table>" in page


def test_the_spec_reference_is_what_the_models_say() -> None:
    on_disk = (ROOT / reference.DOCS_FILE).read_text(encoding="utf-8")
    assert reference.markdown() == on_disk, (
        f"{reference.DOCS_FILE} is out of date with the spec's models; regenerate it with "
        f"`{reference.REGENERATE}`"
    )


def test_a_new_spec_key_changes_the_reference() -> None:
    """The check above fails for a key added to the models and not to the page."""
    schema = copy.deepcopy(Spec.model_json_schema())
    schema["$defs"]["Command"]["properties"]["retries"] = {
        "type": "integer",
        "default": 0,
        "description": "How often to try again.",
    }
    text = reference.markdown(schema)
    assert text != (ROOT / reference.DOCS_FILE).read_text(encoding="utf-8")
    assert "| `retries` | integer | `0` | How often to try again. |" in text


def _objects(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [schema, *schema["$defs"].values()]


def test_every_spec_key_has_a_description_and_a_row() -> None:
    schema = Spec.model_json_schema()
    text = reference.markdown()
    for model in _objects(schema):
        for key, prop in model.get("properties", {}).items():
            assert prop.get("description"), f"{model['title']}.{key} has no description"
            assert f"| `{key}` |" in text, f"{key} is not in the reference"


def test_the_docs_stay_inside_the_repository() -> None:
    for page in DOCS.rglob("*.md"):
        text = page.read_text(encoding="utf-8")
        assert "DESIGN.md" not in text, page
        assert "shared/" not in text, page
        for target in re.findall(r"\]\(([^)#]+)", text):
            if target.startswith(("http://", "https://")):
                continue
            assert (page.parent / target).resolve().is_relative_to(DOCS), f"{page}: {target}"


@pytest.mark.parametrize("example", [[], ["--example"]], ids=["minimal", "shop"])
def test_a_new_spec_points_editors_at_the_projects_schema(
    tmp_path: Path, example: list[str]
) -> None:
    result = purista("new", "proj", *example, "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    project = tmp_path / "proj"
    text = (project / "purista.yaml").read_text(encoding="utf-8")
    assert text.startswith(MODELINE)
    target = re.match(r"# yaml-language-server: \$schema=(\S+)\n", text)
    assert target is not None
    copy_ = project / target.group(1)  # relative to the spec, as the language server reads it
    assert copy_.read_text(encoding="utf-8") == json_schema_text() == purista("schema").stdout
    schema = json.loads(copy_.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(YAML(typ="safe").load(text))
    manifest = json.loads((project / ".purista" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["files"][SCHEMA_FILE]["owner"] == "generated"
    check = purista("generate", "--check", cwd=project)
    assert check.returncode == 0, check.stdout + check.stderr


def test_purista_add_keeps_the_editor_comment(tmp_path: Path) -> None:
    assert purista("new", "proj", "--output", str(tmp_path)).returncode == 0
    project = tmp_path / "proj"
    before = (project / "purista.yaml").read_text(encoding="utf-8")
    result = purista("add", "service", "billing", "-d", "Bills", cwd=project)
    assert result.returncode == 0, result.stderr
    after = (project / "purista.yaml").read_text(encoding="utf-8")
    assert after.startswith(before.rstrip("\n"))  # the comment, and all before, kept as it was
    assert after.startswith(MODELINE)
    assert "  billing:\n" in after


def test_a_lost_schema_copy_is_written_again(tmp_path: Path) -> None:
    assert purista("new", "proj", "--output", str(tmp_path)).returncode == 0
    project = tmp_path / "proj"
    (project / SCHEMA_FILE).unlink()
    result = purista("generate", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (project / SCHEMA_FILE).read_text(encoding="utf-8") == json_schema_text()


def test_the_reference_command_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "spec.md"
    command = [sys.executable, "-m", "purista.reference"]
    result = subprocess.run([*command, str(out)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8") == reference.markdown()
    missing = tmp_path / "missing" / "spec.md"
    bad = subprocess.run([*command, str(missing)], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith(f"{missing}: cannot write the reference: ")
    assert "Traceback" not in bad.stderr
    extra = subprocess.run([*command, "a", "b"], capture_output=True, text=True, check=False)
    assert (extra.returncode, extra.stderr) == (2, "usage: python -m purista.reference [FILE]\n")
