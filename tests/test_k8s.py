"""Kubernetes manifests: valid for Kubernetes 1.29-1.33, clean under checkov, KEDA objects
valid against KEDA's CRDs, and every number cross-checked against the spec and `purista plan`.

KEDA's CRD schemas are read from ../shared/k8s-schemas beside the repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from deployment import DEPLOY_SPECS, plan_of
from jsonschema import Draft7Validator
from support import CHECKOV, ROOT, tool_venv

KUBERNETES_VERSIONS = ["1.29.0", "1.30.0", "1.31.0", "1.32.0", "1.33.0"]
KEDA_SCHEMAS = ROOT.parent / "shared" / "k8s-schemas"
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}
# Custom resources kubernetes-validate has no schema of (tests/test_observability.py checks
# the PrometheusRule against prometheus-operator's CRD).
CUSTOM_KINDS = KEDA_KINDS | {"PrometheusRule"}
RFC1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DIGEST_SKIP = "CKV_K8S_43"


@pytest.fixture(scope="module")
def checkov() -> Path:
    return tool_venv("checkov", CHECKOV)


def manifest_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "k8s").rglob("*.yaml") if p.name != "kustomization.yaml")


def documents(paths: list[Path]) -> list[dict[str, Any]]:
    docs = []
    for path in paths:
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def by_kind(root: Path, kind: str, *, base_only: bool = False) -> dict[str, dict[str, Any]]:
    paths = manifest_files(root)
    if base_only:
        paths = [p for p in paths if "base" in p.parts]
    return {d["metadata"]["name"]: d for d in documents(paths) if d["kind"] == kind}


def spec_of(name: str) -> dict[str, Any]:
    return yaml.safe_load(DEPLOY_SPECS[name].read_text())


def kubectl_kustomize(overlay: Path) -> str:
    result = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def kubernetes_validate(paths: list[Path], version: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", version, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


# ---------------------------------------------------------------- validity


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", list(DEPLOY_SPECS))
def test_manifests_pass_kubernetes_validate_strict(
    deploy_projects: dict[str, Path], name: str, version: str
) -> None:
    custom = {"keda.yaml", "alerts.yaml"}
    files = [p for p in manifest_files(deploy_projects[name]) if p.name not in custom]
    assert len(files) >= 7
    result = kubernetes_validate(files, version)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Couldn't find schema" not in result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) not installed")
@pytest.mark.parametrize("name", ["shop", "scaled"])
def test_built_overlays_pass_kubernetes_validate_strict(
    deploy_projects: dict[str, Path], name: str, tmp_path: Path
) -> None:
    for overlay in ("dev", "prod"):
        built = tmp_path / f"{overlay}.yaml"
        built.write_text(kubectl_kustomize(deploy_projects[name] / "k8s" / "overlays" / overlay))
        kinds = {d["kind"] for d in documents([built])}
        plain = tmp_path / f"{overlay}-plain.yaml"
        plain.write_text(
            yaml.safe_dump_all(d for d in documents([built]) if d["kind"] not in CUSTOM_KINDS)
        )
        assert "Deployment" in kinds and "NetworkPolicy" in kinds
        for version in (KUBERNETES_VERSIONS[0], KUBERNETES_VERSIONS[-1]):
            result = kubernetes_validate([plain], version)
            assert result.returncode == 0, result.stdout + result.stderr


def run_checkov(checkov: Path, folder: Path) -> dict[str, Any]:
    """checkov's report of one folder; anything it could not parse is a failure."""
    result = subprocess.run(
        [str(checkov), "--framework", "kubernetes", "-d", str(folder), "-o", "json", "--compact"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no JSON report:\n{result.stdout}\n{result.stderr}")
    if isinstance(report, list):
        assert len(report) == 1, report
        report = report[0]
    assert report.get("check_type") == "kubernetes", report
    return dict(report)


def assert_clean(report: dict[str, Any], allowed_skips: set[str]) -> None:
    summary = report["summary"]
    failed = [
        f"{f['check_id']} {f['check_name']}: {f['resource']} ({f['file_path']})"
        for f in report["results"]["failed_checks"]
    ]
    assert summary["parsing_errors"] == 0, summary
    assert summary["failed"] == 0 and not failed, "\n".join(failed)
    assert summary["passed"] > 100 and summary["resource_count"] > 0
    for skipped in report["results"]["skipped_checks"]:
        assert skipped["check_id"] in allowed_skips, skipped["check_id"]
        reason = skipped["check_result"].get("suppress_comment", "")
        assert len(reason) > 20, f"{skipped['check_id']} skipped without a written reason"


@pytest.mark.parametrize("name", list(DEPLOY_SPECS))
def test_checkov_finds_nothing(deploy_projects: dict[str, Path], checkov: Path, name: str) -> None:
    report = run_checkov(checkov, deploy_projects[name] / "k8s")
    assert_clean(report, {DIGEST_SKIP})


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (kustomize) not installed")
def test_checkov_finds_nothing_in_the_built_overlays(
    deploy_projects: dict[str, Path], checkov: Path, tmp_path: Path
) -> None:
    for name in ("shop", "scaled"):
        for overlay in ("dev", "prod"):
            folder = tmp_path / f"{name}-{overlay}"
            folder.mkdir()
            overlay_dir = deploy_projects[name] / "k8s" / "overlays" / overlay
            (folder / "all.yaml").write_text(kubectl_kustomize(overlay_dir))
            # The dev overlay runs a locally loaded image, so it may not demand pulls.
            allowed = {DIGEST_SKIP, "CKV_K8S_15"} if overlay == "dev" else {DIGEST_SKIP}
            assert_clean(run_checkov(checkov, folder), allowed)


def keda_schema(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load((KEDA_SCHEMAS / f"keda.sh_{kind.lower()}s.yaml").read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    return dict(version["schema"]["openAPIV3Schema"])


@pytest.mark.parametrize("name", ["shop", "scaled"])
def test_keda_objects_match_the_crds_and_the_plan(
    deploy_projects: dict[str, Path], name: str
) -> None:
    root = deploy_projects[name]
    docs = documents([root / "k8s" / "base" / "keda.yaml"])
    for doc in docs:
        errors = list(Draft7Validator(keda_schema(doc["kind"])).iter_errors(doc))
        assert not errors, [e.message for e in errors]
    deployments = by_kind(root, "Deployment", base_only=True)
    auths = {d["metadata"]["name"]: d for d in docs if d["kind"] == "TriggerAuthentication"}
    scaled = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ScaledObject"}
    plan = {s["worker"]: s for s in plan_of(name)["workers"]}
    assert set(scaled) == {w for w, s in plan.items() if s["autoscale"]}
    for worker, obj in scaled.items():
        spec, planned = obj["spec"], plan[worker]["autoscale"]
        assert spec["minReplicaCount"] <= spec["maxReplicaCount"]
        assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (
            planned["min_replicas"],
            planned["max_replicas"],
        )
        assert spec["maxReplicaCount"] == plan[worker]["max_replicas"]
        assert spec["scaleTargetRef"]["name"] == worker and worker in deployments
        assert [t["metadata"]["listName"] for t in spec["triggers"]] == planned["lists"]
        for trigger in spec["triggers"]:
            assert trigger["type"] == "redis"
            assert trigger["metadata"]["listLength"] == str(planned["target_queue_length"])
            assert trigger["authenticationRef"]["name"] in auths
    secrets = set()
    for deployment in deployments.values():
        for volume in deployment["spec"]["template"]["spec"]["volumes"]:
            if "secret" in volume:
                secrets.add(volume["secret"]["secretName"])
    for auth in auths.values():
        refs = auth["spec"]["secretTargetRef"]
        assert {r["parameter"] for r in refs} == {"address", "password"}
        assert {r["name"] for r in refs} <= secrets


# ---------------------------------------------------------------- the numbers


def expected_lists(spec: dict[str, Any], service: str) -> list[str]:
    """The Redis lists `worker <service>` consumes, derived from the spec by hand."""
    svc = spec["services"][service]
    queue = f"{spec['project']['name']}.{service}.v{svc.get('version', 1)}"
    return [queue, *(f"{queue}.{sub}" for sub in svc.get("subscriptions", {}))]


def longest(spec: dict[str, Any], service: str, queue: str | None) -> float:
    svc = spec["services"][service]
    if queue is not None:
        return float(svc["queues"][queue].get("lease", 300))
    timeouts = [c.get("timeout", 30) for c in svc.get("commands", {}).values()]
    timeouts += [30] * len(svc.get("subscriptions", {}))  # a subscription's timeout
    return float(max(timeouts))


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


def consumed_queues(root: Path, package: str) -> dict[str, list[str]]:
    """The queues each service's worker consumes, as the project's rendered runtime says."""
    code = (
        f"import json\nfrom {package}._purista.project import SERVICES\n"
        "print(json.dumps({n: list(s.consumes) for n, s in SERVICES.items()}))"
    )
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout))


@pytest.mark.parametrize("name", list(DEPLOY_SPECS))
def test_workers_match_the_spec_and_the_plan(deploy_projects: dict[str, Path], name: str) -> None:
    root, spec, plan = deploy_projects[name], spec_of(name), plan_of(name)
    deployments = by_kind(root, "Deployment", base_only=True)
    pdbs = by_kind(root, "PodDisruptionBudget")
    (capacity,) = (
        d for n, d in by_kind(root, "ConfigMap", base_only=True).items() if n.endswith("-capacity")
    )
    package = next((root / "src").iterdir()).name
    consumed = consumed_queues(root, package)
    assert set(deployments) == {s["worker"] for s in plan["workers"]}
    for row in plan["workers"]:
        if row["kind"] == "gateway":
            continue  # test_the_gateway_is_served_probed_scaled_and_the_only_way_in
        worker, deployment = row["worker"], deployments[row["worker"]]
        assert RFC1123_LABEL.match(worker)
        pod = deployment["spec"]["template"]["spec"]
        main = container(deployment)
        if row["kind"] == "scheduler":
            check_scheduler(spec, row, deployment, package, pdbs[worker])
            continue
        svc = spec["services"][row["service"]]
        dep = svc.get("deployment", {})
        # replicas and the command
        assert deployment["spec"]["replicas"] == row["replicas"] == dep.get("replicas", 1)
        if row["kind"] == "service":
            key = f"{row['name']}.v{row['version']}"  # the service version the worker runs
            assert main["command"] == ["python", "-m", package, "worker", key]
            consumes = consumed[key]
            assert consumes == expected_lists(spec, row["name"])
            if row["autoscale"]:
                assert row["autoscale"]["lists"] == consumes
        else:
            assert main["command"] == ["python", "-m", package, "worker", "--queue", row["name"]]
            assert row["autoscale"] is None or row["autoscale"]["lists"] == [
                f"{spec['project']['name']}:jobs:{row['name']}:pending"
            ]
        # the grace period covers the longest handler (or lease) and the shutdown window
        queue = row["name"] if row["kind"] == "queue" else None
        grace = pod["terminationGracePeriodSeconds"]
        assert grace == row["grace_period_seconds"]
        assert grace >= longest(spec, row["service"], queue) + 30
        # resources, pool kind, concurrency and pool size as planned
        resources = dep.get("resources", {})
        want = {"cpu": resources.get("cpu", "100m"), "memory": resources.get("memory", "128Mi")}
        assert main["resources"] == {"requests": want, "limits": want}
        data = capacity["data"]
        assert data[f"{worker}.pool"] == row["pool"]
        assert int(data[f"{worker}.concurrency"]) == row["concurrency"]
        env = {e["name"]: e for e in main["env"]}
        assert env["PURISTA_CONCURRENCY"]["valueFrom"]["configMapKeyRef"]["key"] == (
            f"{worker}.concurrency"
        )
        if row["db_pool_per_process"]:
            assert svc.get("uses_database") is True
            assert int(data[f"{worker}.db-pool-size"]) == row["db_pool_per_process"]
            ref = env["PURISTA_DB_POOL_SIZE"]["valueFrom"]["configMapKeyRef"]
            assert ref == {"name": capacity["metadata"]["name"], "key": f"{worker}.db-pool-size"}
        else:
            assert "PURISTA_DB_POOL_SIZE" not in env
        assert pdbs[worker]["spec"]["selector"] == deployment["spec"]["selector"]
        # a rolling update never runs more pods than planned
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0


def check_scheduler(
    spec: dict[str, Any],
    row: dict[str, Any],
    deployment: dict[str, Any],
    package: str,
    pdb: dict[str, Any],
) -> None:
    """The scheduler's Deployment: the spec's replicas (2 by default) and resources, no KEDA."""
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    wanted = spec.get("infrastructure", {}).get("scheduler", {})
    assert deployment["spec"]["replicas"] == row["replicas"] == wanted.get("replicas", 2)
    assert row["autoscale"] is None
    main = container(deployment)
    assert main["command"] == ["python", "-m", package, "scheduler"]
    resources = wanted.get("resources", {})
    want = {"cpu": resources.get("cpu", "100m"), "memory": resources.get("memory", "128Mi")}
    assert main["resources"] == {"requests": want, "limits": want}
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace == row["grace_period_seconds"] >= 30
    assert row["redis_connections_at_max"] == 2 * row["replicas"]


@pytest.mark.parametrize("name", list(DEPLOY_SPECS))
def test_pods_are_hardened_and_probed_without_the_broker(
    deploy_projects: dict[str, Path], name: str
) -> None:
    root = deploy_projects[name]
    settings = next(
        d for n, d in by_kind(root, "ConfigMap", base_only=True).items() if n.endswith("-settings")
    )
    for deployment in by_kind(root, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] >= 10000
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["runAsUser"] >= 10000
            assert "livenessProbe" in c and "readinessProbe" in c
            assert c["resources"]["requests"] and c["resources"]["limits"]
            for e in c.get("env", []):
                assert "secretKeyRef" not in e.get("valueFrom", {}), "secrets only as files"
        if deployment["metadata"]["labels"]["app.kubernetes.io/component"] != "worker":
            continue
        main = container(deployment)
        probes = json.dumps([main[p] for p in ("startupProbe", "livenessProbe", "readinessProbe")])
        assert "celery" not in probes and "inspect" not in probes and "redis" not in probes
        mounts = {m["mountPath"]: m for m in main["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
        secret_mount = next(m for m in mounts.values() if "secret" in volumes[m["name"]])
        assert secret_mount["readOnly"] is True
        url_file = settings["data"]["REDIS_URL_FILE"]
        assert url_file.startswith(secret_mount["mountPath"] + "/")
        items = volumes[secret_mount["name"]]["secret"]["items"]
        assert url_file.rsplit("/", 1)[1] in {i["path"] for i in items}
        assert "REDIS_URL" not in settings["data"] and "DATABASE_URL" not in settings["data"]


def test_network_policy_allows_only_metrics_in_and_dns_redis_database_and_collector_out(
    deploy_projects: dict[str, Path],
) -> None:
    (policy,) = by_kind(deploy_projects["scaled"], "NetworkPolicy", base_only=True).values()
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    # Only Prometheus's scrape of the `metrics` port comes in.
    assert policy["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 9464}]}]
    ports = {(p["protocol"], p["port"]) for rule in policy["spec"]["egress"] for p in rule["ports"]}
    # DNS; redis://redis.internal:6380/2; postgresql://db.internal:5433; collector :4318
    assert ports == {("UDP", 53), ("TCP", 53), ("TCP", 6380), ("TCP", 5433), ("TCP", 4318)}
    selector = policy["spec"]["podSelector"]["matchLabels"]
    for deployment in by_kind(deploy_projects["scaled"], "Deployment", base_only=True).values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
    keda = documents([deploy_projects["scaled"] / "k8s" / "base" / "keda.yaml"])
    indexes = {
        t["metadata"]["databaseIndex"]
        for d in keda
        if d["kind"] == "ScaledObject"
        for t in d["spec"]["triggers"]
    }
    assert indexes == {"2"}


def test_the_gateway_is_served_probed_scaled_and_the_only_way_in(
    deploy_projects: dict[str, Path],
) -> None:
    root, plan = deploy_projects["gateway"], plan_of("gateway")
    (row,) = (w for w in plan["workers"] if w["kind"] == "gateway")
    name = row["worker"]
    deployment = by_kind(root, "Deployment", base_only=True)[name]
    main = container(deployment)
    assert main["command"] == [
        "python",
        "-m",
        "gw",
        "gateway",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
    ]
    assert main["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9464, "protocol": "TCP"},
    ]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9464"
    assert annotations["prometheus.io/scrape"] == "true"
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert deployment["spec"]["replicas"] == row["replicas"] == 2
    service = by_kind(root, "Service", base_only=True)[name]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert by_kind(root, "PodDisruptionBudget")[name]["spec"]["maxUnavailable"] == 1
    hpa = by_kind(root, "HorizontalPodAutoscaler", base_only=True)[name]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, row["max_replicas"])
    # Traffic from outside reaches the gateway's port and nothing else (but the metrics
    # ports, for Prometheus).
    policies = by_kind(root, "NetworkPolicy", base_only=True)
    metrics_only = [{"ports": [{"protocol": "TCP", "port": 9464}]}]
    admitting = [p for p in policies.values() if p["spec"]["ingress"] not in ([], metrics_only)]
    assert [p["metadata"]["name"] for p in admitting] == [name]
    assert admitting[0]["spec"]["ingress"] == [
        {"ports": [{"protocol": "TCP", "port": 8080}]},
        *metrics_only,
    ]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert admitting[0]["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    for other, d in by_kind(root, "Deployment", base_only=True).items():
        if other != name:
            pod_labels = d["spec"]["template"]["metadata"]["labels"]
            assert not admitting[0]["spec"]["podSelector"]["matchLabels"].items() <= (
                pod_labels.items()
            )
    # The plan counts its Redis connections: two per request slot, the sender and the probe.
    assert row["redis_connections_per_instance"] == 2 * row["concurrency"] + 2
    assert sum(row["redis_per_instance_by_use"].values()) == row["redis_connections_per_instance"]
    assert row["redis_connections_at_max"] == row["redis_connections_per_instance"] * 6


@pytest.mark.parametrize("name", list(DEPLOY_SPECS))
def test_kustomizations_list_every_manifest(deploy_projects: dict[str, Path], name: str) -> None:
    root = deploy_projects[name] / "k8s"
    base = yaml.safe_load((root / "base" / "kustomization.yaml").read_text())
    listed = sorted(base["resources"])
    present = sorted(
        p.relative_to(root / "base").as_posix()
        for p in (root / "base").rglob("*.yaml")
        if p.name != "kustomization.yaml"
    )
    assert listed == present
    for overlay in ("dev", "prod"):
        kustomization = yaml.safe_load(
            (root / "overlays" / overlay / "kustomization.yaml").read_text()
        )
        assert "../../base" in kustomization["resources"]
        for resource in kustomization["resources"]:
            assert (root / "overlays" / overlay / resource).exists()


@pytest.mark.parametrize("name", ["shop", "minimal"])
def test_dev_overlay_runs_redis_collector_and_jaeger(
    deploy_projects: dict[str, Path], name: str
) -> None:
    root = deploy_projects[name]
    deployments = by_kind(root, "Deployment")
    services = by_kind(root, "Service")
    assert {"redis", "otel-collector", "jaeger"} <= set(deployments) & set(services)
    args = " ".join(container(deployments["redis"])["args"])
    assert "--appendonly yes" in args and "--maxmemory-policy noeviction" in args
    assert ("postgres" in deployments) == (name == "shop")
    kustomization = yaml.safe_load((root / "k8s/overlays/dev/kustomization.yaml").read_text())
    (secret,) = kustomization["secretGenerator"]
    keys = {literal.split("=", 1)[0] for literal in secret["literals"]}
    assert {"redis-url", "redis-address", "redis-password"} <= keys
    assert ("database-url" in keys) == (name == "shop")
