"""The Kubernetes manifests say what deploy/README.md promises (``make manifests`` checks them
against the API's schemas): every file is in a kustomization, the pods are hardened and probed,
egress goes to Redis and Rivya only, and the Operator's alert rules are the rules promtool tests;
and the image is built from a pinned base with the exact versions the tests ran with."""

from __future__ import annotations

import fnmatch
import importlib.metadata
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
RULES = K8S.parent / "prometheus" / "rules.yaml"


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def test_every_manifest_is_applied_by_a_kustomization() -> None:
    for folder in (K8S, K8S / "monitoring"):
        listed = set(load(folder / "kustomization.yaml")["resources"])
        present = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
        assert listed == present - {"secret.example.yaml"}, folder


def test_the_pods_are_hardened_probed_and_read_their_secrets_from_files() -> None:
    deployment = load(K8S / "deployment.yaml")
    assert deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e.get("value", "") for e in container["env"]}
    for secret in ("RIVYA_API_KEY_FILE", "GATEWAY_ADMIN_TOKEN_FILE", "GATEWAY_TOKEN_SECRET_FILE"):
        assert env[secret].startswith("/var/run/secrets/")
    assert not any("KEY" in name and not name.endswith("_FILE") for name in env)
    resources = container["resources"]
    assert resources["requests"]["cpu"]
    assert resources["limits"]["memory"]


def test_the_pods_memory_limit_holds_the_bounds_deploy_readme_states() -> None:
    """290 MB + workers x (DECODE_MEMORY_MB + 130 MB): the serving process and helpers, and each
    image-check worker at its address-space cap (deploy/README.md, "Memory")."""
    config = load(K8S / "configmap.yaml")["data"]
    [container] = load(K8S / "deployment.yaml")["spec"]["template"]["spec"]["containers"]
    limit = container["resources"]["limits"]["memory"]
    assert limit.endswith("Mi")
    bound_mb = 290 + int(config["IMAGE_CHECK_WORKERS"]) * (int(config["DECODE_MEMORY_MB"]) + 130)
    assert int(limit[:-2]) * 1_048_576 >= bound_mb * 1_000_000
    readme = (ROOT / "deploy" / "README.md").read_text()
    assert "290 MB + `IMAGE_CHECK_WORKERS` \u00d7 (`DECODE_MEMORY_MB` +\n130 MB)" in readme


def test_the_autoscaler_and_disruption_budget_keep_enough_pods() -> None:
    hpa = load(K8S / "hpa.yaml")
    pdb = load(K8S / "pdb.yaml")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "rivya-gateway"
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["minAvailable"]


def test_egress_goes_to_redis_rivya_and_dns_only() -> None:
    policy = load(K8S / "networkpolicy.yaml")
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    ports = sorted(p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"])
    assert ports == [53, 53, 443, 6379, 26379]


def test_the_service_monitor_scrapes_the_service() -> None:
    monitor = load(K8S / "monitoring" / "servicemonitor.yaml")
    service = load(K8S / "service.yaml")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    # It presents the token the Deployment gives the gateway as METRICS_TOKEN.
    secret = endpoint["authorization"]["credentials"]
    [container] = load(K8S / "deployment.yaml")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["METRICS_TOKEN_FILE"].endswith("/" + secret["key"])
    assert secret["key"] in load(K8S / "secret.example.yaml")["stringData"]


def test_the_operators_alert_rules_are_the_rules_promtool_tests() -> None:
    rule = load(K8S / "monitoring" / "prometheusrule.yaml")
    assert rule["spec"]["groups"] == load(RULES)["groups"]


def test_the_image_installs_the_versions_the_tests_ran_with() -> None:
    # `make install` and the Dockerfile both install under deploy/constraints.txt.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--constraint constraints.txt" in dockerfile
    assert "--constraint deploy/constraints.txt" in (ROOT / "Makefile").read_text()
    for line in (ROOT / "deploy/constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert importlib.metadata.version(name) == version, name


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        verdict = False
        for rule in rules:  # the last matching rule wins, as in Docker
            pattern = rule.removeprefix("!")
            if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern + "/*"):
                verdict = not rule.startswith("!")
        return verdict

    sources = [
        source
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and "--from" not in line
        for source in line.split()[1:-1]
    ]
    assert sources
    assert [source for source in sources if ignored(source)] == []
    # Both stages from one base, pinned to a patch release.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:\d+\.\d+\.\d+-slim-", dockerfile, re.M)
    assert re.findall(r"^FROM (\S+)", dockerfile, re.M) == ["${PYTHON_IMAGE}"] * 2
