"""Versions side by side: the spec's two forms, a project with two live versions, and
`purista add version` on a real project (the real CLI, real files).

The workers of two versions on Redis are tested in tests/e2e/test_versions.py.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from purista import edit
from purista.errors import SpecErrors
from purista.load import parse_spec
from purista.validate import validate_spec
from regen_support import contents, copy, make, ok, run, state
from support import ROOT, purista

SPEC = ROOT / "tests" / "specs" / "versions.yaml"
GREET = "src/hello/services/greeter/v1/commands/greet.py"
GREET_TEST = "tests/services/greeter/v1/commands/test_greet.py"
GREET_V2 = "src/hello/services/greeter/v2/commands/greet.py"
GREET_TEST_V2 = "tests/services/greeter/v2/commands/test_greet.py"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("pristine")
    result = purista("new", "versioned", "--spec", str(SPEC), "--output", str(base))
    assert result.returncode == 0, result.stderr
    return {"minimal": make("minimal", base), "versioned": base / "versioned"}


@pytest.fixture
def hello(pristine: dict[str, Path], tmp_path: Path) -> Path:
    return copy(pristine["minimal"], tmp_path / "hello")


def of_version(files: dict[str, bytes], service: str, version: int) -> dict[str, bytes]:
    """The files of one version of a service: its package and its tests."""
    marks = (f"/services/{service}/v{version}/",)
    return {path: data for path, data in files.items() if any(m in path for m in marks)}


# ------------------------------------------------------------------ a project with two versions


def test_each_version_has_its_own_worker_queue_deployment_and_folders(
    pristine: dict[str, Path],
) -> None:
    root = pristine["versioned"]
    for version in (1, 2):
        base = root / f"src/versioned/services/user/v{version}"
        assert (base / "commands/sign_up.py").is_file()
        assert (base / "subscriptions/audit.py").is_file()
        assert (root / f"tests/services/user/v{version}/commands/test_sign_up.py").is_file()
        manifest = (root / f"k8s/base/workers/versioned-user-v{version}.yaml").read_text()
        assert f'command: ["python", "-m", "versioned", "worker", "user.v{version}"]' in manifest
    # The job queue belongs to v1 only; v2 has no queues folder.
    assert (root / "src/versioned/services/user/v1/queues/import_users.py").is_file()
    assert not (root / "src/versioned/services/user/v2/queues").exists()
    # Each version's handlers import their own version's models.
    v2 = (root / "src/versioned/services/user/v2/commands/sign_up.py").read_text()
    assert "versioned.services.user.v2._generated.models import" in v2
    project = (root / "src/versioned/_purista/project.py").read_text()
    for expected in (
        '"user.v1": ServiceInfo(',
        '"user.v2": ServiceInfo(',
        'consumes=("versioned.user.v1", "versioned.user.v1.audit")',
        'consumes=("versioned.user.v2", "versioned.user.v2.audit")',
        'Route(task="user.v1.audit", queue="versioned.user.v1.audit")',
        'Route(task="user.v2.audit", queue="versioned.user.v2.audit")',
    ):
        assert expected in project
    readme = (root / "README.md").read_text()
    assert "| user v1 | `versioned.user.v1` |" in readme
    assert "| user v2 | `versioned.user.v2` |" in readme
    assert "user runs v1 and v2 side by side" in readme
    compose = (root / "docker-compose.yaml").read_text()
    assert '["worker", "user.v1"]' in compose
    assert '["worker", "user.v2"]' in compose


def test_plan_lists_each_version_as_a_worker_of_its_own(pristine: dict[str, Path]) -> None:
    result = ok("plan", "--json", cwd=pristine["versioned"])
    workers = {(w["name"], w["version"]) for w in json.loads(result.stdout)["workers"]}
    assert {("user", 1), ("user", 2), ("portal", 1), ("importUsers", 1)} <= workers
    table = ok("plan", cwd=pristine["versioned"]).stdout
    assert "user v1" in table
    assert "user v2" in table


def test_a_caller_gets_an_invoke_per_version_it_names(pristine: dict[str, Path]) -> None:
    context = pristine["versioned"] / "src/versioned/services/portal/v1/_generated/context.py"
    text = context.read_text()
    assert "self.v1 = _RegisterInvokeUserV1(bridge, message)" in text
    assert "self.v2 = _RegisterInvokeUserV2(bridge, message)" in text
    assert 'COMMANDS["user.v2.signUp"], data, user_v2.SignUpOutput' in text


# ------------------------------------------------------------------ the spec


def spec_of(text: str, tmp_path: Path) -> object:
    path = tmp_path / "purista.yaml"
    path.write_text(textwrap.dedent(text))
    return validate_spec(parse_spec(path.read_text(), path))


def test_a_version_may_invoke_another_version_of_its_own_service(tmp_path: Path) -> None:
    spec_of(
        """
        spec_version: 1
        project: {name: p}
        services:
          user:
            versions:
              1: {commands: {signUp: {}}}
              2: {commands: {signUp: {can_invoke: [user.v1.signUp]}}}
        """,
        tmp_path,
    )


def test_a_version_invoking_itself_or_a_circle_of_versions_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecErrors) as caught:
        spec_of(
            """
            spec_version: 1
            project: {name: p}
            services:
              user:
                versions:
                  1: {commands: {a: {can_invoke: [user.v1.b]}, b: {}}}
                  2: {commands: {a: {can_invoke: [other.v1.a]}}}
              other:
                commands: {a: {can_invoke: [user.v2.a]}}
            """,
            tmp_path,
        )
    messages = [f"{e.path}: {e.message}" for e in caught.value.errors]
    assert any(
        m.startswith("services.user.versions.1.commands.a.can_invoke[0]: `user.v1.b` is a command")
        for m in messages
    ), messages
    assert any("(other -> user.v2 -> other)" in m for m in messages), messages


# ------------------------------------------------------------------ add version


def test_add_version_copies_the_newest_block_and_keeps_the_comments() -> None:
    text = (ROOT / "schemas/examples/shop.yaml").read_text()
    new = edit.add_version(text, "user")
    assert (new.copied, new.version) == (1, 2)
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            assert line in new.edited.text.splitlines()
    assert "# the output must satisfy the event's schema" in new.edited.text
    spec = validate_spec(parse_spec(new.edited.text, ROOT / "schemas/examples/shop.yaml"))
    user = spec.services["user"]
    assert sorted(user.live()) == [1, 2]
    # The copy has v1's commands; its queue stays with v1 (names are project-wide).
    assert list(user.live()[2].commands) == list(user.live()[1].commands)
    assert user.live()[2].queues == {}
    assert list(user.live()[1].queues) == ["processAvatar"]
    # A third version copies the second, in the `versions:` form already there.
    third = edit.add_version(new.edited.text, "user")
    assert (third.copied, third.version) == (2, 3)


COMMENTED = """\
spec_version: 1
project: {name: p}
services:
  # the user service
  user:
    version: 1   # bump when breaking
    # what it does
    description: Users
    # how it runs
    deployment: {replicas: 2}  # two
    commands:
      # sign-up
      signUp: {}   # the first
    queues:
      q: {}
  # another
  other:
    commands: {a: {}}
"""


def test_an_inline_service_becomes_the_versions_form_with_its_comments_in_place() -> None:
    new = edit.add_version(COMMENTED, "user")
    assert new.edited.text == textwrap.dedent(
        """\
        spec_version: 1
        project: {name: p}
        services:
          # the user service
          user:
            # what it does
            description: Users
            versions: # bump when breaking
              1:
                # how it runs
                deployment: {replicas: 2}  # two
                commands:
                  # sign-up
                  signUp: {}   # the first
                queues:
                  q: {}
              2:
                deployment: {replicas: 2}  # two
                commands:
                  # sign-up
                  signUp: {}   # the first
          # another
          other:
            commands: {a: {}}
        """
    )


def test_carry_over_changes_only_what_names_the_version() -> None:
    text = textwrap.dedent(
        '''
        """Command user.v1.signUp: Register a new user."""
        from shop.services.user.v1._generated.context import SignUpContext
        from shop.services.user.v10._generated import models
        TASK = "user.v1.signUp"
        OTHER = "superuser.v1.signUp"
        CALL = "context.invoke.user.v1.get_user"
        '''
    )
    carried = edit.carry_over(text, "shop", "user", 1, 2)
    assert carried == text.replace(
        '"""Command user.v1.signUp', '"""Command user.v2.signUp'
    ).replace("services.user.v1._generated.context", "services.user.v2._generated.context").replace(
        'TASK = "user.v1.signUp"', 'TASK = "user.v2.signUp"'
    )


def test_add_version_keeps_v1_byte_identical_and_carries_its_handlers_over(hello: Path) -> None:
    (hello / GREET).write_text((hello / GREET).read_text() + "\n# my own line\n")
    before = state(hello)
    result = ok("add", "version", "greeter", cwd=hello)
    assert f"created {GREET_V2}" in result.stdout
    after = state(hello)
    for path, (data, mtime) in before.items():
        if "/greeter/v1/" in path:
            assert after[path] == (data, mtime), path
    for old, new in ((GREET, GREET_V2), (GREET_TEST, GREET_TEST_V2)):
        expected = before[old][0].decode().replace("greeter.v1.", "greeter.v2.")
        expected = expected.replace("hello.services.greeter.v1.", "hello.services.greeter.v2.")
        assert (hello / new).read_text() == expected
    assert (hello / GREET_V2).read_text().endswith("\n# my own line\n")
    spec = (hello / "purista.yaml").read_text()
    assert spec.startswith("# The smallest useful spec: one service, one command.\n")
    assert "    description: Greets people\n    versions:\n      1:\n" in spec
    assert "\n      2:\n        commands:\n          greet:\n" in spec
    # Nothing left to do, and an existing version is refused, changing nothing.
    assert ok("generate", cwd=hello).stdout == "up to date\n"
    done = contents(hello)
    again = run("add", "version", "greeter", "2", cwd=hello)
    assert again.returncode == 2
    assert "service `greeter` already has version 2" in again.stderr
    assert contents(hello) == done


def test_add_version_refuses_an_unknown_service_and_changes_nothing(hello: Path) -> None:
    before = state(hello)
    result = run("add", "version", "nobody", cwd=hello)
    assert result.returncode == 2
    assert "there is no service `nobody` in the spec" in result.stderr
    assert state(hello) == before


def test_add_command_goes_to_the_newest_version_or_the_one_named(hello: Path) -> None:
    ok("add", "version", "greeter", cwd=hello)
    ok("add", "command", "greeter", "wave", cwd=hello)
    assert (hello / "src/hello/services/greeter/v2/commands/wave.py").is_file()
    ok("add", "command", "greeter", "nod", "--version", "1", cwd=hello)
    assert (hello / "src/hello/services/greeter/v1/commands/nod.py").is_file()
    result = run("add", "command", "greeter", "bow", "--version", "7", cwd=hello)
    assert result.returncode == 2
    assert "service `greeter` has no version 7 (it has 1, 2)" in result.stderr


# ------------------------------------------------------------------ regeneration


V2 = """\
      2:
        commands:
          greet:
            payload:
              type: object
              properties: {name: {type: string}, language: {type: string}}
              required: [name, language]
            output: {type: object, properties: {message: {type: string}}, required: [message]}
"""


V2_ONLY = """\
    version: 2
    commands:
      greet:
        payload:
          type: object
          properties: {name: {type: string}, language: {type: string}}
          required: [name, language]
        output: {type: object, properties: {message: {type: string}}, required: [message]}
"""


def test_adding_v2_by_hand_creates_its_files_and_removing_v1_leaves_orphans(hello: Path) -> None:
    spec = hello / "purista.yaml"
    head, commands = spec.read_text().split("    version: 1\n    description: Greets people\n")
    # v1 exactly as it was, moved under `versions`, and a v2 beside it.
    v1 = textwrap.indent(commands, "    ")
    spec.write_text(head + "    description: Greets people\n    versions:\n      1:\n" + v1 + V2)
    (hello / GREET).write_text((hello / GREET).read_text() + "\n# my own line\n")
    before = state(hello)
    result = ok("generate", cwd=hello)
    after = state(hello)
    assert f"created {GREET_V2}" in result.stdout
    changed_v1 = [p for p in before if "/greeter/v1/" in p and after.get(p) != before[p]]
    assert changed_v1 == []
    assert "orphan" not in result.stdout
    # v1 leaves: its handlers stay, reported as orphans with their v2 counterparts.
    spec.write_text(head + "    description: Greets people\n" + V2_ONLY)
    result = run("generate", cwd=hello)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"orphan: {GREET} (command greeter.v1.greet, no longer in the spec); "
        f"its counterpart is {GREET_V2}"
    ) in result.stdout
    assert (hello / GREET).read_text().endswith("\n# my own line\n")
    assert not (hello / "src/hello/services/greeter/v1/_generated").exists()


def test_a_command_leaving_one_of_two_live_versions_is_an_orphan_not_a_move(hello: Path) -> None:
    ok("add", "version", "greeter", cwd=hello)
    ok("add", "command", "greeter", "wave", "--version", "1", cwd=hello)
    spec = hello / "purista.yaml"
    text = spec.read_text()
    # greet leaves v1 (which keeps wave) and stays in v2.
    v1_greet = text[text.index("          greet:\n") : text.index("          wave:\n")]
    spec.write_text(text.replace(v1_greet, "", 1))
    result = ok("generate", cwd=hello)
    assert f"orphan: {GREET} (command greeter.v1.greet, no longer in the spec)" in result.stdout
    assert "is now v2" not in result.stdout
    assert (hello / "src/hello/services/greeter/v1/_generated/tasks.py").is_file()
