"""The team skeleton: a copier template rendered over `purista new`'s project, once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from support import purista, tree

SKELETON_FILES = {".github/workflows/ci.yml", ".pre-commit-config.yaml"}


def template(root: Path, files: dict[str, str], config: str = "") -> Path:
    """A copier template of the test's own."""
    root.mkdir()
    (root / "copier.yml").write_text(
        "_templates_suffix: .jinja\nproject_name: {type: str}\npackage: {type: str}\n"
        "services: {type: yaml, default: []}\n" + config,
        encoding="utf-8",
    )
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def test_new_adds_the_built_in_skeleton_which_generate_never_touches(tmp_path: Path) -> None:
    made = purista("new", "shop", "--example", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "shop"
    assert SKELETON_FILES <= set(tree(project))
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text(encoding="utf-8"))
    steps = [step.get("run", "") for step in workflow["jobs"]["test"]["steps"]]
    assert "purista generate --check" in steps
    assert "pytest" in steps
    assert "redis" in workflow["jobs"]["test"]["services"]
    hooks = yaml.safe_load((project / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    assert [h["id"] for h in hooks["repos"][0]["hooks"]] == ["ruff-check", "ruff-format"]
    # It lives inside purista, not in a git repository `copier update` could follow.
    assert not (project / ".copier-answers.yml").exists()

    assert purista("generate", "--check", cwd=project).returncode == 0
    (project / ".pre-commit-config.yaml").write_text("repos: []  # ours now\n", encoding="utf-8")
    (project / ".github/workflows/ci.yml").unlink()
    regenerated = purista("generate", "--force", cwd=project)
    assert regenerated.returncode == 0, regenerated.stderr
    assert "pre-commit" not in regenerated.stdout + regenerated.stderr
    assert not (project / ".github/workflows/ci.yml").exists()
    assert (project / ".pre-commit-config.yaml").read_text(encoding="utf-8") == (
        "repos: []  # ours now\n"
    )
    assert purista("generate", "--check", cwd=project).returncode == 0


def test_no_skeleton_adds_none(tmp_path: Path) -> None:
    made = purista("new", "bare", "--no-skeleton", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert not SKELETON_FILES & set(tree(tmp_path / "bare"))


def test_a_teams_own_skeleton_gets_the_projects_names_and_services(tmp_path: Path) -> None:
    source = template(
        tmp_path / "team",
        {
            "CODEOWNERS.jinja": """\
                # {{ project_name }}
                {% for s in services %}/src/{{ package }}/services/{{ s.name }}/ @team-{{ s.name }}
                {% endfor %}""",
            "LICENSE": "MIT\n",
            "{{_copier_conf.answers_file}}.jinja": "{{ _copier_answers|to_nice_yaml }}",
        },
    )
    made = purista("new", "shop", "--example", "--skeleton", str(source), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "shop"
    owners = (project / "CODEOWNERS").read_text(encoding="utf-8")
    assert "/src/shop/services/order/ @team-order" in owners
    assert (project / "LICENSE").read_text(encoding="utf-8") == "MIT\n"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_src_path"] == str(source)
    assert (answers["project_name"], answers["package"]) == ("shop", "shop")
    assert [s["name"] for s in answers["services"]] == ["email", "order", "user"]
    assert not (project / ".github").exists()  # the built-in skeleton is not added too


def test_a_skeleton_writing_files_purista_owns_is_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    source = template(
        tmp_path / "hostile",
        {
            "purista.yaml": "project: {name: stolen}\n",
            "src/{{ package }}/_purista/app.py.jinja": "raise SystemExit\n",
            "NOTES.md": "fine on its own\n",
        },
    )
    refused = purista("new", "shop", "--skeleton", str(source), cwd=tmp_path)
    assert refused.returncode == 2
    assert "purista.yaml" in refused.stderr
    assert "src/shop/_purista/app.py" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "shop").exists()


@pytest.mark.parametrize("trust", [False, True])
def test_a_skeletons_tasks_run_only_when_trusted(tmp_path: Path, trust: bool) -> None:
    source = template(
        tmp_path / "tasky",
        {"README.extra": "x\n"},
        config='_tasks:\n  - "touch task-ran"\n',
    )
    made = purista(
        "new", "shop", "--skeleton", str(source), *(["--trust"] if trust else []), cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "shop" / "README.extra").exists()
    assert (tmp_path / "shop" / "task-ran").exists() is trust


def test_a_skeleton_that_cannot_be_rendered_is_a_clear_error(tmp_path: Path) -> None:
    missing = purista("new", "shop", "--skeleton", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 2
    assert "skeleton" in missing.stderr
    assert "Traceback" not in missing.stderr
    both = purista("new", "shop", "--skeleton", "x", "--no-skeleton", cwd=tmp_path)
    assert both.returncode == 2
    assert not (tmp_path / "shop").exists()
