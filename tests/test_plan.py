"""`purista plan`: the capacity plan's numbers, checked against sums done by hand.

A prefork worker with concurrency C is C processes, each with a database pool of
1; a threads worker is one process with a pool of C; a job-queue worker is one
process with a thread (and a connection) per unit of `concurrency`. Redis, per
instance: 4 for a Celery worker's consumer plus 3 per slot (producer, result
backend, runtime client); a job worker's keeper 1 plus 2 per thread (no results).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import EXAMPLES, ROOT, purista

SCALED = ROOT / "tests" / "specs" / "scaled.yaml"


def plan_json(spec: Path) -> tuple[int, dict[str, Any], str]:
    result = purista("plan", "--spec", str(spec), "--json")
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout), result.stderr


def by_name(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in plan["workers"]}


def test_shop_plan_by_hand() -> None:
    code, plan, _ = plan_json(EXAMPLES / "shop.yaml")
    assert code == 0
    rows = by_name(plan)
    expected = {
        # name: replicas, max, pool, concurrency, db/process, db/instance, db@max, redis@max
        "user": (3, 6, "threads", 10, 10, 10, 6 * 10, 6 * (4 + 4 * 10)),
        "processAvatar": (3, 6, "threads", 2, 2, 2, 6 * 2, 6 * (1 + 3 * 2)),
        "order": (2, 2, "prefork", 4, 1, 4, 2 * 4, 2 * (4 + 4 * 4)),
        "email": (1, 1, "threads", 2, 0, 0, 0, 1 * (4 + 4 * 2)),
    }
    for name, (
        replicas,
        most,
        pool,
        conc,
        per_proc,
        per_inst,
        db_max,
        redis_max,
    ) in expected.items():
        row = rows[name]
        got = (
            row["replicas"],
            row["max_replicas"],
            row["pool"],
            row["concurrency"],
            row["db_pool_per_process"],
            row["db_connections_per_instance"],
            row["db_connections_at_max"],
            row["redis_connections_at_max"],
        )
        assert got == (replicas, most, pool, conc, per_proc, per_inst, db_max, redis_max), name
    assert plan["database"] == {
        "max_connections": 100,
        "reserved_connections": 10,
        "budget": 90,
        "used_at_max": 60 + 12 + 8,
        "ok": True,
    }
    assert plan["redis"]["budget"] == 10000
    assert plan["redis"]["used_at_max"] == 264 + 42 + 40 + 12
    assert plan["ok"] is True and plan["problems"] == []


def test_scaled_plan_by_hand_prefork_versus_threads() -> None:
    code, plan, _ = plan_json(SCALED)
    assert code == 0
    rows = by_name(plan)
    ingest = rows["ingest"]  # prefork x 8, autoscaled to 12
    assert ingest["processes_per_instance"] == 8
    assert ingest["db_pool_per_process"] == 1
    assert ingest["db_connections_per_instance"] == 8
    assert ingest["db_connections_at_max"] == 12 * 8
    assert ingest["redis_connections_per_process"] == 4
    assert ingest["redis_connections_per_instance"] == 4 + 8 * 4
    assert ingest["redis_connections_at_max"] == 12 * 36
    assert ingest["redis_per_instance_by_use"] == {
        "broker": 4 + 8,  # the consumer, and a producer per child
        "results": 8,
        "state_replies_and_jobs": 8,
        "invoke_waits": 8,
    }
    notify = rows["notification-service"]  # threads x 16, no database, scales 0..5
    assert notify["processes_per_instance"] == 1
    assert notify["redis_connections_per_process"] == 16 * 4
    assert (notify["max_replicas"], notify["db_connections_at_max"]) == (5, 0)
    assert notify["redis_connections_at_max"] == 5 * (4 + 64)
    reports, render = rows["reports"], rows["renderReport"]
    assert (reports["db_connections_at_max"], reports["redis_connections_at_max"]) == (2, 12)
    assert render["kind"] == "queue" and render["service"] == "reports"
    assert (render["pool"], render["concurrency"], render["db_pool_per_process"]) == (
        "threads",
        3,
        3,
    )
    assert render["redis_connections_at_max"] == 1 + 3 * 3
    assert render["redis_per_instance_by_use"] == {
        "broker": 3,
        "results": 0,
        "state_replies_and_jobs": 1 + 3,  # the lease keeper, and a connection per thread
        "invoke_waits": 3,
    }
    for row in rows.values():
        assert (
            sum(row["redis_per_instance_by_use"].values())
            == (row["redis_connections_per_instance"])
        )
    assert plan["database"]["budget"] == 300 - 20
    assert plan["database"]["used_at_max"] == 96 + 2 + 3
    assert plan["redis"] == {
        "max_connections": 2000,
        "reserved_connections": 0,
        "budget": 2000,
        "used_at_max": 432 + 340 + 12 + 10,
        "ok": True,
    }
    # Grace periods: the longest handler (or lease) plus the 30 s shutdown window.
    assert ingest["grace_period_seconds"] == 120 + 30
    assert notify["grace_period_seconds"] == 30 + 30
    assert reports["grace_period_seconds"] == 600 + 30
    assert render["grace_period_seconds"] == 900 + 30


def over_budget(tmp_path: Path) -> Path:
    text = SCALED.read_text()
    text = text.replace("max_connections: 300, reserved_connections: 20", "max_connections: 100")
    text = text.replace("max_connections: 2000", "max_connections: 500")
    spec = tmp_path / "purista.yaml"
    spec.write_text(text)
    return spec


def test_over_budget_exits_1_naming_the_services_and_the_fix(tmp_path: Path) -> None:
    spec = over_budget(tmp_path)
    code, plan, stderr = plan_json(spec)
    assert code == 1
    assert plan["ok"] is False
    # 96 + 2 + 3 = 101 > 100 - 10 (the default reserve); 794 > 500.
    assert plan["database"] == {
        "max_connections": 100,
        "reserved_connections": 10,
        "budget": 90,
        "used_at_max": 101,
        "ok": False,
    }
    assert plan["redis"]["ok"] is False and plan["redis"]["used_at_max"] == 794
    assert "ingest v1 (96)" in stderr and "job queue renderReport (3)" in stderr
    assert "notification-service v1 (340)" in stderr
    assert "PgBouncer" in stderr and "concurrency" in stderr and "max replicas" in stderr

    table = purista("plan", "--spec", str(spec))
    assert table.returncode == 1
    assert "database: 101 of 90 connections at max replicas" in table.stdout
    assert "OVER BUDGET" in table.stdout


def test_validate_warns_about_the_budget_but_passes(tmp_path: Path) -> None:
    result = purista("validate", "--spec", str(over_budget(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok ")
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2
    assert "database: 101 connections at max replicas" in warnings[0]
    assert "redis: 794 connections" in warnings[1]


def test_validate_is_quiet_within_budget() -> None:
    result = purista("validate", "--spec", str(SCALED))
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize(
    ("pool", "concurrency", "per_process", "per_instance"),
    [("prefork", 8, 1, 8), ("threads", 8, 8, 8), ("prefork", 1, 1, 1), ("threads", 1, 1, 1)],
)
def test_database_pool_follows_the_process_model(
    tmp_path: Path, pool: str, concurrency: int, per_process: int, per_instance: int
) -> None:
    spec = tmp_path / "purista.yaml"
    spec.write_text(
        "spec_version: 1\n"
        "project: {name: pools}\n"
        "infrastructure: {database: {url: 'postgresql://db/pools', max_connections: 50}}\n"
        "services:\n"
        "  store:\n"
        f"    deployment: {{replicas: 4, concurrency: {concurrency}, pool: {pool}}}\n"
        "    uses_database: true\n"
        "    commands: {put: {}}\n"
    )
    code, plan, _ = plan_json(spec)
    row = plan["workers"][0]
    assert row["db_pool_per_process"] == per_process
    assert row["db_connections_per_instance"] == per_instance
    assert row["db_connections_at_max"] == 4 * per_instance
    assert code == (0 if 4 * per_instance <= 40 else 1)


def test_the_plan_of_an_invalid_spec_is_refused_like_validate() -> None:
    result = purista("plan", "--spec", str(ROOT / "tests/specs/invalid/unknown_key.yaml"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


WORKER_KEYS = {
    "name", "kind", "service", "version", "worker", "command", "replicas", "max_replicas",
    "autoscale", "concurrency", "pool", "processes_per_instance", "db_pool_per_process",
    "db_connections_per_instance", "db_connections_at_max", "redis_connections_per_process",
    "redis_connections_consumer", "redis_connections_per_instance", "redis_per_instance_by_use",
    "redis_connections_at_max", "grace_period_seconds",
}  # fmt: skip
BUDGET_KEYS = {"max_connections", "reserved_connections", "budget", "used_at_max", "ok"}


def test_plan_json_shape_is_the_one_the_docs_document() -> None:
    code, plan, _ = plan_json(EXAMPLES / "shop.yaml")
    assert code == 0
    assert set(plan) == {"workers", "database", "redis", "ok", "problems"}
    assert set(plan["database"]) == BUDGET_KEYS
    assert set(plan["redis"]) == BUDGET_KEYS
    assert plan["ok"] is True
    assert plan["problems"] == []
    for row in plan["workers"]:
        assert set(row) == WORKER_KEYS, row["name"]
        assert set(row["redis_per_instance_by_use"]) == {
            "broker", "results", "state_replies_and_jobs", "invoke_waits"
        }  # fmt: skip
        if row["autoscale"] is not None:
            assert set(row["autoscale"]) == {
                "min_replicas", "max_replicas", "target_queue_length", "lists"
            }  # fmt: skip
    # A job queue's worker is a worker of kind "queue" that names its service, not a service.
    kinds = {(row["kind"], row["name"], row["service"]) for row in plan["workers"]}
    assert kinds == {
        ("service", "email", "email"),
        ("service", "order", "order"),
        ("service", "user", "user"),
        ("queue", "processAvatar", "user"),
    }
    guide = (ROOT / "docs" / "guide" / "cli.md").read_text(encoding="utf-8")
    section = guide.split("## `purista plan --json`", 1)[1].split("\n## ", 1)[0]
    for key in sorted(WORKER_KEYS | BUDGET_KEYS | set(plan)):
        assert f"`{key}`" in section, f"docs/guide/cli.md does not document `{key}`"


def autoscaled(tmp_path: Path, deployment: str) -> Path:
    spec = tmp_path / "purista.yaml"
    spec.write_text(
        "spec_version: 1\n"
        "project: {name: scaling}\n"
        "infrastructure: {redis: {max_connections: 15}}\n"
        "services:\n"
        "  store:\n"
        f"    deployment: {deployment}\n"
        "    commands: {put: {}}\n"
    )
    return spec


def test_replicas_above_the_autoscale_maximum_are_refused(tmp_path: Path) -> None:
    """Each apply sets the Deployment to `replicas` before KEDA scales it back: 10, not 2."""
    spec = autoscaled(
        tmp_path, "{replicas: 10, concurrency: 1, autoscale: {min_replicas: 1, max_replicas: 2}}"
    )
    message = (
        f"{spec}:6:28: services.store.deployment.replicas: `replicas` 10 is above "
        "`autoscale.max_replicas` 2: each `kubectl apply` starts 10 instances before KEDA scales "
        "them back, more connections than the plan counts; set `replicas` between 1 and 2\n"
    )
    for command in ("validate", "plan"):
        result = purista(command, "--spec", str(spec))
        assert (result.returncode, result.stderr) == (2, message), command


@pytest.mark.parametrize(
    ("deployment", "where", "message"),
    [
        (
            "{replicas: 1, autoscale: {min_replicas: 2, max_replicas: 4}}",
            "6:28: services.store.deployment.replicas",
            "`replicas` 1 is below `autoscale.min_replicas` 2, which KEDA keeps running at "
            "least; set `replicas` between 2 and 4",
        ),
        (
            "{autoscale: {min_replicas: 2, max_replicas: 4}}",
            "6:18: services.store.deployment.autoscale",
            "`replicas` (not set, so 1) is below `autoscale.min_replicas` 2; set `replicas` "
            "between 2 and 4",
        ),
    ],
)
def test_replicas_below_the_autoscale_minimum_are_refused(
    tmp_path: Path, deployment: str, where: str, message: str
) -> None:
    spec = autoscaled(tmp_path, deployment)
    result = purista("validate", "--spec", str(spec))
    assert (result.returncode, result.stderr) == (2, f"{spec}:{where}: {message}\n")


@pytest.mark.parametrize("replicas", [0, 1, 2])
def test_replicas_inside_the_autoscale_bounds_are_planned_at_the_maximum(
    tmp_path: Path, replicas: int
) -> None:
    spec = autoscaled(
        tmp_path,
        f"{{replicas: {replicas}, concurrency: 1, pool: threads, "
        "autoscale: {min_replicas: 0, max_replicas: 2}}",
    )
    code, plan, _ = plan_json(spec)
    row = plan["workers"][0]
    assert (row["replicas"], row["max_replicas"]) == (replicas, 2)
    assert plan["redis"]["used_at_max"] == 2 * (4 + 4 * 1)
    assert code == 1  # 16 connections at 2 replicas, over the 15 allowed


def test_an_image_with_a_tag_is_refused_naming_the_fix(tmp_path: Path) -> None:
    """The manifests add `tag`: `shop:v2` would become `shop:v2:0.1.0`."""
    spec = tmp_path / "purista.yaml"
    spec.write_text(
        "spec_version: 1\n"
        "project: {name: shop}\n"
        "infrastructure:\n"
        "  kubernetes: {image: 'ghcr.io/acme/shop:v2'}\n"
        "services: {user: {commands: {signUp: {}}}}\n"
    )
    result = purista("validate", "--spec", str(spec))
    assert (result.returncode, result.stderr) == (
        2,
        f"{spec}:4:23: infrastructure.kubernetes.image: `image` is the repository without a "
        "tag: the manifests add `tag` (now `0.1.0`), which would make "
        "`ghcr.io/acme/shop:v2:0.1.0`; write `image: ghcr.io/acme/shop` and `tag: v2`\n",
    )


def test_an_image_on_a_registry_with_a_port_is_no_tag(tmp_path: Path) -> None:
    spec = tmp_path / "purista.yaml"
    spec.write_text(
        "spec_version: 1\n"
        "project: {name: shop}\n"
        "infrastructure:\n"
        "  kubernetes: {image: 'localhost:5000/acme/shop', tag: v2}\n"
        "services: {user: {commands: {signUp: {}}}}\n"
    )
    result = purista("validate", "--spec", str(spec))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


def test_the_scheduler_is_planned_with_its_redis_connections(tmp_path: Path) -> None:
    spec = ROOT / "tests" / "specs" / "schedules.yaml"
    code, plan, _ = plan_json(spec)
    assert code == 0
    scheduler = by_name(plan)["scheduler"]
    assert (scheduler["kind"], scheduler["command"], scheduler["autoscale"]) == (
        "scheduler",
        ["scheduler"],
        None,
    )
    # 2 replicas (the spec's), each a client for claims and enqueues and a broker connection.
    assert (scheduler["replicas"], scheduler["redis_connections_at_max"]) == (2, 2 * 2)
    assert scheduler["db_connections_at_max"] == 0
    assert plan["redis"]["used_at_max"] == sum(
        w["redis_connections_at_max"] for w in plan["workers"]
    )
    text = purista("plan", "--spec", str(spec)).stdout
    assert any(line.split()[:3] == ["scheduler", "2", "2"] for line in text.splitlines()), text
    # Without schedules there is no scheduler.
    assert "scheduler" not in by_name(plan_json(EXAMPLES / "shop.yaml")[1])
    # Its replicas and resources come from `infrastructure.scheduler` (2 by default).
    plain = tmp_path / "plain.yaml"
    plain.write_text(
        spec.read_text().replace("  scheduler: {replicas: 2,", "  scheduler: {replicas: 3,")
    )
    assert by_name(plan_json(plain)[1])["scheduler"]["replicas"] == 3
