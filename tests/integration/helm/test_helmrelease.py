"""HelmRelease end to end: helm-controller and source-controller as their own processes, the
real cluster, the real `helm` (in the controller and in the test, which reads the releases
with `helm list/history/get values`), charts the test builds, served by a real HTTPS chart
repository and pushed to the real OCI registry."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from helm_env import TIMEOUT, HelmEnv, chart_spec, helm_repository
from kubernetes.client.rest import ApiException
from source_env import SourceEnv, obj_name

from afflux.cli.devenv import Registry
from harness.fixtures_helm import ChartRepoServer, HelmTool
from harness.signing import Cosign
from harness.wait import eventually

pytestmark = pytest.mark.integration
ENV_LABEL = "helmrel"

HELM_CHART_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
#: a second ConfigMap whose name the API server refuses when .Values.bad is set: the
#: upgrade then fails after Helm wrote its record (a failed release to remediate)
BAD_TEMPLATE = ("{{- if .Values.bad }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                "  name: Bad_Name\n{{- end }}\n")


@pytest.fixture(scope="module")
def packages(helm_tool: HelmTool, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    src, out = tmp_path_factory.mktemp("hr-chart-src"), tmp_path_factory.mktemp("hr-chart-pkg")
    result = {}
    for version in ("1.0.0", "1.1.0"):
        chart = helm_tool.make_chart(src / version, "app", version,
                                     files={"templates/bad.yaml": BAD_TEMPLATE})
        result[f"app-{version}"] = helm_tool.package(chart, out)
    broken = helm_tool.make_chart(src / "broken", "broken", "1.0.0", files={
        "templates/broken.yaml": "kind: ConfigMap\n{{ .Values.replicas | no_such_function }}\n"})
    result["broken-1.0.0"] = helm_tool.package(broken, out)
    return result


@pytest.mark.flux_fields("HelmRelease", "spec.chart.spec.chart", "spec.chart.spec.version",
                         "spec.chart.spec.sourceRef.kind", "spec.chart.spec.sourceRef.name",
                         "spec.values", "spec.valuesFrom[].kind", "spec.valuesFrom[].name",
                         "spec.valuesFrom[].valuesKey", "spec.valuesFrom[].targetPath",
                         "status.conditions[].type", "status.conditions[].status",
                         "status.conditions[].reason", "status.conditions[].message",
                         "status.conditions[].observedGeneration",
                         "status.lastAttemptedGeneration", "status.history[].firstDeployed",
                         "status.history[].lastDeployed",
                         "status.helmChart", "status.storageNamespace",
                         "status.lastAttemptedRevision", "status.lastAttemptedReleaseAction",
                         "status.lastAttemptedConfigDigest", "status.lastHandledReconcileAt",
                         "status.history[].name", "status.history[].namespace",
                         "status.history[].version", "status.history[].status",
                         "status.history[].chartName", "status.history[].chartVersion",
                         "status.history[].appVersion", "status.history[].configDigest",
                         "status.history[].digest")
def test_install_upgrade_no_op_and_uninstall_from_a_helm_repository(
        env: HelmEnv, helm_repo_server: ChartRepoServer, packages: dict[str, Path]) -> None:
    repo = helm_repository(env, helm_repo_server, [packages["app-1.0.0"], packages["app-1.1.0"]])
    cm = obj_name("values")
    env.source.core.create_namespaced_config_map(env.namespace, {
        "metadata": {"name": cm}, "data": {"values.yaml": "replicas: 5\nfrom: configmap\n"}})
    env.source.secret("secret-values", {"tag": "v7"})
    name = env.create(obj_name("hr"), {
        **chart_spec(repo, "1.0.0"),
        "valuesFrom": [{"kind": "ConfigMap", "name": cm},
                       {"kind": "Secret", "name": "secret-values", "valuesKey": "tag",
                        "targetPath": "image.tag"}],
        "values": {"replicas": 2}})
    obj = env.ready(name, "InstallSucceeded")
    status = obj["status"]
    release = name  # [targetNamespace-]name
    ready = SourceEnv.condition(obj, "Ready")
    assert ready["message"] == (f"Helm install succeeded for release {env.namespace}/{release}.v1"
                                " with chart app@1.0.0")
    assert SourceEnv.condition(obj, "Released")["reason"] == "InstallSucceeded"
    assert status["helmChart"] == f"{env.namespace}/{env.namespace}-{name}"
    assert status["storageNamespace"] == env.namespace
    assert status["lastAttemptedRevision"] == "1.0.0"
    assert status["lastAttemptedReleaseAction"] == "install"
    [snap] = status["history"]
    assert (snap["name"], snap["namespace"], snap["version"], snap["status"],
            snap["chartName"], snap["chartVersion"], snap["appVersion"]) == (
        release, env.namespace, 1, "deployed", "app", "1.0.0", "1.0.0")
    assert snap["configDigest"] == status["lastAttemptedConfigDigest"]
    assert snap["digest"].startswith("sha256:")
    generation = obj["metadata"]["generation"]
    assert ready["observedGeneration"] == generation
    assert status["lastAttemptedGeneration"] == generation
    first_deployed = snap["firstDeployed"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first_deployed), first_deployed
    assert snap["lastDeployed"] == first_deployed  # helm stamps both at install
    chart = env.source.get("HelmChart", f"{env.namespace}-{name}")
    assert chart["spec"]["sourceRef"] == {"kind": "HelmRepository", "name": repo}

    # the user's helm sees a real release, with the composed values
    assert release in env.helm_list()
    [rev] = env.helm_history(release)
    assert (rev["revision"], rev["status"], rev["chart"]) == (1, "deployed", "app-1.0.0")
    values = json.loads(env.helm_run("get", "values", release, "-o", "json"))
    assert values == {"replicas": 2, "from": "configmap", "image": {"tag": "v7"}}
    assert env.configmap(release)["data"] == {"replicas": "2"}

    # a values change is an upgrade
    env.patch_spec(name, {"values": {"replicas": 3}})
    obj = env.ready(name, "UpgradeSucceeded",
                    check=lambda o: o["status"]["history"][0]["version"] == 2)
    assert [r["status"] for r in env.helm_history(release)] == ["superseded", "deployed"]
    assert [s["version"] for s in obj["status"]["history"]] == [2, 1]
    assert obj["status"]["history"][0]["firstDeployed"] == first_deployed  # kept by upgrades
    assert obj["status"]["history"][0]["lastDeployed"] >= first_deployed
    assert obj["status"]["history"][1]["status"] == "superseded"
    assert env.configmap(release)["data"] == {"replicas": "3"}

    # a new chart version is an upgrade too
    env.patch_spec(name, {"chart": {"spec": {"version": "1.1.0"}}})
    obj = env.ready(name, "UpgradeSucceeded",
                    check=lambda o: o["status"]["history"][0]["chartVersion"] == "1.1.0")
    assert obj["status"]["history"][0]["version"] == 3

    # nothing changed: no helm action, no new record, the same snapshot
    before = obj["status"]["history"]
    stamp = env.request(name)
    obj = env.ready(name, check=lambda o: o["status"].get("lastHandledReconcileAt") == stamp)
    assert obj["status"]["history"] == before
    assert len(env.helm_history(release)) == 3

    # a release changed by hand with helm is taken back
    env.helm_run("upgrade", release, str(packages["app-1.0.0"]), "--reuse-values")
    env.request(name)
    obj = env.ready(name, check=lambda o: o["status"]["history"][0]["version"] == 5)
    assert obj["status"]["history"][0]["chartVersion"] == "1.1.0"

    # deleting the HelmRelease uninstalls the release and deletes its HelmChart
    env.delete(name)
    eventually(lambda: env.gone(name), TIMEOUT, message="HelmRelease deleted")
    assert release not in env.helm_list()
    assert not env.source.exists("HelmChart", f"{env.namespace}-{name}")
    with pytest.raises(ApiException) as err:
        env.configmap(release)
    assert err.value.status == 404


@pytest.mark.flux_fields("HelmRelease", "spec.upgrade.remediation.retries",
                         "spec.upgrade.remediation.remediateLastFailure", "status.upgradeFailures",
                         "status.failures")
def test_a_failed_upgrade_is_rolled_back_then_stalls_until_the_values_change(
        env: HelmEnv, helm_repo_server: ChartRepoServer, packages: dict[str, Path]) -> None:
    repo = helm_repository(env, helm_repo_server, [packages["app-1.0.0"]])
    name = env.create(obj_name("hr"), {
        **chart_spec(repo, "1.0.0"),
        "upgrade": {"remediation": {"retries": 0, "remediateLastFailure": True}}})
    env.ready(name, "InstallSucceeded")
    env.patch_spec(name, {"values": {"bad": True}})
    obj = env.failing(name, "RetriesExceeded", stalled=True)
    history = env.helm_history(name)
    assert [r["status"] for r in history] == ["superseded", "failed", "deployed"]
    assert history[2]["description"] == "Rollback to 1"
    assert "Bad_Name" in history[1]["description"]
    status = obj["status"]
    assert status["upgradeFailures"] == 1 and status["failures"] == 1
    assert "Failed to upgrade after 1 attempt(s)" in SourceEnv.condition(obj, "Ready")["message"]
    remediated = SourceEnv.condition(obj, "Remediated")
    assert remediated["reason"] == "RollbackSucceeded"
    assert remediated["message"] == (f"Helm rollback to previous release {env.namespace}/{name}"
                                     ".v3 with chart app@1.0.0 succeeded")
    released = SourceEnv.condition(obj, "Released")
    assert released["status"] == "False" and released["reason"] == "UpgradeFailed"
    assert "Bad_Name" in released["message"]
    assert [s["version"] for s in status["history"]][:2] == [3, 2]
    reasons = env.source.event_reasons(name)
    assert {"UpgradeFailed", "RollbackSucceeded"} <= set(reasons)

    # new values: the counters start again and the upgrade goes through
    env.patch_spec(name, {"values": {"bad": False, "replicas": 4}})
    obj = env.ready(name, "UpgradeSucceeded")
    assert "upgradeFailures" not in obj["status"]
    assert SourceEnv.condition(obj, "Remediated") is None
    assert env.helm_history(name)[-1]["status"] == "deployed"
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.chartRef.kind", "spec.chartRef.name",
                         "spec.postRenderers[].kustomize.patches[].patch",
                         "spec.postRenderers[].kustomize.patches[].target.kind",
                         "status.lastAttemptedRevisionDigest", "status.history[].ociDigest")
def test_chart_ref_to_an_oci_repository_with_a_post_renderer(env: HelmEnv, registry: Registry,
                                        packages: dict[str, Path]) -> None:
    repository = f"charts-{uuid.uuid4().hex[:6]}"
    env.helm.push(registry, packages["app-1.1.0"], repository)
    env.source.secret("regcred", {".dockerconfigjson": json.dumps({"auths": {registry.host: {
        "username": registry.username, "password": registry.password}}})},
        "kubernetes.io/dockerconfigjson")
    env.source.secret("registry-ca", {"ca.crt": registry.ca_cert.read_bytes()})
    oci = env.source.create("OCIRepository", obj_name("oci"), {
        "url": f"oci://{registry.host}/{repository}/app", "ref": {"tag": "1.1.0"},
        "layerSelector": {"mediaType": HELM_CHART_MEDIA_TYPE, "operation": "copy"},
        "secretRef": {"name": "regcred"}, "certSecretRef": {"name": "registry-ca"}})
    patch = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: any\n  labels:\n"
             "    post-rendered: \"yes\"\n")
    name = env.create(obj_name("hr"), {
        "chartRef": {"kind": "OCIRepository", "name": oci}, "values": {"replicas": 6},
        "postRenderers": [{"kustomize": {"patches": [
            {"patch": patch, "target": {"kind": "ConfigMap"}}]}}]})
    obj = env.ready(name, "InstallSucceeded")
    oci_revision = env.source.get("OCIRepository", oci)["status"]["artifact"]["revision"]
    digest = oci_revision.rsplit("@", 1)[1]
    assert obj["status"]["lastAttemptedRevision"] == "1.1.0"
    assert obj["status"]["lastAttemptedRevisionDigest"] == digest
    assert obj["status"]["history"][0]["ociDigest"] == digest
    assert "helmChart" not in obj["status"]
    assert env.helm_history(name)[0]["chart"] == "app-1.1.0"
    configmap = env.configmap(name)
    assert configmap["data"] == {"replicas": "6"}
    assert configmap["metadata"]["labels"]["post-rendered"] == "yes"  # kustomize ran
    env.delete(name)
    eventually(lambda: name not in env.helm_list(), TIMEOUT, message="release uninstalled")


@pytest.mark.flux_fields("HelmRelease", "spec.valuesFrom[].optional", "status.installFailures")
def test_bad_input_ends_in_a_condition_that_says_what_to_change(
        env: HelmEnv, helm_repo_server: ChartRepoServer, packages: dict[str, Path]) -> None:
    repo = helm_repository(env, helm_repo_server,
                           [packages["app-1.0.0"], packages["broken-1.0.0"]])

    # a chart version that does not exist
    missing = env.create(obj_name("hr"), chart_spec(repo, "9.9.9"))

    def says_the_version() -> str:  # once source-controller has looked for it
        message = SourceEnv.condition(env.failing(missing, "ArtifactFailed", timeout=1),
                                      "Ready")["message"]
        assert "9.9.9" in message, message
        return message

    message = eventually(says_the_version, TIMEOUT, message="the missing version named")
    assert f"HelmChart '{env.namespace}/{env.namespace}-{missing}' is not ready" in message
    assert "9.9.9" in message

    # a valuesFrom that does not exist (not optional)
    novalues = env.create(obj_name("hr"), {
        **chart_spec(repo, "1.0.0"),
        "valuesFrom": [{"kind": "ConfigMap", "name": "nowhere"}]})
    obj = env.failing(novalues, "InitFailed")
    assert SourceEnv.condition(obj, "Ready")["message"] == (
        f"could not resolve values: ConfigMap '{env.namespace}/nowhere' not found; create it, "
        "or set optional: true in spec.valuesFrom")
    assert novalues not in env.helm_list()
    env.patch_spec(novalues, {"valuesFrom": [{"kind": "ConfigMap", "name": "nowhere",
                                              "optional": True}]})
    env.ready(novalues, "InstallSucceeded")

    # a chart that does not render: the install fails (nothing installed), then stalls
    broken = env.create(obj_name("hr"), chart_spec(repo, "1.0.0", chart="broken"))
    obj = env.failing(broken, "RetriesExceeded", stalled=True)
    message = SourceEnv.condition(obj, "Ready")["message"]
    assert message.startswith("Failed to install after 1 attempt(s): Helm install failed for "
                              f"release {env.namespace}/{broken} with chart broken@1.0.0")
    assert "no_such_function" in message
    assert SourceEnv.condition(obj, "Released")["reason"] == "InstallFailed"
    assert obj["status"]["installFailures"] == 1
    assert broken not in env.helm_list()
    for name in (missing, novalues, broken):
        env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.chart.spec.verify.provider",
                         "spec.chart.spec.verify.secretRef.name")
def test_chart_from_an_oci_helm_repository_is_verified_with_cosign(
        env: HelmEnv, registry: Registry, packages: dict[str, Path], tmp_path: Path) -> None:
    """The chart template's `verify` goes into its HelmChart: a chart signed with the key of
    the Secret is installed (SourceVerified on the HelmChart); with another key, nothing is."""
    base = f"charts-{uuid.uuid4().hex[:6]}"
    signed = env.helm.push(registry, packages["app-1.1.0"], base)
    cosign = Cosign(tmp_path, registry)
    keys = {"right": cosign.generate_key_pair("right"), "wrong": cosign.generate_key_pair("wrong")}
    cosign.sign(f"{registry.host}/{base}/app@{signed}", "right")
    regcred, ca = obj_name("regcred"), obj_name("registry-ca")
    env.source.secret(regcred, {".dockerconfigjson": json.dumps({"auths": {registry.host: {
        "username": registry.username, "password": registry.password}}})},
        "kubernetes.io/dockerconfigjson")
    env.source.secret(ca, {"ca.crt": registry.ca_cert.read_bytes()})
    repo = env.source.create("HelmRepository", obj_name("oci"), {
        "type": "oci", "url": f"oci://{registry.host}/{base}",
        "secretRef": {"name": regcred}, "certSecretRef": {"name": ca}})
    names = {}
    for which, key in keys.items():
        secret = env.source.secret(obj_name(f"cosign-{which}"), {"cosign.pub": key})
        spec = chart_spec(repo, "1.1.0")
        spec["chart"]["spec"]["verify"] = {"provider": "cosign", "secretRef": {"name": secret}}
        names[which] = env.create(obj_name(f"hr-{which}"), spec)
    obj = env.ready(names["right"], "InstallSucceeded")
    helm_chart = env.source.get("HelmChart", obj["status"]["helmChart"].partition("/")[2])
    verified = SourceEnv.condition(helm_chart, "SourceVerified")
    assert verified is not None and verified["status"] == "True", helm_chart["status"]
    assert env.configmap(names["right"])["data"] == {"replicas": "1"}

    obj = env.failing(names["wrong"], "ArtifactFailed",
                      check=lambda o: bool(o["status"].get("helmChart")))
    wrong_chart = obj["status"]["helmChart"].partition("/")[2]

    def refused() -> dict:
        found = SourceEnv.condition(env.source.get("HelmChart", wrong_chart), "SourceVerified")
        assert found is not None and found["status"] == "False", found
        return found

    eventually(refused, TIMEOUT, message="the chart signed with another key is refused")
    assert names["wrong"] not in env.helm_list()
    for name in names.values():
        env.delete(name)
