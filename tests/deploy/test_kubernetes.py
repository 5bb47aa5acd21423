"""deploy/kubernetes: every object is valid against the Kubernetes schemas, and the pieces fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli.core import read_models_file
from bot.policy_loader import load_policy_text
from bot.settings import Settings
from tests.deploy.tools import DEPLOY

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate "
                                          "(the dev extra)")

K8S = DEPLOY / "kubernetes"
VERSIONS = ("1.29.0", kubernetes_validate.latest_version())  # oldest in common use, newest known


def _objects() -> list[dict[str, Any]]:
    objects = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return objects


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    [found] = [o for o in _objects() if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    return found


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_is_valid_against_the_kubernetes_schema(version: str) -> None:
    objects = _objects()
    assert len(objects) == 9
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} ({version}): {exc.message} at {exc.path}")
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {"incident-bot"}


def test_kustomization_lists_every_file() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def test_the_deployment_runs_two_probed_replicas_that_drain_before_they_are_killed() -> None:
    deployment = _one("Deployment")
    pod = deployment["spec"]["template"]
    [container] = pod["spec"]["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    drain = 10  # README: the acked work is finished, up to 10 s
    assert pod["spec"]["terminationGracePeriodSeconds"] > pre_stop + drain
    assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert {"name": "PORT", "value": str(ports["http"])} in container["env"]
    assert container["args"] == ["serve"]
    assert _one("PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_metrics_and_probes_are_on_the_admin_port_which_nothing_exposes() -> None:
    """ADMIN_PORT: Prometheus scrapes it and the kubelet probes it; the Service (and so the
    Ingress) routes only the public port, where /metrics is then a 404."""
    pod = _one("Deployment")["spec"]["template"]
    [container] = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert {"name": "ADMIN_PORT", "value": str(ports["admin"])} in container["env"]
    assert ports["admin"] != ports["http"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == ports["admin"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] == "admin", probe
    assert [p["targetPort"] for p in _one("Service")["spec"]["ports"]] == ["http"]


def test_references_between_objects_resolve() -> None:
    deployment = _one("Deployment")
    pod = deployment["spec"]["template"]
    [container] = pod["spec"]["containers"]
    config_maps = {o["metadata"]["name"]: o for o in _objects() if o["kind"] == "ConfigMap"}
    secret = _one("Secret")
    for source in container["envFrom"]:
        if "configMapRef" in source:
            assert source["configMapRef"]["name"] in config_maps
        else:
            assert source["secretRef"]["name"] == secret["metadata"]["name"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    for volume in pod["spec"]["volumes"]:
        if "configMap" in volume:
            assert volume["configMap"]["name"] in config_maps
    env = config_maps["incident-bot-env"]["data"]
    files = config_maps["incident-bot-files"]["data"]
    assert env["POLICY_FILE"] == f"{mounts['config']}/policy.yml" and "policy.yml" in files
    assert env["MODELS_FILE"] == f"{mounts['config']}/models.yml" and "models.yml" in files
    assert env["RUNBOOKS_DIR"] == mounts["runbooks"]
    known = {name.upper() for name in Settings.model_fields}
    assert set(env) | set(secret["stringData"]) <= known, "a setting the bot does not read"
    assert {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "DATABASE_URL"} <= set(secret["stringData"])
    assert all(secret["stringData"].values()), "an empty value is not unset: leave the key out"
    service = _one("Service")
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]


def test_the_ingress_exposes_only_slack_and_the_webhooks() -> None:
    ingress = _one("Ingress")
    paths = [(p["path"], p["pathType"]) for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert paths == [("/slack/events", "Exact"), ("/webhooks", "Prefix")]
    backends = {p["backend"]["service"]["name"] for rule in ingress["spec"]["rules"]
                for p in rule["http"]["paths"]}
    assert backends == {_one("Service")["metadata"]["name"]}
    assert ingress["spec"]["tls"], "Slack only calls HTTPS request URLs"


def test_the_configmaps_hold_a_valid_policy_models_file_and_runbooks(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli.main import main

    files = _one("ConfigMap", "incident-bot-files")["data"]
    load_policy_text(files["policy.yml"], "configmap.yaml:policy.yml")  # raises with file:line: problem
    (tmp_path / "models.yml").write_text(files["models.yml"])
    assert read_models_file(str(tmp_path / "models.yml")).models
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    for name, text in _one("ConfigMap", "incident-bot-runbooks")["data"].items():
        (runbooks / name).write_text(text)
    assert main(["runbooks", "check", str(runbooks)]) == 0, capsys.readouterr().out
