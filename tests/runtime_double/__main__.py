"""`python -m runtime_double ...` (with `tests` on the path): the runtime's own command line
(`python -m <package> ...` in a project) run on the double, for tests that need real
worker processes (signals, crashes, Redis restarts) without generating a project."""

from __future__ import annotations

import runtime_double

runtime_double.install()

from purista.runtime.cli import main  # noqa: E402

main()
