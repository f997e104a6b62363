"""What the deployment tests share: the specs they generate, and their capacity plans."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from support import EXAMPLES, ROOT, purista

# The shop example, a spec with autoscaling and prefork pools, and the smallest spec.
DEPLOY_SPECS = {
    "shop": EXAMPLES / "shop.yaml",
    "scaled": ROOT / "tests" / "specs" / "scaled.yaml",
    "minimal": EXAMPLES / "minimal.yaml",
    "schedules": ROOT / "tests" / "specs" / "schedules.yaml",
    "gateway": ROOT / "tests" / "specs" / "gateway.yaml",
}


def generate_all(base: Path) -> dict[str, Path]:
    """Each deployment spec's project, generated under `base`."""
    out = {}
    for name, spec in DEPLOY_SPECS.items():
        result = purista("new", name, "--spec", str(spec), "--output", str(base))
        assert result.returncode == 0, result.stderr
        out[name] = base / name
    return out


@cache
def plan_of(name: str) -> dict[str, Any]:
    """`purista plan --json` of a deployment spec (which is within budget)."""
    result = purista("plan", "--spec", str(DEPLOY_SPECS[name]), "--json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))
