"""`purista plan --target-rate`: replicas and connections from measured service times.

The measurements file is written by the runtime's own `bench.record`, as a `bench` run
writes it; `tests/runtime/test_bench.py` checks that a real run fills it in.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from support import EXAMPLES, purista

SHOP = EXAMPLES / "shop.yaml"


def measured(path: Path, **means: float) -> Path:
    """A measurements file with these mean service times (seconds), by handler."""
    import runtime_double  # noqa: PLC0415  (the runtime imports a rendered module)

    runtime_double.install()
    from purista.runtime import bench  # noqa: PLC0415

    figures: dict[str, Any] = {
        "throughput": 100.0,
        "service_time": {
            task: {"mean": s, "p50": s, "p95": s * 2, "p99": s * 3, "samples": 500}
            for task, s in means.items()
        },
    }
    bench.record(path, figures, dict.fromkeys(means, 10))
    return path


def plan(*args: str) -> tuple[int, dict[str, Any] | None, str]:
    result = purista("plan", "--spec", str(SHOP), "--json", *args)
    try:
        return result.returncode, json.loads(result.stdout), result.stderr
    except ValueError:
        return result.returncode, None, result.stderr


def test_a_command_and_an_event_are_sized_from_their_service_times(tmp_path: Path) -> None:
    kept = measured(
        tmp_path / "m.json", **{"user.v1.signUp": 0.020, "email.v1.confirmOrder": 0.050}
    )
    code, report, stderr = plan(
        "--measurements",
        str(kept),
        "--target-rate",
        "user.v1.signUp=200/s",
        "--target-rate",
        "orderPlaced=100",
    )
    assert code == 0, stderr
    assert report is not None
    workers = {w["worker"]: w for w in report["workers"]}
    user, email = workers["shop-user-v1"], workers["shop-email-v1"]
    assert user["busy_slots_with_headroom"] == pytest.approx(200 * 0.020 * report["headroom"])
    assert user["replicas_needed"] == math.ceil(200 * 0.020 * 1.3 / user["concurrency"]) == 1
    assert email["replicas_needed"] == math.ceil(100 * 0.050 * 1.3 / email["concurrency"]) == 4
    # The connections follow from those replicas as in `purista plan`: the email worker
    # (threads x 2, no database) holds 4 + 4 x 2 Redis connections an instance.
    assert (email["db_connections"], email["redis_connections"]) == (0, 4 * (4 + 4 * 2))
    assert user["db_connections"] == 1 * 10
    assert report["ok"] is True and report["problems"] == []


def test_rates_beyond_the_budgets_exit_1_naming_the_binding_budget(tmp_path: Path) -> None:
    kept = measured(tmp_path / "m.json", **{"user.v1.getUser": 0.5})
    code, report, stderr = plan(
        "--measurements", str(kept), "--target-rate", "user.v1.getUser=1000/s"
    )
    assert code == 1
    assert report is not None and report["ok"] is False
    assert report["database"]["used"] > report["database"]["budget"]
    assert "database:" in stderr and "over the budget of 90" in stderr and "user v1" in stderr


def test_a_target_without_measurements_says_which_bench_records_them(tmp_path: Path) -> None:
    code, _, stderr = plan(
        "--measurements", str(tmp_path / "none.json"), "--target-rate", "processAvatar=5/s"
    )
    assert code == 1
    assert "no measured service time for processAvatar" in stderr
    assert "python -m shop bench processAvatar" in stderr


@pytest.mark.parametrize("rate", ["user.v1.signUp", "user.v1.signUp=-3/s", "nothing=5/s"])
def test_a_bad_target_rate_is_exit_2(rate: str, tmp_path: Path) -> None:
    code, _, stderr = plan("--measurements", str(tmp_path / "m.json"), "--target-rate", rate)
    assert code == 2
    assert "--target-rate" in stderr
