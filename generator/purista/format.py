"""Stage 6: ruff over the Python sources, once per run, only on text it has not seen.

ruff fixes imports and unused names and formats. Its answer for a file depends
on the file's text and path, the project's ruff settings (`pyproject.toml`) and
which packages are first-party (the folders under `src/`), so it is cached under
a hash of exactly those: a run that changes one command formats a few files.
"""

from __future__ import annotations

import ast
import hashlib
import re
import subprocess
import tempfile
from importlib.metadata import version
from pathlib import Path

from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]

from purista import cache
from purista.errors import GenerationError

_CONFIG = "pyproject.toml"
_FORMATTED = (".py", ".pyi", ".md")  # what ruff formats (Python, and Python blocks in Markdown)


def format_files(files: dict[str, str], verbatim: frozenset[str] = frozenset()) -> dict[str, str]:
    """The files with their Python sources fixed (imports, unused names) and formatted by ruff.

    The `verbatim` files (the runtime's copies, formatted where they come from) are
    left as they are; ruff sees them only as modules the others import.
    """
    sources = sorted(p for p in files if p.endswith(_FORMATTED) and p not in verbatim)
    if not sources:
        return dict(files)
    ruff = find_ruff_bin()
    context = _context(ruff, files)
    layout = _Layout(files)
    keys = {p: _key(context, p, files[p], layout) for p in sources}
    done = {p: cache.get("format", keys[p]) for p in sources}
    todo = [p for p in sources if done[p] is None]
    if todo:
        _check_syntax(files, todo)
        fresh = _run_ruff(ruff, files, todo, layout.around(todo))
        for path in todo:
            cache.put("format", keys[path], fresh[path])
            done[path] = fresh[path]
    return {p: text if done.get(p) is None else str(done[p]) for p, text in files.items()}


def _check_syntax(files: dict[str, str], paths: list[str]) -> None:
    """Stop with the file and line if purista rendered Python that does not parse.

    ruff, run quietly, says nothing about a file it cannot parse; this says where.
    """
    for path in paths:
        if not path.endswith((".py", ".pyi")):
            continue
        try:
            ast.parse(files[path], filename=path)
        except (SyntaxError, ValueError) as exc:
            line = f":{exc.lineno}" if isinstance(exc, SyntaxError) and exc.lineno else ""
            detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
            raise GenerationError(
                f"purista generated Python that does not parse, {path}{line}: {detail} "
                "(a bug in purista: please report it with the spec)"
            ) from None


def _context(ruff: str, files: dict[str, str]) -> str:
    """What ruff's answer depends on besides a file's own path and text."""
    version = _ruff_version(ruff)
    packages = sorted({p.split("/")[1] for p in files if p.startswith("src/") and p.count("/") > 1})
    config = hashlib.sha256(files.get(_CONFIG, "").encode()).hexdigest()
    return f"{version}\n{config}\n{','.join(packages)}"


class _Layout:
    """Which folders are packages and which modules exist: how ruff groups imports."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files
        self.packages = {p.rsplit("/", 1)[0] for p in files if p.endswith("/__init__.py")}
        self.roots = {p.split("/")[1] for p in files if p.startswith("src/") and p.count("/") > 1}

    def of(self, path: str, text: str) -> str:
        """The part of the layout one file's formatting depends on."""
        parts = path.split("/")[:-1]
        chain = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        packages = [d for d in chain if d in self.packages]
        modules = sorted(set(_IMPORT.findall(text)))
        found = [m for m in modules if m.split(".")[0] in self.roots and self._exists(m)]
        return f"{packages}\n{found}"

    def _exists(self, module: str) -> bool:
        return self._file(module) is not None

    def _file(self, module: str) -> str | None:
        base = "src/" + module.replace(".", "/")
        for path in (f"{base}.py", f"{base}/__init__.py"):
            if path in self.files:
                return path
        return None

    def around(self, paths: list[str]) -> set[str]:
        """The other files ruff must see to treat `paths` as it would in the project.

        The modules they import and the packages above those and above `paths`: as
        empty placeholders, since only their presence counts.
        """
        needed: set[str] = set()
        for path in paths:
            modules = _IMPORT.findall(self.files[path])
            targets = [path, *filter(None, (self._file(m) for m in modules))]
            for target in targets:
                needed.add(target)
                parts = target.split("/")[:-1]
                for i in range(1, len(parts) + 1):
                    init = "/".join(parts[:i]) + "/__init__.py"
                    if init in self.files:
                        needed.add(init)
        return needed - set(paths)


_IMPORT = re.compile(r"^[ \t]*(?:from|import)[ \t]+([A-Za-z_][\w.]*)", re.MULTILINE)


def _key(context: str, path: str, text: str, layout: _Layout) -> str:
    """The cache key of one file: its path and text, and what ruff sees around it."""
    around = layout.of(path, text)
    return hashlib.sha256(f"{context}\n{around}\n{path}\n{text}".encode()).hexdigest()


def _run_ruff(
    ruff: str, files: dict[str, str], todo: list[str], placeholders: set[str]
) -> dict[str, str]:
    """Run ruff on the `todo` files, with the project's config and the modules they import."""
    with tempfile.TemporaryDirectory(prefix="purista-format-") as tmp:
        root = Path(tmp)
        for path in sorted(placeholders | set(todo)):
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            if path in placeholders:
                (root / path).touch()
        if _CONFIG in files:
            (root / _CONFIG).write_text(files[_CONFIG], encoding="utf-8")
        for path in todo:
            (root / path).write_text(files[path], encoding="utf-8")
        _ruff([ruff, "check", "--fix-only", "--quiet", "--exit-zero", *todo], root)
        _ruff([ruff, "format", "--quiet", *todo], root)
        return {path: (root / path).read_text(encoding="utf-8") for path in todo}


def _ruff_version(ruff: str) -> str:
    return f"ruff {version('ruff')} at {ruff}"


def _ruff(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip() or f"exit code {result.returncode}"
        raise GenerationError(f"ruff failed on the generated code: {detail[-2000:]}")
