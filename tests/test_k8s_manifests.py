"""The Kubernetes manifests (deploy/k8s, kustomize) pass schema validation and keep the rules:
one appliance, worker-only pods of the same image, shared RWX workspaces, Redis for workers only."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from tests.conftest import REPO

K8S = REPO / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"  # the oldest Kubernetes release these manifests are meant for


def kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def resources() -> list[dict]:
    found = []
    for name in kustomization()["resources"]:
        found += [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]
    return found


def by_kind(kind: str) -> dict[str, dict]:
    return {r["metadata"]["name"]: r for r in resources() if r["kind"] == kind}


def test_every_resource_exists_and_passes_strict_schema_validation():
    listed = kustomization()["resources"]
    assert all((K8S / name).is_file() for name in listed)
    assert {p.name for p in K8S.glob("*.yaml")} == {*listed, "kustomization.yaml"}, "an unlisted manifest"
    for resource in resources():
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_broken_manifest():
    deployment = dict(by_kind("Deployment")["openms-workers"])
    deployment["spec"] = {**deployment["spec"], "replicas": "two"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_one_appliance_and_worker_only_pods_of_the_same_image_share_the_workspaces():
    deployments = by_kind("Deployment")
    appliance = deployments["openms-appliance"]["spec"]
    workers = deployments["openms-workers"]["spec"]
    assert appliance["replicas"] == 1 and appliance["strategy"]["type"] == "Recreate"
    [app_box] = appliance["template"]["spec"]["containers"]
    [worker_box] = workers["template"]["spec"]["containers"]
    assert app_box["image"] == worker_box["image"] == "openms-workflow-server"
    assert worker_box["args"] == ["worker"]
    app_env = {e["name"]: e for e in app_box["env"]}
    assert (
        app_env["SCALE_OUT"]["value"] == "true" and "secretKeyRef" in app_env["REDIS_PASSWORD"]["valueFrom"]
    )
    worker_env = {e["name"]: e for e in worker_box["env"]}
    assert worker_env["REDIS_URL"]["value"] == "redis://:$(REDIS_PASSWORD)@openms-redis:6379/0"
    for spec in (appliance, workers):
        volumes = spec["template"]["spec"]["volumes"]
        claims = {v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v}
        assert "openms-workspaces" in claims
        assert spec["template"]["spec"]["terminationGracePeriodSeconds"] >= 90
    claims = by_kind("PersistentVolumeClaim")
    assert claims["openms-workspaces"]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claims["openms-redis-data"]["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_redis_is_internal_and_only_workers_may_reach_it():
    services = by_kind("Service")
    assert all(s["spec"]["type"] == "ClusterIP" for s in services.values())
    assert not any(p["port"] == 9181 for s in services.values() for p in s["spec"]["ports"])
    [policy] = by_kind("NetworkPolicy").values()
    redis_rules = [r for r in policy["spec"]["ingress"] if any(p["port"] == 6379 for p in r.get("ports", []))]
    assert redis_rules and all(
        r["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "openms-worker"}}}]
        for r in redis_rules
    )
    assert "secrets.env" in (REPO / ".gitignore").read_text()


def test_pods_run_as_non_root_with_a_read_only_root_filesystem():
    for name, deployment in by_kind("Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsGroup"] == 0
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            mounted = {m["mountPath"] for m in container["volumeMounts"]}
            assert {"/tmp", "/run", "/data/workspaces"} <= mounted, name
