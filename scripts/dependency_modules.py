"""Write the list of modules a generated project's dependencies install.

A project whose package is named like one of those modules hides it (`python -m
requests` would import the project, not the library), so `validate` refuses such
names. The list is computed here from a generated project installed in a venv, and
kept in `generator/purista/spec/_dependency_modules.py`: purista itself does not
have the project's dependencies installed. Run it after changing the dependencies
in `templates/project/pyproject.toml.jinja`:

    .venv/bin/python scripts/dependency_modules.py                  # a fresh venv, rewrite
    .venv/bin/python scripts/dependency_modules.py --python P --check  # compare only

The project is the shop example with every optional part switched on: it uses the
database (psycopg), and `generate` adds an HTTP route (the gateway's FastAPI and
uvicorn) and a schedule (croniter), so a project that has them cannot hide them
either. It is installed with its `test` extra, the one its README installs. Every
distribution it requires, transitively with markers evaluated in that venv, adds its
top-level modules. `tests/e2e/test_reserved_names.py` runs `--check` against that
project installed in a venv, so a new dependency cannot leave the list stale unnoticed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "generator" / "purista" / "spec" / "_dependency_modules.py"
PROJECT = "shop"
EXTRAS = ("test",)

# Runs inside the project's venv: stdlib and `packaging` (pytest's dependency) only.
_COLLECT = """
import json, sys
from importlib.metadata import distribution, packages_distributions
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

root, extras = sys.argv[1], tuple(sys.argv[2:])
seen = set()
todo = [(root, extras)]
while todo:
    name, wanted = todo.pop()
    dist = distribution(name)
    key = (canonicalize_name(dist.metadata["Name"]), wanted)
    if key in seen:
        continue
    seen.add(key)
    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("", *wanted)):
            todo.append((req.name, tuple(sorted(req.extras))))
needed = {name for name, _ in seen} - {canonicalize_name(root)}
modules = sorted(
    module
    for module, owners in packages_distributions().items()
    if module.isidentifier()
    and not module.startswith("_")
    and any(canonicalize_name(owner) in needed for owner in owners)
)
print(json.dumps(modules))
"""


def collect(python: Path) -> list[str]:
    """The top-level modules of the project's dependencies, as installed for `python`."""
    result = subprocess.run(
        [str(python), "-c", _COLLECT, PROJECT, *EXTRAS],
        capture_output=True,
        text=True,
        check=True,
    )
    modules: list[str] = json.loads(result.stdout)
    return modules


def render(modules: list[str]) -> str:
    """The text of the module that holds the list."""
    lines = [
        '"""The top-level modules a generated project\'s dependencies install.',
        "",
        "Written by `scripts/dependency_modules.py` from an installed generated project;",
        "do not edit by hand.",
        '"""',
        "",
        "DEPENDENCY_MODULES = frozenset(",
        "    {",
        *(f'        "{m}",' for m in modules),
        "    }",
        ")",
        "",
    ]
    return "\n".join(lines)


def _changes(old: str, new: str) -> str:
    before, after = (set(re.findall(r'^ +"(\w+)",$', t, re.MULTILINE)) for t in (old, new))
    added = ", ".join(sorted(after - before)) or "none"
    gone = ", ".join(sorted(before - after)) or "none"
    return f"new modules: {added}; no longer installed: {gone}"


def generate(folder: Path) -> Path:
    """Generate the shop example with a route and a schedule in `folder`; its root."""
    from purista.examples import example_path  # noqa: PLC0415
    from ruamel.yaml import YAML  # noqa: PLC0415

    yaml = YAML()
    spec = yaml.load(example_path(PROJECT).read_text(encoding="utf-8"))
    user = spec["services"]["user"]
    user["commands"]["getUser"]["http"] = {"method": "GET", "path": "/users/{userId}"}
    spec["schedules"] = {
        "sweep": {
            "every": 3600,
            "enqueue": "processAvatar",
            "payload": {"userId": "u", "fileId": "f"},
        }
    }
    path = folder / "shop.yaml"
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(spec, out)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "purista",
            "new",
            PROJECT,
            "--spec",
            str(path),
            "--output",
            str(folder),
        ],
        check=True,
    )
    return folder / PROJECT


def install(folder: Path) -> Path:
    """Generate the project in `folder` and install it in a venv there; its python."""
    generate(folder)
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    target = f"{folder / PROJECT}[{','.join(EXTRAS)}]"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", target], check=True)
    return python


def main() -> int:
    """Rewrite the list, or with `--check` say whether it is up to date (exit 1 if not)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--python", type=Path, help="a venv's python with the project `generate` makes installed"
    )
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        python = args.python or install(Path(tmp))
        text = render(collect(python))
    current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
    if args.check:
        if text != current:
            print(
                f"{TARGET.relative_to(ROOT)} is out of date ({_changes(current, text)}); run "
                "`python scripts/dependency_modules.py` to refresh it",
                file=sys.stderr,
            )
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
