"""What `generate`, `add` and `new` may touch: only the project, never half of it, never twice.

Each test drives the real CLI in a subprocess on a freshly generated project.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from regen_support import contents, copy, make, ok, replace_in, run, state
from support import purista

GREET = "src/hello/services/greeter/v1/commands/greet.py"
GREET_TEST = "tests/services/greeter/v1/commands/test_greet.py"
TASKS = "src/hello/services/greeter/v1/_generated/tasks.py"
MANIFEST = ".purista/manifest.json"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make("minimal", tmp_path_factory.mktemp("pristine"), "hello")


@pytest.fixture
def hello(pristine: Path, tmp_path: Path) -> Path:
    return copy(pristine, tmp_path / "hello")


def add(project: Path, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "purista", "add", "command", "greeter", name],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# ------------------------------------------------------------------ concurrent adds


def test_two_adds_at_once_both_reach_the_spec_and_the_project(hello: Path) -> None:
    for round_ in range(3):
        first, second = f"cmdx{round_}", f"cmdy{round_}"
        procs = [add(hello, first), add(hello, second)]
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, out + err
            assert "Traceback" not in err
        spec = (hello / "purista.yaml").read_text()
        for name in (first, second):
            assert f"{name}:" in spec, (round_, spec)
            assert (hello / f"src/hello/services/greeter/v1/commands/{name}.py").is_file()
    check = run("generate", "--check", cwd=hello)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "orphan" not in check.stdout


# ------------------------------------------------------------------ paths outside


@pytest.mark.parametrize("where", ["climbs", "absolute", "linked folder"])
def test_a_manifest_path_outside_the_project_is_refused(
    hello: Path, tmp_path: Path, where: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("not purista's\n")
    if where == "climbs":
        entry = "../outside/victim.txt"
    elif where == "absolute":
        entry = str(victim)
    else:
        (hello / "linked").symlink_to(outside, target_is_directory=True)
        entry = "linked/victim.txt"
    manifest = json.loads((hello / MANIFEST).read_text())
    digest = hashlib.sha256(victim.read_bytes()).hexdigest()
    manifest["files"][entry] = {"owner": "generated", "sha256": digest}
    (hello / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    before = state(hello)
    for args in (("generate", "--force"), ("generate",), ("generate", "--check")):
        result = run(*args, cwd=hello)
        assert result.returncode == 2, (args, result.stdout + result.stderr)
        assert f"lists {entry!r}, which leads outside the project" in result.stderr
        assert victim.read_text() == "not purista's\n"
        assert state(hello) == before


# ------------------------------------------------------------------ links and modes


def test_a_linked_spec_and_merged_file_are_written_through_their_links(
    hello: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    for name in ("purista.yaml", "README.md"):
        shutil.move(hello / name, shared / name)
        (hello / name).symlink_to(shared / name)
    ok("add", "command", "greeter", "wave", cwd=hello)
    for name in ("purista.yaml", "README.md"):
        assert (hello / name).is_symlink(), name
        assert os.readlink(hello / name) == str(shared / name)
        assert "wave" in (shared / name).read_text(), name
    assert (hello / "src/hello/services/greeter/v1/commands/wave.py").is_file()
    ok("generate", cwd=hello)


def test_a_rewritten_file_keeps_its_mode(hello: Path) -> None:
    modes = {"README.md": 0o444, TASKS: 0o640, "purista.yaml": 0o600}
    before = {path: (hello / path).read_text() for path in modes}
    for path, mode in modes.items():
        (hello / path).chmod(mode)
    ok("add", "command", "greeter", "wave", cwd=hello)
    for path, mode in modes.items():
        assert (hello / path).read_text() != before[path], path
        assert stat.S_IMODE((hello / path).stat().st_mode) == mode, path


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """A folder nobody may write to: immutable for root, mode 555 for anybody else."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(folder)], check=False).returncode != 0:
            pytest.skip("root cannot make a folder immutable here")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)


def test_a_folder_that_cannot_be_written_stops_the_run_before_anything_changes(
    hello: Path,
) -> None:
    replace_in(
        hello / "purista.yaml", "    commands:\n", "    commands:\n      wave: {}\n"
    )  # README, tasks and a new handler and test
    before = state(hello)
    folder = hello / "tests/services/greeter/v1/commands"
    with read_only(folder):
        result = run("generate", cwd=hello)
        after = state(hello)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"cannot write {folder / 'test_wave.py'}" in result.stderr
    assert "nothing was changed" in result.stderr
    assert after == before
    assert (
        "created tests/services/greeter/v1/commands/test_wave.py"
        in ok("generate", cwd=hello).stdout
    )


# ------------------------------------------------------------------ deleted files stay deleted


def test_deleted_files_of_yours_and_merged_files_stay_deleted(hello: Path) -> None:
    for path in (GREET_TEST, "Dockerfile"):
        (hello / path).unlink()
    for args in (("generate",), ("generate", "--check"), ("add", "command", "greeter", "wave")):
        result = ok(*args, cwd=hello)
        assert f"kept deleted: {GREET_TEST}" in result.stdout, args
        assert "kept deleted: Dockerfile" in result.stdout, args
        assert not (hello / GREET_TEST).exists()
        assert not (hello / "Dockerfile").exists()
    # what a spec change newly needs is still created
    assert (hello / "tests/services/greeter/v1/commands/test_wave.py").is_file()
    assert ok("generate", "--check", cwd=hello).returncode == 0
    restored = ok("generate", "--force", cwd=hello).stdout
    assert f"created {GREET_TEST}" in restored
    assert "created Dockerfile" in restored
    assert "kept deleted" not in ok("generate", cwd=hello).stdout


# ------------------------------------------------------------------ the project's root


def test_the_project_root_is_the_spec_s_folder(hello: Path, tmp_path: Path) -> None:
    before = contents(hello)
    inner = hello / "src"
    from_inside = run("generate", cwd=inner)
    assert from_inside.returncode == 2
    assert from_inside.stderr.startswith(f"no purista.yaml here; the project root is {hello}")
    ok("generate", "--spec", "../purista.yaml", cwd=inner)
    ok("add", "command", "greeter", "wave", "--spec", "hello/purista.yaml", cwd=tmp_path)
    assert (hello / "src/hello/services/greeter/v1/commands/wave.py").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hello"]
    assert sorted(p.name for p in inner.iterdir()) == ["hello"]
    assert set(contents(hello)) > set(before)
    help_text = ok("new", "--help", cwd=tmp_path).stdout
    assert "./purista.yaml" not in help_text


def test_new_copies_the_files_the_spec_refers_to(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "schemas").mkdir(parents=True)
    spec = make("minimal", tmp_path / "seed", "hello") / "purista.yaml"
    text = spec.read_text()
    start = text.index("        payload:\n")
    end = text.index("        output:\n")
    (source / "purista.yaml").write_text(
        text[:start] + "        payload: {$ref: schemas/greet.yaml}\n" + text[end:]
    )
    (source / "schemas/greet.yaml").write_text(
        "type: object\nproperties:\n  name: {type: string}\nrequired: [name]\n"
    )
    created = ok("new", "hello", "--spec", "source/purista.yaml", "-o", "out", cwd=tmp_path)
    assert "created" in created.stdout
    project = tmp_path / "out" / "hello"
    assert (project / "schemas/greet.yaml").read_bytes() == (
        source / "schemas/greet.yaml"
    ).read_bytes()
    ok("generate", cwd=project)
    ok("generate", "--force", cwd=project)


# ------------------------------------------------------------------ unreadable files


@pytest.mark.parametrize("path", [GREET, "README.md", MANIFEST])
def test_a_file_that_is_not_utf8_is_named_with_exit_2(hello: Path, path: str) -> None:
    (hello / path).write_bytes((hello / path).read_bytes() + b"\n# caf\xe9\n")
    replace_in(hello / "purista.yaml", "services:\n", "# a changed spec\nservices:\n")
    result = run("generate", cwd=hello)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{hello / path} is not UTF-8 text (byte 0xe9" in result.stderr


# ------------------------------------------------------------------ without a manifest


def test_a_deleted_manifest_and_a_spec_change_call_nothing_changed_by_hand(hello: Path) -> None:
    (hello / MANIFEST).unlink()
    replace_in(hello / "purista.yaml", "    commands:\n", "    commands:\n      wave: {}\n")
    for args in (("generate",), ("generate", "--check")):
        result = run(*args, cwd=hello)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "changed by hand" not in result.stdout + result.stderr
        assert "edited by hand" not in result.stdout
        assert "manifest" in result.stdout + result.stderr
    ok("generate", "--force", cwd=hello)
    assert ok("generate", "--check", cwd=hello).returncode == 0


def test_a_broken_journal_is_not_sent_to_version_control(hello: Path) -> None:
    (hello / ".purista/manifest.next.json").write_text("{not json")
    assert ".purista/manifest.next.json" in (hello / ".gitignore").read_text()
    result = run("generate", cwd=hello)
    assert result.returncode == 2
    assert "version control" not in result.stderr
    assert "delete it" in result.stderr


# ------------------------------------------------------------------ add's errors


def test_an_add_error_points_into_the_spec_on_disk(hello: Path) -> None:
    lines = len((hello / "purista.yaml").read_text().splitlines())
    result = run("add", "command", "greeter", "wave", "--can-invoke", "nobody.v1.x", cwd=hello)
    assert result.returncode == 2
    [message] = result.stderr.splitlines()
    where = message.split(": ", 1)[0]
    line = int(where.rsplit(":", 2)[1])
    assert 1 <= line <= lines, message
    assert "`can_invoke: [nobody.v1.x]`, which `purista add` would write" in message
    assert purista("validate", cwd=hello).returncode == 0
