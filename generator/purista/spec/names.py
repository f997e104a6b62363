"""Names derived from the spec, built once and valid by construction.

The spec's spelling stays on the wire; Python and Kubernetes get their own
spellings, derived here and nowhere else.
"""

from __future__ import annotations

import builtins
import keyword
import re
import sys

from purista.spec._dependency_modules import DEPENDENCY_MODULES

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"
NAME_MAX_LENGTH = 50
KUBE_NAME_MAX_LENGTH = 63  # an RFC 1123 label
_NAME = re.compile(NAME_PATTERN)
_UNSAFE = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))


# Folders of the generated project, the generator itself, CPython's own tests (`test`,
# left out of `sys.stdlib_module_names`), and `six`, which python-dateutil 2.x installs:
# celery allows it, though today's resolution takes a dateutil without it.
_OTHER_MODULES = frozenset({"purista", "six", "src", "test", "tests"})


def hidden_module(name: str) -> str | None:
    """The installed module a project called `name` would hide behind its package, or None.

    Both would answer to one import name and only the first on `sys.path` is found:
    `python -m requests` runs the library, or the library's users import the project.
    """
    package = PythonIdentifier(name).rstrip("_")
    if package in sys.stdlib_module_names:
        return f"the standard library's `{package}` module"
    if package in DEPENDENCY_MODULES:
        return f"the `{package}` module, which the generated project's dependencies install"
    if package in _OTHER_MODULES:
        return f"the `{package}` module"
    return None


def is_valid_name(name: str) -> bool:
    """Whether `name` may name a project, service, command, event or queue."""
    return _NAME.fullmatch(name) is not None and len(name) <= NAME_MAX_LENGTH


def words(name: str) -> list[str]:
    """Split camelCase, snake_case and kebab-case into lower-case words."""
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", name)
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", spaced)
    return [w.lower() for w in re.split(r"[\s_-]+", spaced) if w]


class PythonIdentifier(str):
    """A snake_case identifier that is never a keyword or a builtin (`class` -> `class_`)."""

    __slots__ = ()

    def __new__(cls, name: str) -> PythonIdentifier:
        """Derive the identifier from a spec name."""
        ident = "_".join(words(name))
        if ident in _UNSAFE:
            ident += "_"
        if not ident.isidentifier():
            raise ValueError(f"cannot derive a Python identifier from {name!r}")
        return super().__new__(cls, ident)


class ClassName(str):
    """A CamelCase class name (`signUp` -> `SignUp`); never a keyword (`none` -> `None_`)."""

    __slots__ = ()

    def __new__(cls, name: str, suffix: str = "") -> ClassName:
        """Derive the class name from a spec name and an optional suffix."""
        ident = "".join(w[:1].upper() + w[1:] for w in words(name)) + suffix
        if keyword.iskeyword(ident):
            ident += "_"
        if not ident.isidentifier():
            raise ValueError(f"cannot derive a class name from {name!r}")
        return super().__new__(cls, ident)


class KubeName(str):
    """An RFC 1123 label (`notificationService` -> `notification-service`)."""

    __slots__ = ()

    def __new__(cls, *parts: str) -> KubeName:
        """Join the kebab-cased parts with hyphens."""
        label = "-".join("-".join(words(p)) for p in parts)
        valid = re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", label)
        if not valid or len(label) > KUBE_NAME_MAX_LENGTH:
            raise ValueError(f"cannot derive a Kubernetes name from {parts!r}")
        return super().__new__(cls, label)
