"""What the spec says reaches the project exactly, or is refused at `validate`.

Descriptions become docstrings, the project's description goes to `pyproject.toml` and
the README, and a schema's default becomes the example payload of the generated tests,
of `bench` and of the README's shell line, and the model's default. Every generated file
parses, passes the project's ruff, and gives the spec's text back unchanged. Text that
no target can carry (control characters other than newline and tab, lone surrogates)
and numbers JSON cannot carry (infinity, NaN) are refused with a located error.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from purista.errors import GenerationError
from purista.format import format_files
from purista.load import load_spec
from purista.pipeline import build
from regen_support import contents, imports, ok, ruff_check, run
from ruamel.yaml import YAML
from support import purista

PACKAGE = "txt"
HANDLERS = "src/txt/services/svc/v1"


def quoted(text: str) -> str:
    """A YAML double-quoted scalar of exactly `text` (anything beyond printable ASCII escaped)."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif " " <= c <= "~":
            out.append(c)
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


def endpoint(text: str) -> str:
    """A URL made of `text`: what a URL may hold (no whitespace, no backtick)."""
    return "http://collector/" + "".join(c for c in text if not c.isspace() and c != "`")


def spec_text(text: str) -> str:
    """A spec with `text` as every description and as a schema's defaults."""
    q = quoted(text)
    return f"""\
spec_version: 1
project: {{name: {PACKAGE}, description: {q}}}
infrastructure:
  tracing: {{endpoint: {quoted(endpoint(text))}}}
events:
  happened: {{description: {q}}}
services:
  svc:
    description: {q}
    commands:
      go:
        description: {q}
        payload:
          type: object
          description: {q}
          required: [note]
          properties:
            note: {{type: string, default: {q}, description: {q}}}
            memo: {{type: string, default: {q}}}
    subscriptions:
      onHappened: {{event: happened, description: {q}}}
    queues:
      crunch: {{description: {q}}}
"""


def docstring(source: str, function: str | None = None) -> str:
    """The docstring of a module (or of one of its functions) as written, indentation removed."""
    tree = ast.parse(source)
    if function is None:
        doc = ast.get_docstring(tree, clean=False)
        assert doc is not None
        return doc
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
    literal = node.body[0]
    assert isinstance(literal, ast.Expr)
    # The literal as written, less the indentation of its lines: what remains is the text.
    written = ast.get_source_segment(source, literal.value)
    assert written is not None
    lines = written.split("\n")
    assert all(line.startswith("    ") or not line for line in lines[1:]), written
    value = ast.literal_eval("\n".join([lines[0], *(line[4:] for line in lines[1:])]))
    assert isinstance(value, str)
    return value


def assigned(source: str, name: str) -> Any:
    """The literal value a module assigns to `name`."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                assert node.value is not None
                return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not assigned")


def field(source: str, cls: str, name: str) -> ast.AnnAssign:
    """The line of a model's class body that declares field `name`."""
    tree = ast.parse(source)
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls).body
    return next(
        n
        for n in body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.target.id == name
    )


def field_default(source: str, cls: str, name: str) -> Any:
    """The default of a model's field, as its class body writes it."""
    value = field(source, cls, name).value
    assert value is not None
    if isinstance(value, ast.Call):  # Field(default, ...) or Field(default=...)
        value = value.args[0] if value.args else next(k.value for k in value.keywords)
    return ast.literal_eval(value)


def field_description(source: str, cls: str, name: str) -> Any:
    """The `Field(description=...)` of a model's field, as its class body writes it."""
    for call in ast.walk(field(source, cls, name)):
        if isinstance(call, ast.Call):
            for keyword in call.keywords:
                if keyword.arg == "description":
                    return ast.literal_eval(keyword.value)
    return None


def check_project(files: dict[str, str], text: str, root: Path) -> None:
    """Every file parses and passes ruff; `text` comes back from each place it went to."""
    yaml = YAML(typ="safe")
    for path, content in files.items():
        if path.endswith((".py", ".pyi")):
            compile(content, path, "exec")
        elif path.endswith(".toml"):
            tomllib.loads(content)
        elif path.endswith((".yaml", ".yml")):
            list(yaml.load_all(content))
        elif path.endswith(".json"):
            json.loads(content)
    for path, content in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(content, encoding="utf-8")
    lint = ruff_check(root)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr

    def with_text(prefix: str) -> str:
        return f"{prefix}: {text}" if text else prefix

    assert docstring(files["src/txt/__init__.py"]) == (text or PACKAGE)
    assert docstring(files["src/txt/services/svc/v1/__init__.py"]) == with_text("Service svc v1")
    command = files[f"{HANDLERS}/commands/go.py"]
    assert docstring(command) == with_text("Command svc.v1.go")
    assert docstring(command, "handle") == (text or "Handle svc.v1.go")
    subscription = files[f"{HANDLERS}/subscriptions/on_happened.py"]
    assert docstring(subscription) == with_text("Subscription svc.v1.onHappened to event happened")
    assert docstring(subscription, "handle") == (text or "Handle event happened")
    queue = files[f"{HANDLERS}/queues/crunch.py"]
    assert docstring(queue).startswith(with_text("Job queue crunch") + "\n\n")
    assert docstring(queue, "handle") == (text or "Run a job of queue crunch")

    settings = next(yaml.load_all(files["k8s/base/settings.yaml"]))
    assert settings["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == endpoint(text)
    assert f"`{endpoint(text)}`" in files["README.md"]

    pyproject = tomllib.loads(files["pyproject.toml"])
    assert pyproject["project"]["description"] == text
    readme = files["README.md"]
    assert text in readme
    invoke = next(line for line in readme.splitlines() if " invoke svc.v1.go " in line)
    assert json.loads(shlex.split(invoke)[-1]) == {"note": text}

    test = files["tests/services/svc/v1/commands/test_go.py"]
    assert assigned(test, "EXAMPLE_PAYLOAD") == {"note": text}
    models = files[f"{HANDLERS}/_generated/models.py"]
    assert field_default(models, "GoPayload", "memo") == text
    assert field_description(models, "GoPayload", "note") == text


# Text a spec may hold: anything but control characters (newline and tab excepted) and
# surrogates, with the characters that broke generation before drawn often.
TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("\n\t \"\\'`$#*<>"),
    max_size=24,
)


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(text=TEXT)
@example(text="back\\slash, \"\"\"triple\"\"\", '''single''' and\na second line\n  indented")
@example(text='ends with a quote "')
@example(text="emoji 😀, en dash \u2013 and \u00d7 sign")
@example(text="  spaces around\t \n\n\nblank lines  ")
@example(text="ends with a backslash \\")
@example(text="it's here")
@example(text="")
@example(text="\n")
@example(text="\nstarts and ends with a newline\n")
@example(text='"starts with a quote')
def test_any_text_reaches_every_target_exactly(text: str) -> None:
    with tempfile.TemporaryDirectory(prefix="purista-text-") as tmp:
        spec = Path(tmp) / "purista.yaml"
        spec.write_text(spec_text(text), encoding="utf-8")
        files = build(load_spec(spec)).output.files
        check_project(files, text, Path(tmp) / "project")


@pytest.mark.parametrize(
    ("value", "where", "problem"),
    [
        ('"a\\0b"', "project.description", "control character U+0000"),
        ('"bell \\a"', "project.description", "control character U+0007"),
        ('"cr \\r lf"', "project.description", "control character U+000D"),
        ('"half \\ud83d"', "project.description", "lone surrogate U+D83D"),
    ],
)
def test_text_no_target_can_carry_is_refused_with_its_place(
    tmp_path: Path, value: str, where: str, problem: str
) -> None:
    spec = tmp_path / "purista.yaml"
    spec.write_text(
        f"spec_version: 1\nproject:\n  name: txt\n  description: {value}\nservices:\n  svc: {{}}\n",
        encoding="utf-8",
    )
    result = purista("validate", "--spec", str(spec))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"purista.yaml:4:16: {where}: text may not contain the {problem}" in result.stderr
    assert "Traceback" not in result.stderr
    made = purista("new", "txt", "--spec", str(spec), "--output", str(tmp_path / "out"))
    assert made.returncode == 2
    assert not (tmp_path / "out").exists()


def test_control_characters_in_schemas_and_non_finite_numbers_are_refused(tmp_path: Path) -> None:
    spec = tmp_path / "purista.yaml"
    spec.write_text(
        """\
spec_version: 1
project: {name: txt}
services:
  svc:
    commands:
      go:
        payload:
          type: object
          properties:
            "a\\u0000b": {type: string}
            limit: {type: number, default: .inf, maximum: .nan}
            note: {type: string, description: "esc \\e"}
    queues:
      crunch: {lease: .inf}
""",
        encoding="utf-8",
    )
    result = purista("validate", "--spec", str(spec))
    assert result.returncode == 2
    err = result.stderr
    assert "Traceback" not in err
    lines = [
        'purista.yaml:10:13: services.svc.commands.go.payload.properties["a\\u0000b"]: '
        "text may not contain the control character U+0000",
        "purista.yaml:11:44: services.svc.commands.go.payload.properties.limit.default: "
        "expected a finite number, not inf (JSON has no infinity)",
        "purista.yaml:11:59: services.svc.commands.go.payload.properties.limit.maximum: "
        "expected a finite number, not nan (JSON has no NaN)",
        "purista.yaml:12:47: services.svc.commands.go.payload.properties.note.description: "
        "text may not contain the control character U+001B",
        "purista.yaml:14:23: services.svc.queues.crunch.lease: "
        "expected a finite number, not inf (JSON has no infinity)",
    ]
    for line in lines:
        assert line in err, err


def test_readme_invoke_line_reads_back_through_a_real_shell(tmp_path: Path) -> None:
    text = 'it\'s here; $HOME `id` "quoted" \\ and\na newline'
    spec = tmp_path / "purista.yaml"
    spec.write_text(spec_text(text), encoding="utf-8")
    ok("new", PACKAGE, "--spec", str(spec), "--output", str(tmp_path), cwd=tmp_path)
    readme = (tmp_path / PACKAGE / "README.md").read_text(encoding="utf-8")
    # JSON escapes the newline: the argument is on one line.
    command = next(line for line in readme.splitlines() if " invoke svc.v1.go " in line)
    line = command.replace(f"python -m {PACKAGE} invoke svc.v1.go", "printf %s", 1)
    shell = subprocess.run(
        ["bash", "-c", line], capture_output=True, text=True, check=True, env={"HOME": "/nowhere"}
    )
    assert json.loads(shell.stdout) == {"note": text}


SHAPES = {
    "subscriptions only": """\
events:
  happened: {}
services:
  listener:
    subscriptions:
      onHappened: {event: happened}
""",
    "a service with nothing yet": """\
services:
  empty: {}
""",
    "job queues only": """\
services:
  worker:
    queues:
      crunch: {}
""",
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_projects_without_commands_generate_pass_ruff_and_regenerate(
    tmp_path: Path, shape: str
) -> None:
    spec = tmp_path / "purista.yaml"
    spec.write_text(f"spec_version: 1\nproject: {{name: bare}}\n{SHAPES[shape]}", encoding="utf-8")
    ok("new", "bare", "--spec", str(spec), "--output", str(tmp_path), cwd=tmp_path)
    root = tmp_path / "bare"
    readme = (root / "README.md").read_text(encoding="utf-8")
    # The README starts the workers the deployment runs, no Celery worker with nothing to do.
    planned = purista("plan", "--spec", str(root / "purista.yaml"), "--json")
    workers = json.loads(planned.stdout)["workers"]
    started = [line for line in readme.splitlines() if line.startswith("python -m bare worker")]
    assert started == [f"python -m bare {' '.join(w['command'])} &" for w in workers]
    lint = ruff_check(root)
    assert lint.returncode == 0, lint.stdout
    imported = imports(root, "bare")
    assert imported.returncode == 0, imported.stderr
    before = contents(root)
    ok("generate", "--force", cwd=root)  # a full rebuild, not the no-op shortcut
    assert contents(root) == before
    assert ok("generate", "--check", cwd=root).returncode == 0


def test_removing_the_last_command_regenerates(tmp_path: Path) -> None:
    spec = tmp_path / "purista.yaml"
    spec.write_text(
        "spec_version: 1\nproject: {name: bare}\nservices:\n  svc:\n    commands:\n      go: {}\n",
        encoding="utf-8",
    )
    ok("new", "bare", "--spec", str(spec), "--output", str(tmp_path), cwd=tmp_path)
    root = tmp_path / "bare"
    (root / "purista.yaml").write_text(
        "spec_version: 1\nproject: {name: bare}\nservices:\n  svc: {}\n", encoding="utf-8"
    )
    result = run("generate", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "svc.v1.go" not in (root / "README.md").read_text(encoding="utf-8")
    lint = ruff_check(root)
    assert lint.returncode == 0, lint.stdout
    assert ok("generate", "--check", cwd=root).returncode == 0


def test_generated_tests_match_required_names_with_regex_characters(tmp_path: Path) -> None:
    spec = tmp_path / "purista.yaml"
    spec.write_text(
        """\
spec_version: 1
project: {name: rx}
events:
  measured:
    payload: {type: object, required: ["size(cm)"], properties: {"size(cm)": {type: number}}}
services:
  shapes:
    commands:
      classify:
        payload: {type: object, required: ["$type"], properties: {"$type": {type: string}}}
    subscriptions:
      onMeasured: {event: measured}
    queues:
      resize:
        payload: {type: object, required: ["a+b*"], properties: {"a+b*": {type: integer}}}
""",
        encoding="utf-8",
    )
    ok("new", "rx", "--spec", str(spec), "--output", str(tmp_path), cwd=tmp_path)
    root = tmp_path / "rx"
    for test, name in (
        ("commands/test_classify.py", "$type"),
        ("subscriptions/test_on_measured.py", "size(cm)"),
        ("queues/test_resize.py", "a+b*"),
    ):
        source = (root / "tests/services/shapes/v1" / test).read_text(encoding="utf-8")
        pattern = ast.literal_eval(re.search(r"match=(\S+)\):", source)[1])  # type: ignore[index]
        assert re.search(pattern, f"payload is invalid: {name}: Field required"), test
    # The generated tests themselves, run against the generated project.
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "rejects", "tests"],
        cwd=root,
        env={"PYTHONPATH": str(root / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "3 passed" in tested.stdout, tested.stdout


def test_python_that_does_not_parse_is_named_with_its_line() -> None:
    files = {"src/txt/a.py": '"""Fine."""\n\nX = """a""""\n'}
    with pytest.raises(GenerationError, match=r"src/txt/a\.py:3: .*a bug in purista"):
        format_files(files)


def test_urls_with_whitespace_are_refused(tmp_path: Path) -> None:
    spec = tmp_path / "purista.yaml"
    spec.write_text(
        "spec_version: 1\nproject: {name: txt}\ninfrastructure:\n"
        '  tracing: {endpoint: "http://collector:4317/ x"}\nservices:\n  svc: {}\n',
        encoding="utf-8",
    )
    result = purista("validate", "--spec", str(spec))
    assert result.returncode == 2
    assert (
        "purista.yaml:4:23: infrastructure.tracing.endpoint: expected a URL without spaces, "
        "line breaks or backticks (got 'http://collector:4317/ x')"
    ) in result.stderr
