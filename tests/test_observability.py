"""The generated dashboard and alerts: PromQL that Prometheus parses, rules that fit
prometheus-operator's CRD, thresholds from the spec and its `alerts:` blocks.

PromQL is checked offline by `promtool check rules` (Debian's `prometheus` package):
every panel's query is wrapped in a recording rule of a scratch rule file.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from support import ROOT, purista

CRD_SCHEMA = ROOT / "tests" / "schemas" / "prometheusrule.v1.json"
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian's prometheus package) missing"
)


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def expressions(board: dict[str, Any]) -> list[str]:
    """Every panel query, with Grafana's `$__rate_interval` as Prometheus would get it."""
    return [
        t["expr"].replace("$__rate_interval", "1m") for p in panels(board) for t in p["targets"]
    ]


def promtool_check(rules: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture(scope="module")
def shop(deploy_projects: dict[str, Path]) -> Path:
    return deploy_projects["shop"]


def test_the_dashboard_has_an_overview_and_a_row_per_service(shop: Path) -> None:
    board = json.loads((shop / "observability" / "grafana" / "shop.json").read_text())
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == ["Overview", "Service email v1", "Service order v1", "Service user v1"]
    titles = [p["title"] for p in panels(board)]
    for wanted in (
        "Messages per second",
        "Error rate",
        "p99 duration",
        "user v1: command backlog",
        "user.v1.signUp: duration",
        "email v1: subscription lag",
        "job queue processAvatar: jobs",
        "job queue processAvatar: oldest pending job",
        "job queue processAvatar: wait time",
        "user v1: database pool",
        "order v1: CPU per instance",
        "order v1: memory per instance",
    ):
        assert wanted in titles
    by_title = {p["title"]: p for p in panels(board)}
    # Thresholds come from the spec and the plan: a timeout, a lease, limits, the pool.
    line = by_title["user.v1.signUp: duration"]["fieldConfig"]["defaults"]["thresholds"]
    assert line["steps"][-1]["value"] == 10
    lease = by_title["job queue processAvatar: oldest pending job"]["fieldConfig"]["defaults"]
    assert lease["thresholds"]["steps"][-1]["value"] == 300
    memory = by_title["order v1: memory per instance"]["fieldConfig"]["defaults"]
    assert memory["thresholds"]["steps"][-1]["value"] == 512 * 2**20
    pool = by_title["order v1: database pool"]["fieldConfig"]["defaults"]
    assert pool["thresholds"]["steps"][-1]["value"] == 4  # prefork x 4, one each
    assert any(
        "Jaeger" in link["title"]
        for link in by_title["user v1: error rate"].get("links", []) + board["links"]
    )
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))


def test_the_dashboard_config_map_carries_the_dashboard_for_grafanas_sidecar(shop: Path) -> None:
    (config,) = yaml.safe_load_all((shop / "k8s" / "base" / "dashboard.yaml").read_text())
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    board = json.loads((shop / "observability" / "grafana" / "shop.json").read_text())
    assert json.loads(config["data"]["shop.json"]) == board


@needs_promtool
@pytest.mark.parametrize("name", ["shop", "scaled", "minimal"])
def test_every_panel_query_and_rule_parses(
    deploy_projects: dict[str, Path], name: str, tmp_path: Path
) -> None:
    root = deploy_projects[name]
    board = json.loads(next((root / "observability" / "grafana").glob("*.json")).read_text())
    queries = expressions(board)
    scratch = tmp_path / "panels.yaml"
    scratch.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "panels",
                        "rules": [
                            {"record": f"purista:panel_{i}", "expr": q}
                            for i, q in enumerate(queries)
                        ],
                    }
                ]
            }
        )
    )
    done = promtool_check(scratch)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(queries)} rules found" in done.stdout
    done = promtool_check(root / "observability" / "prometheus" / "alerts.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    (rule,) = yaml.safe_load_all((root / "k8s" / "base" / "alerts.yaml").read_text())
    operator = tmp_path / "operator.yaml"
    operator.write_text(yaml.safe_dump(rule["spec"]))
    done = promtool_check(operator)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_fit_prometheus_operators_crd_and_say_what_to_do(shop: Path) -> None:
    (rule,) = yaml.safe_load_all((shop / "k8s" / "base" / "alerts.yaml").read_text())
    schema = json.loads(CRD_SCHEMA.read_text())
    errors = [e.message for e in Draft7Validator(schema).iter_errors(rule)]
    assert errors == []
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    known = set(schema["properties"]["spec"]["properties"]["groups"]["items"]["properties"])
    alerts = []
    for group in rule["spec"]["groups"]:
        assert set(group) <= known
        for alert in group["rules"]:
            assert set(alert) <= {"alert", "expr", "for", "labels", "annotations"}
            service = alert["labels"]["purista_service"]
            notes = alert["annotations"]
            assert notes["summary"] and notes["runbook"]
            assert f"service {service}" in notes["description"]
            alerts.append(alert["alert"])
    assert len(alerts) == len(set(alerts))
    kinds = {re.sub(r"^Shop(User|Order|Email)V1", "", a) for a in alerts}
    assert {
        "CommandBacklogGrowing",
        "ProcessAvatarOldestOverLease",
        "ProcessAvatarDeadLetters",
        "WelcomeNewUserLag",
        "WelcomeNewUserDeadLetters",
        "SignUpErrorRate",
        "SignUpNearTimeout",
        "DatabasePoolWaiting",
        "ProcessAvatarJobsDown",
        "UserV1Down",
    } <= kinds
    by_name = {a["alert"]: a for g in rule["spec"]["groups"] for a in g["rules"]}
    assert by_name["ShopUserV1SignUpNearTimeout"]["expr"].endswith("> 8")  # 80 % of 10 s
    assert by_name["ShopUserV1ProcessAvatarOldestOverLease"]["expr"].endswith("> 300")


def test_the_alerts_block_sets_thresholds_per_service_and_per_command(tmp_path: Path) -> None:
    spec = tmp_path / "purista.yaml"
    spec.write_text(
        """
spec_version: 1
project: {name: tuned}
services:
  api:
    alerts: {error_rate: 0.2, latency: 0.5, backlog_for: 3, lag: 50}
    commands:
      slow: {timeout: 60, alerts: {latency: 0.9, error_rate: 0.01}}
      quick: {timeout: 2}
    subscriptions:
      seen: {event: happened}
events:
  happened: {}
"""
    )
    result = purista("new", "tuned", "--spec", str(spec), "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    rules = yaml.safe_load(
        (tmp_path / "tuned" / "observability/prometheus/alerts.yaml").read_text()
    )
    by_name = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert by_name["TunedApiV1SlowNearTimeout"]["expr"].endswith("> 54")
    assert by_name["TunedApiV1QuickNearTimeout"]["expr"].endswith("> 1")
    assert by_name["TunedApiV1SlowErrorRate"]["expr"].endswith("> 0.01")
    assert by_name["TunedApiV1QuickErrorRate"]["expr"].endswith("> 0.2")
    assert by_name["TunedApiV1CommandBacklogGrowing"]["for"] == "3m"
    assert by_name["TunedApiV1SeenLag"]["expr"].endswith("> 50")


def test_a_bad_threshold_is_a_located_error(tmp_path: Path) -> None:
    spec = tmp_path / "purista.yaml"
    spec.write_text(
        "spec_version: 1\nproject: {name: bad}\nservices:\n  api:\n"
        "    commands:\n      go:\n        alerts: {latency: 1.5}\n"
    )
    result = purista("validate", "--spec", str(spec))
    assert result.returncode == 2
    assert "services.api.commands.go.alerts.latency" in result.stderr
    assert "purista.yaml:7" in result.stderr
