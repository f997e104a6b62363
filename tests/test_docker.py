"""The Dockerfile and docker-compose.yaml of generated projects, read and checked as files.

No Docker engine runs here, so the Dockerfile is parsed into stages and the compose
file as YAML, and both are held against the spec and `purista plan`.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from deployment import DEPLOY_SPECS, plan_of
from support import CHECKOV, tool_venv

BUILD_TOOLS = ("gcc", "g++", "build-essential", "make", "clang", "cargo", "rustc")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, each with its instructions (continuations joined)."""
    lines, current = [], ""
    for raw in text.splitlines():
        if not current and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        current += raw.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        lines.append(current)
        current = ""
    assert not current, "a continuation runs past the end of the file"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        keyword, _, rest = line.strip().partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            key, _, default = rest.partition("=")
            args[key] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


def expand(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], value)


@pytest.mark.parametrize("name", list(DEPLOY_SPECS))
def test_dockerfile_is_multi_stage_slim_and_unprivileged(
    deploy_projects: dict[str, Path], name: str
) -> None:
    root = deploy_projects[name]
    package = next((root / "src").iterdir()).name
    args, stages = parse_dockerfile((root / "Dockerfile").read_text())
    assert len(stages) >= 2
    build, final = stages[0], stages[-1]
    assert build.name == "build"
    for stage in stages:
        assert re.fullmatch(r"python:3\.\d+-slim", expand(stage.base, args)), stage.base
    # The build stage installs the project; the final one only copies its virtualenv.
    assert any("pip install ." in run for run in build.all("RUN"))
    copies = final.all("COPY")
    assert copies and all(c.startswith("--from=build ") for c in copies)
    for run in final.all("RUN"):
        words = shlex.split(run)
        assert "pip" not in words and "apt-get" not in words, run
        assert not set(words) & set(BUILD_TOOLS), run
    # A fixed, unprivileged user, created in the image and in force when it runs.
    users = final.all("USER")
    assert users, "the final stage must set USER"
    uid, _, gid = users[-1].partition(":")
    assert int(uid) >= 10000 and (not gid or int(gid) >= 10000)
    assert any(f"--uid {uid}" in run for run in final.all("RUN"))
    assert json.loads(final.all("ENTRYPOINT")[-1]) == ["python", "-m", package]
    assert f"{package}._purista.health" in final.all("HEALTHCHECK")[-1]
    env = " ".join(final.all("ENV"))
    assert "PURISTA_HEALTH_DIR=" in env and "PYTHONDONTWRITEBYTECODE=1" in env
    ignored = (root / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests"} <= set(ignored)


def test_checkov_finds_nothing_in_the_dockerfile(deploy_projects: dict[str, Path]) -> None:
    checkov = tool_venv("checkov", CHECKOV)
    result = subprocess.run(
        [
            str(checkov),
            "--framework",
            "dockerfile",
            "-f",
            str(deploy_projects["shop"] / "Dockerfile"),
            "-o",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [f["check_id"] for f in report["results"]["failed_checks"]]
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["failed"] == 0, failed
    assert report["summary"]["passed"] > 5


@pytest.mark.parametrize("name", list(DEPLOY_SPECS))
def test_compose_runs_every_worker_with_its_replicas(
    deploy_projects: dict[str, Path], name: str
) -> None:
    root = deploy_projects[name]
    compose = yaml.safe_load((root / "docker-compose.yaml").read_text())
    plan = plan_of(name)
    services = compose["services"]
    uses_database = plan["database"] is not None and any(
        s["db_pool_per_process"] for s in plan["workers"]
    )
    infrastructure = {"redis", "jaeger", "prometheus", "grafana"}
    infrastructure |= {"postgres"} if uses_database else set()
    project = yaml.safe_load(DEPLOY_SPECS[name].read_text())["project"]["name"]
    workers = {s["worker"].removeprefix(f"{project}-"): s for s in plan["workers"]}
    assert set(services) == infrastructure | set(workers)

    redis = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis and "--maxmemory-policy noeviction" in redis
    if uses_database:
        assert f"max_connections={plan['database']['max_connections']}" in " ".join(
            services["postgres"]["command"]
        )
    spec = yaml.safe_load(DEPLOY_SPECS[name].read_text())
    port = spec.get("infrastructure", {}).get("gateway", {}).get("port", 8080)
    for service, row in workers.items():
        worker = services[service]
        listens = ["--host", "0.0.0.0", "--port", str(port)] if row["kind"] == "gateway" else []
        assert worker["command"] == row["command"] + listens
        assert worker["deploy"]["replicas"] == row["replicas"]
        assert worker["stop_grace_period"] == f"{row['grace_period_seconds']}s"
        assert worker["build"] == "." and worker["read_only"] is True
        assert worker["tmpfs"] == ["/tmp"]
        env = worker["environment"]
        assert env["REDIS_URL"].startswith("redis://redis:6379/")
        assert ("DATABASE_URL" in env) == uses_database
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4317"
        assert env["OTEL_SERVICE_NAME"] == (
            row["service"] if row["kind"] == "service" else row["name"]
        )
        for dependency, condition in worker["depends_on"].items():
            assert dependency in services
            assert condition == {"condition": "service_healthy"}
            assert "healthcheck" in services[dependency]
        assert "health" in " ".join(worker["healthcheck"]["test"])
