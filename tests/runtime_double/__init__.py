"""A small project for the runtime's unit tests: the double of the module purista renders.

`project.py` plays `_purista/project.py` (installed as `purista.runtime.project` by
`install()`), `greeter.py` and `shouter.py` play two services' generated
`_generated/` modules, and `handlers/` holds their handlers.
"""

from __future__ import annotations

import importlib
import sys


def install() -> None:
    """Make the runtime import this double as its rendered `project` module."""
    sys.modules["purista.runtime.project"] = importlib.import_module("runtime_double.project")
