"""`purista generate` and `purista add` on a generated project: nothing a user wrote is lost.

Each test drives the real CLI in a subprocess on a copy of a generated project.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from regen_support import contents, copy, imports, make, ok, replace_in, ruff_check, run, state
from support import purista

GREET = "src/hello/services/greeter/v1/commands/greet.py"
GREET_TEST = "tests/services/greeter/v1/commands/test_greet.py"
MINE = "\n# my own line, kept through every regeneration\n"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("pristine")
    return {spec: make(spec, base) for spec in ("minimal", "shop")}


@pytest.fixture
def hello(pristine: dict[str, Path], tmp_path: Path) -> Path:
    return copy(pristine["minimal"], tmp_path / "hello")


@pytest.fixture
def shop(pristine: dict[str, Path], tmp_path: Path) -> Path:
    return copy(pristine["shop"], tmp_path / "shop")


def append(path: Path, text: str = MINE) -> None:
    path.write_text(path.read_text() + text)


# ------------------------------------------------------------------ idempotence


def test_generate_right_after_new_and_a_second_generate_write_nothing(shop: Path) -> None:
    before = state(shop)
    assert ok("generate", cwd=shop).stdout == "up to date\n"
    assert state(shop) == before
    replace_in(shop / "purista.yaml", "description: Takes orders", "description: Takes orders fast")
    first = ok("generate", cwd=shop)
    assert "wrote src/shop/services/order/v1/__init__.py" in first.stdout
    after = state(shop)
    for args in (("generate",), ("generate", "--force"), ("generate", "--check")):
        assert ok(*args, cwd=shop).stdout == "up to date\n", args
        assert state(shop) == after, args


def test_a_changed_comment_in_the_spec_rewrites_no_project_file(hello: Path) -> None:
    append(hello / "purista.yaml", "# a note\n")
    before = state(hello)
    assert ok("generate", cwd=hello).stdout == "up to date\n"
    changed = {p for p in state(hello) if state(hello)[p] != before.get(p)}
    assert changed <= {".purista/manifest.json"}  # only the recorded inputs


def test_a_failing_run_leaves_every_file_as_it_was(hello: Path) -> None:
    replace_in(hello / "purista.yaml", "description: Says hello", "description: Says hi")
    replace_in(hello / "purista.yaml", "    version: 1\n", "    version: 1\n    replicas: 3\n")
    before = state(hello)
    for args in (("generate",), ("generate", "--force"), ("add", "event", "greeted")):
        result = run(*args, cwd=hello)
        assert result.returncode == 2, args
        assert "services.greeter.replicas: unknown key `replicas`" in result.stderr
        assert state(hello) == before, args


# ------------------------------------------------------------------ files that are yours


def test_user_edits_survive_add_remove_rename_and_schema_changes(hello: Path) -> None:
    append(hello / GREET)
    append(hello / GREET_TEST)
    spec = hello / "purista.yaml"

    ok("add", "command", "greeter", "wave", "-d", "Wave at someone", cwd=hello)
    wave = hello / "src/hello/services/greeter/v1/commands/wave.py"
    append(wave, "\n# waving, my way\n")

    replace_in(spec, "name: {type: string, minLength: 1, maxLength: 100}", "name: {type: string}")
    replace_in(spec, "required: [name]", "required: [name]\n          additionalProperties: false")
    ok("generate", cwd=hello)
    assert (hello / GREET).read_text().endswith(MINE)

    replace_in(spec, "      wave:\n", "      waveHand:\n")  # rename: the old handler is an orphan
    renamed = ok("generate", cwd=hello)
    assert wave.read_text().endswith("\n# waving, my way\n")
    assert (
        "orphan: src/hello/services/greeter/v1/commands/wave.py "
        "(command greeter.v1.wave, no longer in the spec)"
    ) in renamed.stdout
    assert (hello / "src/hello/services/greeter/v1/commands/wave_hand.py").is_file()

    text = spec.read_text()
    spec.write_text(text[: text.index("      waveHand:\n")])  # remove it again
    removed = ok("generate", cwd=hello)
    assert "orphan: src/hello/services/greeter/v1/commands/wave_hand.py" in removed.stdout
    assert (hello / "src/hello/services/greeter/v1/commands/wave_hand.py").is_file()
    assert (hello / GREET).read_text().endswith(MINE)
    assert (hello / GREET_TEST).read_text().endswith(MINE)
    assert ruff_check(hello).returncode == 0
    assert imports(hello, "hello").returncode == 0, imports(hello, "hello").stderr


def test_a_version_change_leaves_the_old_handlers_and_names_their_counterparts(hello: Path) -> None:
    append(hello / GREET)
    replace_in(hello / "purista.yaml", "    version: 1\n", "    version: 2\n")
    result = ok("generate", cwd=hello)
    assert (
        "service greeter is now v2 (was v1): the generated files of v1 were removed; "
        "your 2 file(s) of v1 stay where they are"
    ) in result.stdout
    assert (
        f"orphan: {GREET} (command greeter.v1.greet, no longer in the spec); "
        "its counterpart is src/hello/services/greeter/v2/commands/greet.py"
    ) in result.stdout
    assert (hello / GREET).read_text().endswith(MINE)
    assert not (hello / "src/hello/services/greeter/v1/_generated").exists()
    assert "removed src/hello/services/greeter/v1/_generated/tasks.py" in result.stdout
    # Still said on the next run, which writes nothing.
    before = state(hello)
    again = ok("generate", cwd=hello)
    assert f"orphan: {GREET}" in again.stdout
    assert state(hello) == before


def test_a_project_rename_explains_where_everything_went(hello: Path) -> None:
    append(hello / GREET)
    replace_in(hello / "purista.yaml", "  name: hello\n", "  name: hola\n")
    result = ok("generate", cwd=hello)
    assert "the package is now `hola` (was `hello`)" in result.stdout
    assert "your tests under tests/ still import `hello`" in result.stdout
    assert (
        f"orphan: {GREET} (command greeter.v1.greet, no longer in the spec); "
        "its counterpart is src/hola/services/greeter/v1/commands/greet.py"
    ) in result.stdout
    assert (hello / GREET).read_text().endswith(MINE)
    assert not (hello / "src/hello/_purista").exists()
    assert 'name = "hola"' in (hello / "pyproject.toml").read_text()


def test_a_deleted_handler_whose_command_is_still_there_stays_deleted_until_force(
    hello: Path,
) -> None:
    (hello / GREET).unlink()
    assert f"kept deleted: {GREET}" in ok("generate", cwd=hello).stdout
    assert not (hello / GREET).exists()
    assert f"created {GREET}" in ok("generate", "--force", cwd=hello).stdout
    assert "def handle(" in (hello / GREET).read_text()


# ------------------------------------------------------------------ generated files


def test_hand_edited_generated_files_stop_generate_and_force_restores_them(hello: Path) -> None:
    tasks = hello / "src/hello/services/greeter/v1/_generated/tasks.py"
    app = hello / "src/hello/_purista/app.py"
    pristine_tasks, pristine_app = tasks.read_text(), app.read_text()
    append(tasks, "# patched\n")
    append(app, "# patched too\n")
    replace_in(hello / "purista.yaml", "description: Says hello", "description: Says hi")
    before = state(hello)

    result = run("generate", cwd=hello)
    assert result.returncode == 1
    assert "generated files were changed by hand" in result.stderr
    assert "src/hello/_purista/app.py" in result.stderr
    assert "src/hello/services/greeter/v1/_generated/tasks.py" in result.stderr
    assert "--force" in result.stderr
    assert state(hello) == before  # nothing written, not even the README the spec changed

    checked = run("generate", "--check", cwd=hello)
    assert checked.returncode == 1
    assert "edited by hand: src/hello/_purista/app.py" in checked.stdout

    forced = ok("generate", "--force", cwd=hello)
    assert "wrote src/hello/_purista/app.py" in forced.stdout
    assert tasks.read_text() == pristine_tasks
    assert app.read_text() == pristine_app
    assert ok("generate", cwd=hello).stdout == "up to date\n"


def test_a_hand_edited_generated_file_the_spec_no_longer_needs_is_not_removed(
    hello: Path,
) -> None:
    ok("add", "command", "greeter", "wave", cwd=hello)
    init = hello / "src/hello/services/greeter/v1/commands/__init__.py"
    append(init, "# mine\n")
    text = (hello / "purista.yaml").read_text()
    (hello / "purista.yaml").write_text(text.replace("name: hello", "name: hola"))
    result = run("generate", cwd=hello)
    assert result.returncode == 1
    assert "src/hello/services/greeter/v1/commands/__init__.py" in result.stderr
    assert init.read_text().endswith("# mine\n")


# ------------------------------------------------------------------ merged files


def test_a_users_dependency_survives_a_regeneration_that_changes_pyproject(shop: Path) -> None:
    pyproject = shop / "pyproject.toml"
    replace_in(pyproject, '    "redis>=5",\n', '    "redis>=5",\n    "httpx>=0.27",\n')
    append(pyproject, "\n[tool.coverage.run]\nbranch = true\n")
    replace_in(shop / "purista.yaml", "description: Online shop backend", "description: The shop")
    result = ok("generate", cwd=shop)
    assert "merged pyproject.toml (your changes kept)" in result.stdout
    text = pyproject.read_text()
    assert 'description = "The shop"' in text
    assert '    "httpx>=0.27",\n' in text
    assert text.endswith("\n[tool.coverage.run]\nbranch = true\n")
    assert "<<<<<<<" not in text
    base = (shop / ".purista/base/pyproject.toml.base").read_text()
    assert 'description = "The shop"' in base and "httpx" not in base
    assert ok("generate", cwd=shop).stdout == "up to date\n"


def test_a_conflicting_edit_leaves_markers_lists_the_file_and_exits_1(shop: Path) -> None:
    pyproject = shop / "pyproject.toml"
    replace_in(pyproject, 'description = "Online shop backend"', 'description = "My shop"')
    append(shop / "README.md", "\nOur notes.\n")
    replace_in(shop / "purista.yaml", "description: Online shop backend", "description: The shop")
    result = run("generate", cwd=shop)
    assert result.returncode == 1
    assert "conflict in pyproject.toml" in result.stdout
    assert "conflicts in pyproject.toml" in result.stderr
    text = pyproject.read_text()
    assert (
        '<<<<<<< yours\ndescription = "My shop"\n=======\ndescription = "The shop"\n'
        ">>>>>>> purista\n"
    ) in text
    readme = (shop / "README.md").read_text()
    assert "The shop" in readme and readme.endswith("\nOur notes.\n")  # the rest went on

    again = run("generate", cwd=shop)
    assert again.returncode == 1
    assert "unresolved conflict in pyproject.toml" in again.stdout

    resolved = text.replace('<<<<<<< yours\ndescription = "My shop"\n=======\n', "")
    pyproject.write_text(resolved.replace(">>>>>>> purista\n", ""))
    assert ok("generate", cwd=shop).stdout == "up to date\n"
    assert pyproject.read_text() == resolved.replace(">>>>>>> purista\n", "")


# ------------------------------------------------------------------ --check and --dry-run


def test_check_and_dry_run_tell_the_truth_and_write_nothing(shop: Path, tmp_path: Path) -> None:
    append(shop / "README.md", "\nOur notes.\n")
    append(shop / "src/shop/services/user/v1/commands/sign_up.py")
    spec = shop / "purista.yaml"
    replace_in(spec, "      getUser:\n", "      findUser:\n")
    replace_in(spec, "can_invoke: [user.v1.getUser]", "can_invoke: [user.v1.findUser]")
    replace_in(spec, "displayName: {type: string, maxLength: 80}", "nickname: {type: string}")
    before = state(shop)

    checked = run("generate", "--check", cwd=shop)
    dry = run("generate", "--dry-run", cwd=shop)
    assert state(shop) == before
    assert checked.returncode == 1
    assert dry.returncode == 0

    real = copy(shop, tmp_path / "real")
    ok("generate", cwd=real)
    old, new = contents(shop), contents(real)
    changed = sorted(
        p for p in set(old) | set(new) if old.get(p) != new.get(p) and not p.startswith(".purista/")
    )
    verbs = ("would write ", "would create ", "would remove ", "would merge ")
    listed = sorted(
        line.split(" ")[2] for line in checked.stdout.splitlines() if line.startswith(verbs)
    )
    assert listed == changed
    expected = "".join(
        "".join(
            difflib.unified_diff(
                old.get(p, b"").decode().splitlines(keepends=True),
                new.get(p, b"").decode().splitlines(keepends=True),
                f"a/{p}" if p in old else "/dev/null",
                f"b/{p}" if p in new else "/dev/null",
            )
        )
        for p in changed
    )
    assert dry.stdout == expected
    assert "would merge README.md (your changes kept)" in dry.stderr
    assert "orphan: src/shop/services/user/v1/commands/get_user.py" in dry.stderr

    assert ok("generate", "--check", cwd=real).stdout.endswith("\nup to date\n")
    assert ok("generate", "--dry-run", cwd=real).stdout == ""


def test_dry_run_shows_a_conflict_it_would_write_and_exits_1(shop: Path) -> None:
    replace_in(shop / "pyproject.toml", 'description = "Online shop backend"', 'description = "x"')
    replace_in(shop / "purista.yaml", "description: Online shop backend", "description: y")
    before = state(shop)
    dry = run("generate", "--dry-run", cwd=shop)
    assert dry.returncode == 1
    assert '+<<<<<<< yours\n description = "x"\n+=======\n+description = "y"\n' in dry.stdout
    assert "would conflict in pyproject.toml" in dry.stderr
    assert state(shop) == before


# ------------------------------------------------------------------ purista add


COMMENTED = """\
# The smallest useful spec: one service, one command.
spec_version: 1
project:
  name: hello   # the package is derived from it
  description: Says hello
services:
  # Greeting people is all it does.
  greeter:
    version: 1
    description: Greets people
    commands:
      greet:
        description: Return a greeting for a name
        payload:
          type: object
          properties:
            name: {type: string, minLength: 1, maxLength: 100}
          required: [name]
        output:
          type: object
          properties:
            message: {type: string}
          required: [message]

# Events go last, by our team's habit.
events:
  greeted:   # nobody listens yet
    payload: {type: object}
"""


def test_add_keeps_every_comment_line_and_order_of_the_spec(hello: Path) -> None:
    spec = hello / "purista.yaml"
    spec.write_text(COMMENTED)
    ok("generate", cwd=hello)
    ok("add", "command", "greeter", "wave", "-d", "Wave", "--can-emit", "greeted", cwd=hello)
    ok("add", "event", "waved", "--payload", '{"type": "object", "required": ["who"]}', cwd=hello)
    ok("add", "service", "audit", "--version", "3", "-d", "Keeps a record", cwd=hello)
    ok("add", "queue", "audit", "archive", "-d", "Store it", cwd=hello)
    ok("add", "subscription", "audit", "onGreeted", "--event", "greeted", cwd=hello)
    ok("add", "command", "audit", "lookup", "--can-enqueue", "archive", cwd=hello)
    text = spec.read_text()
    old, new = COMMENTED.splitlines(), text.splitlines()
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    assert sum(block.size for block in matcher.get_matching_blocks()) == len(old), text
    assert text.index("# Events go last") < text.index("events:\n")
    assert text.index("  greeted:   # nobody listens yet\n") < text.index("  waved:")
    assert (
        "      wave:\n        description: Wave\n        payload: {type: object}\n"
        "        output: {type: object}\n        can_emit: [greeted]\n"
    ) in text
    assert "  waved:\n    payload: {type: object, required: [who]}\n" in text
    assert text.index("      wave:") < text.index("# Events go last")  # stays in its block
    assert "  audit:\n    version: 3\n    description: Keeps a record\n    commands:\n" in text
    for handler in (
        "greeter/v1/commands/wave.py",
        "audit/v3/queues/archive.py",
        "audit/v3/subscriptions/on_greeted.py",
        "audit/v3/commands/lookup.py",
    ):
        assert (hello / "src/hello/services" / handler).is_file(), handler
    assert ok("generate", "--check", cwd=hello).stdout == "up to date\n"
    assert ruff_check(hello).returncode == 0
    assert imports(hello, "hello").returncode == 0, imports(hello, "hello").stderr


def test_add_with_a_payload_file(hello: Path, tmp_path: Path) -> None:
    schema = tmp_path / "schema.yaml"
    schema.write_text("type: object\nproperties:\n  who: {type: string}\nrequired: [who]\n")
    ok("add", "command", "greeter", "wave", "--payload-file", str(schema), cwd=hello)
    models = (hello / "src/hello/services/greeter/v1/_generated/models.py").read_text()
    assert "class WavePayload(BaseModel):" in models and "who: str" in models


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("add", "command", "greeter", "greet"),
            "command `greet` of service `greeter` already exists in the spec",
        ),
        (("add", "service", "greeter"), "service `greeter` already exists in the spec"),
        (
            ("add", "command", "nobody", "x"),
            "there is no service `nobody` in the spec; add it with `purista add service nobody`",
        ),
        (
            ("add", "command", "greeter", "x", "--payload", "{not json"),
            "--payload is not JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)",
        ),
        (
            ("add", "command", "greeter", "bad name"),
            "invalid name 'bad name': start with a letter, use letters, digits, `_` and `-`",
        ),
    ],
)
def test_add_refuses_what_exists_or_is_wrong_and_leaves_everything(
    hello: Path, args: tuple[str, ...], message: str
) -> None:
    before = state(hello)
    result = run(*args, cwd=hello)
    assert result.returncode == 2
    assert result.stderr.strip() == message
    assert state(hello) == before


def test_add_that_makes_the_spec_invalid_says_where_and_changes_nothing(hello: Path) -> None:
    before = state(hello)
    result = run("add", "command", "greeter", "wave", "--can-invoke", "nobody.v1.x", cwd=hello)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{hello / 'purista.yaml'}:22:1: services.greeter.commands.wave.can_invoke[0]: "
        "no command `nobody.v1.x`; commands are named `<service>.v<N>.<command>` "
        "(in `can_invoke: [nobody.v1.x]`, which `purista add` would write after line 22; "
        "the spec was not changed)"
    ]
    snake = run("add", "command", "greeter", "Greet", cwd=hello)
    assert snake.returncode == 2
    assert "Greet" in snake.stderr and "greet" in snake.stderr
    assert state(hello) == before


def test_incremental_runs_give_what_a_fresh_full_generation_gives(
    hello: Path, tmp_path: Path
) -> None:
    # The caches (formatted code, models, parsed specs) only save time: a run with none
    # of them, over everything, finds nothing to change.
    ok("add", "command", "greeter", "wave", "--payload", '{"type": "object"}', cwd=hello)
    ok("add", "event", "waved", cwd=hello)
    ok("add", "subscription", "greeter", "onWaved", "--event", "waved", cwd=hello)
    replace_in(hello / "purista.yaml", "      wave:\n", "      waveHand:\n")
    ok("generate", cwd=hello)
    ok("add", "queue", "greeter", "later", "--can-emit", "waved", cwd=hello)
    before = state(hello)
    fresh = purista("generate", "--force", cwd=hello, env={"PURISTA_CACHE_DIR": str(tmp_path)})
    assert fresh.returncode == 0, fresh.stderr
    assert "wrote" not in fresh.stdout and "created" not in fresh.stdout
    assert state(hello) == before
