"""Random sequences of spec edits and user edits: nothing of the user's is ever lost.

After every step, every line a user added is still in its file, and after every
regeneration the project passes `ruff check` and imports (its package, every
service's tasks and every handler).
"""

from __future__ import annotations

import io
import itertools
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from regen_support import copy, imports, make, ok, read_manifest, ruff_check
from ruamel.yaml import YAML

NAMES = ("alpha", "beta", "gammaRay", "delta-x")
TYPES = ("string", "integer", "boolean", "number")

Step = tuple[str, int, str]
steps = st.tuples(
    st.sampled_from(["add", "remove", "rename", "schema", "handler", "readme", "pyproject"]),
    st.integers(min_value=0, max_value=20),
    st.sampled_from(NAMES + TYPES),
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make("minimal", tmp_path_factory.mktemp("pristine"))


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(steps, min_size=2, max_size=6))
def test_random_spec_and_user_edits_never_lose_a_users_line(
    pristine: Path, plan: list[Step]
) -> None:
    with tempfile.TemporaryDirectory(prefix="purista-property-") as tmp:
        root = copy(pristine, Path(tmp) / "hello")
        Session(root).run(plan)


class Session:
    """One project and the lines its user added, by file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.spec = root / "purista.yaml"
        self.kept: dict[str, list[str]] = {}
        self.counter = itertools.count()

    def run(self, plan: list[Step]) -> None:
        for kind, index, name in plan:
            regenerated = getattr(self, kind)(index, name)
            self.assert_nothing_lost()
            if regenerated:
                lint = ruff_check(self.root)
                assert lint.returncode == 0, lint.stdout
                imported = imports(self.root, "hello")
                assert imported.returncode == 0, imported.stderr

    # ---------------------------------------------------------------- spec edits

    def add(self, _: int, name: str) -> bool:
        if name in self.commands() or name in TYPES:
            return False
        ok("add", "command", "greeter", name, "-d", f"The {name} command", cwd=self.root)
        return True

    def remove(self, index: int, _: str) -> bool:
        commands = self.commands()
        if len(commands) < 2:
            return False
        return self.edit(
            lambda doc: doc["services"]["greeter"]["commands"].pop(
                list(commands)[index % len(commands)]
            )
        )

    def rename(self, index: int, name: str) -> bool:
        commands = self.commands()
        if name in commands or name in TYPES:
            return False
        old = list(commands)[index % len(commands)]

        def change(doc: dict) -> None:
            group = doc["services"]["greeter"]["commands"]
            position = list(group).index(old)
            group.insert(position, name, group.pop(old))

        return self.edit(change)

    def schema(self, index: int, kind: str) -> bool:
        commands = self.commands()
        target = list(commands)[index % len(commands)]
        field = f"field{index % 3}"

        def change(doc: dict) -> None:
            payload = doc["services"]["greeter"]["commands"][target]["payload"]
            payload.setdefault("properties", {})[field] = {
                "type": kind if kind in TYPES else "string"
            }

        return self.edit(change)

    # ---------------------------------------------------------------- user edits

    def handler(self, index: int, _: str) -> bool:
        files = sorted(
            p
            for p, e in read_manifest(self.root).items()
            if e["owner"] == "user" and p.endswith(".py")
        )
        self.append(files[index % len(files)], "# kept {}\n")
        return False

    def readme(self, _: int, __: str) -> bool:
        self.append("README.md", "Our note {}.\n")
        return False

    def pyproject(self, _: int, __: str) -> bool:
        self.append("pyproject.toml", "# kept {}\n")
        return False

    # ---------------------------------------------------------------- helpers

    def commands(self) -> dict:
        return YAML(typ="safe").load(self.spec.read_text())["services"]["greeter"]["commands"]

    def edit(self, change: object) -> bool:
        yaml = YAML(typ="rt")
        doc = yaml.load(self.spec.read_text())
        change(doc)  # type: ignore[operator]
        out = io.StringIO()
        yaml.dump(doc, out)
        self.spec.write_text(out.getvalue())
        result = ok("generate", cwd=self.root)
        assert "conflict" not in result.stdout, result.stdout
        return True

    def append(self, path: str, line: str) -> None:
        text = line.format(next(self.counter))
        target = self.root / path
        target.write_text(target.read_text() + text)
        self.kept.setdefault(path, []).append(text)

    def assert_nothing_lost(self) -> None:
        for path, lines in self.kept.items():
            text = (self.root / path).read_text()
            for line in lines:
                assert line in text, f"{line!r} lost from {path}"
