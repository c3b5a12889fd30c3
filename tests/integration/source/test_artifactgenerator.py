"""ArtifactGenerator and ExternalArtifact on the real cluster, with the real source-controller
(which runs the generators) and kustomize-controller processes.

The acceptance case is the structure of fluxcd/flux2-kustomize-helm-example's first
Kustomizations: an ArtifactGenerator splits the cluster's GitRepository into an
`infrastructure` and an `apps` ExternalArtifact, and Kustomizations apply them with
`sourceRef.kind: ExternalArtifact`.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from afflux.cli.devenv import GitHTTPServer
from harness.fixtures_cluster import Cluster
from harness.kustomize_env import TIMEOUT, Env, configmap, dump, make_env
from harness.wait import eventually

pytestmark = pytest.mark.integration

AG = "artifactgenerators.source.extensions.fluxcd.io"
EA = "externalartifacts.source.toolkit.fluxcd.io"


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from make_env(cluster, start_controller, git_server, tmp_path_factory)


def _repo_files(env: Env, app_value: str) -> dict[str, str]:
    ns = env.namespace
    return {
        "infrastructure/controllers/kustomization.yaml": "resources: [controller.yaml]\n",
        "infrastructure/controllers/controller.yaml": dump(
            configmap("infra-controller", {"role": "controller"}, namespace=ns)),
        "infrastructure/configs/ignored.yaml": dump(configmap("not-applied", namespace=ns)),
        "apps/base/podinfo/kustomization.yaml": "resources: [app.yaml]\n",
        "apps/base/podinfo/app.yaml": dump(configmap("podinfo", {"v": "base"}, namespace=ns)),
        "apps/base/podinfo/NOTES.md": "excluded from the artifact\n",
        "apps/staging/kustomization.yaml": (
            "resources: [../base/podinfo]\n"
            "patches:\n  - path: values.yaml\n"),
        "apps/staging/values.yaml": dump(configmap("podinfo", {"v": app_value}, namespace=ns)),
        "README.md": "not copied\n",
    }


def _generator(env: Env, name: str, source: str, apps_from: str = "@monorepo/apps/staging/**"
               ) -> dict[str, Any]:
    return {
        "apiVersion": "source.extensions.fluxcd.io/v1beta1", "kind": "ArtifactGenerator",
        "metadata": {"name": name, "namespace": env.namespace},
        "spec": {
            "commonMetadata": {"labels": {"team": "platform"},
                               "annotations": {"owner": "ops"}},
            "sources": [{"alias": "monorepo", "kind": "GitRepository", "name": source,
                         "namespace": env.namespace}],
            "artifacts": [
                {"name": f"{name}-infrastructure", "originRevision": "@monorepo",
                 "copy": [{"from": "@monorepo/infrastructure/**", "to": "@artifact/"}]},
                {"name": f"{name}-apps", "originRevision": "@monorepo",
                 "copy": [{"from": "@monorepo/apps/base/**", "to": "@artifact/base/",
                           "exclude": ["*.md"]},
                          {"from": apps_from, "to": "@artifact/staging/"}]},
            ],
        },
    }


def _artifact(env: Env, name: str) -> dict[str, Any]:
    body = env.get(EA, name)
    assert body is not None, f"ExternalArtifact {name} not found"
    artifact = (body.get("status") or {}).get("artifact")
    assert artifact, body
    return dict(artifact)


def _members(artifact: dict[str, Any]) -> dict[str, bytes]:
    """The files of a served artifact, its digest and size checked."""
    with urllib.request.urlopen(artifact["url"], timeout=10) as resp:
        data = resp.read()
    assert artifact["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert artifact["size"] == len(data)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers() if m.isfile()}


def _ready(env: Env, kind: str, name: str) -> dict[str, Any]:
    body = env.get(kind, name)
    assert body is not None
    return env.condition(body.get("status") or {}, "Ready") or {}


@pytest.mark.flux_fields("ArtifactGenerator", "spec.sources[].alias", "spec.sources[].kind",
                         "spec.sources[].name", "spec.artifacts[].name",
                         "spec.artifacts[].originRevision", "spec.artifacts[].copy[].from",
                         "spec.artifacts[].copy[].to", "status.inventory[].name",
                         "status.conditions[].type", "status.conditions[].status",
                         "status.conditions[].reason", "status.conditions[].message")
@pytest.mark.flux_fields("ExternalArtifact", "spec.sourceRef.kind", "spec.sourceRef.name",
                         "status.artifact.revision", "status.artifact.digest",
                         "status.artifact.metadata", "status.artifact.url")
@pytest.mark.flux_fields("Kustomization", "spec.sourceRef.kind")
@pytest.mark.flux_fields("ArtifactGenerator", "status.lastHandledReconcileAt",
                         "status.conditions[].observedGeneration",
                         "status.conditions[].lastTransitionTime")
@pytest.mark.flux_fields("ExternalArtifact", "status.conditions[].observedGeneration",
                         "status.conditions[].lastTransitionTime")
@pytest.mark.flux_fields("ArtifactGenerator", "spec.commonMetadata", "spec.sources[].namespace",
                         "spec.artifacts[].copy[].exclude", "status.inventory[].digest",
                         "status.inventory[].filename", "status.inventory[].namespace",
                         "status.observedSourcesDigest")
@pytest.mark.flux_fields("ExternalArtifact", "spec.sourceRef.apiVersion",
                         "spec.sourceRef.namespace", "status.conditions[].reason",
                         "status.conditions[].message", "status.artifact.path",
                         "status.artifact.size", "status.artifact.lastUpdateTime",
                         "status.conditions[].type",
                         "status.conditions[].status")
def test_generator_splits_a_repository_into_external_artifacts_kustomizations_apply(
        env: Env) -> None:
    repo, sha = env.repo(_repo_files(env, "staging-1"))
    source = env.source(repo)
    gen = f"gen-{uuid.uuid4().hex[:6]}"
    env.apply(_generator(env, gen, source))
    infra = env.kustomization(f"{gen}-infra", "", path="./controllers",
                              sourceRef={"kind": "ExternalArtifact",
                                         "name": f"{gen}-infrastructure"})
    apps = env.kustomization(f"{gen}-apps", "", path="./staging",
                             sourceRef={"kind": "ExternalArtifact", "name": f"{gen}-apps"})

    origin = f"main@sha1:{sha}"

    def applied(name: str) -> dict[str, Any]:
        status = env.status(name)
        ready = env.condition(status, "Ready")
        assert ready is not None and ready["status"] == "True", ready
        assert status.get("lastAppliedOriginRevision") == origin, status
        return status

    infra_status = eventually(lambda: applied(infra), TIMEOUT, message="infra applied")
    eventually(lambda: applied(apps), TIMEOUT, message="apps applied")

    # the ExternalArtifacts: produced by the generator, served, content-addressed
    first_infra = _artifact(env, f"{gen}-infrastructure")
    assert first_infra["revision"].startswith("latest@sha256:")
    assert first_infra["digest"].startswith("sha256:")
    assert first_infra["metadata"] == {"org.opencontainers.image.revision": origin}
    assert first_infra["url"].endswith(".tar.gz")
    assert first_infra["url"].endswith(first_infra["path"])
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", first_infra["lastUpdateTime"])
    apps_files = _members(_artifact(env, f"{gen}-apps"))
    assert sorted(apps_files) == ["base/podinfo/app.yaml", "base/podinfo/kustomization.yaml",
                                  "staging/kustomization.yaml", "staging/values.yaml"]
    assert infra_status["lastAppliedRevision"] == first_infra["revision"]
    ea = env.get(EA, f"{gen}-apps")
    assert ea is not None
    assert ea["spec"]["sourceRef"]["apiVersion"] == "source.extensions.fluxcd.io/v1beta1"
    assert ea["spec"]["sourceRef"]["namespace"] == env.namespace
    ea_ready = _ready(env, EA, f"{gen}-apps")
    assert ea_ready["reason"] == "Succeeded", ea_ready
    assert ea_ready["message"] == (
        f"stored artifact for revision '{_artifact(env, f'{gen}-apps')['revision']}'")
    assert ea["metadata"]["labels"]["team"] == "platform"
    assert ea["metadata"]["annotations"]["owner"] == "ops"
    assert _ready(env, EA, f"{gen}-apps")["status"] == "True"
    assert ea["spec"]["sourceRef"]["kind"] == "ArtifactGenerator"
    assert ea["spec"]["sourceRef"]["name"] == gen
    generator = env.get(AG, gen)
    assert generator is not None
    assert _ready(env, AG, gen)["status"] == "True"
    assert sorted(e["name"] for e in generator["status"]["inventory"]) == [
        f"{gen}-apps", f"{gen}-infrastructure"]
    for entry in generator["status"]["inventory"]:
        produced = _artifact(env, entry["name"])
        assert entry["namespace"] == env.namespace
        assert entry["digest"] == produced["digest"]
        assert produced["path"].endswith("/" + entry["filename"])
    sources_digest = generator["status"]["observedSourcesDigest"]
    assert re.match(r"^sha256:[0-9a-f]{64}$", sources_digest)
    # the conditions' bookkeeping, on the generator and on what it wrote
    for kind, body in ((AG, generator), (EA, ea)):
        ready = env.condition(body["status"], "Ready")
        assert ready is not None, body["status"]
        assert ready["observedGeneration"] == body["metadata"]["generation"], (kind, ready)
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", ready["lastTransitionTime"])
    token = uuid.uuid4().hex
    env.kubectl("annotate", "--overwrite", AG, gen, f"reconcile.fluxcd.io/requestedAt={token}")
    eventually(lambda: (env.get(AG, gen) or {}).get("status", {}).get(
        "lastHandledReconcileAt") == token, TIMEOUT, message="the requested reconcile handled")

    cm = env.get("configmap", "infra-controller")
    assert cm is not None and cm["data"] == {"role": "controller"}
    assert not env.exists("configmap", "not-applied")
    cm = env.get("configmap", "podinfo")
    assert cm is not None and cm["data"] == {"v": "staging-1"}

    # a commit that changes apps/ only: a new apps artifact, the infrastructure one unchanged
    files = _repo_files(env, "staging-2")
    newer = env.push(repo, source, {"apps/staging/values.yaml": files["apps/staging/values.yaml"]})

    def rolled_out() -> bool:
        cm = env.get("configmap", "podinfo")
        assert cm is not None and cm["data"] == {"v": "staging-2"}, cm
        assert env.status(apps)["lastAppliedOriginRevision"] == f"main@sha1:{newer}"
        return True

    eventually(rolled_out, TIMEOUT, message="apps change rolled out")
    generator = env.get(AG, gen)
    assert generator is not None
    assert generator["status"]["observedSourcesDigest"] != sources_digest  # a new revision
    later_infra = _artifact(env, f"{gen}-infrastructure")
    assert later_infra["revision"] == first_infra["revision"]
    assert later_infra["digest"] == first_infra["digest"]

    # a build that fails publishes nothing: the ExternalArtifacts keep their last artifact
    before = _artifact(env, f"{gen}-apps")
    env.apply(_generator(env, gen, source, apps_from="@monorepo/apps/production/**"))

    def failed() -> dict[str, Any]:
        ready = _ready(env, AG, gen)
        assert ready.get("status") == "False" and ready.get("reason") == "BuildFailed", ready
        assert "no files match '@monorepo/apps/production/**'" in ready["message"]
        return ready

    eventually(failed, TIMEOUT, message="generator failing with BuildFailed")
    assert _artifact(env, f"{gen}-apps") == before
    assert env.condition(env.status(apps), "Ready")["status"] == "True"

    # deleting the generator deletes what it produced
    env.kubectl("delete", AG, gen, "--wait=true", "--timeout=60s")
    eventually(lambda: not env.exists(EA, f"{gen}-apps") and not env.exists(
        EA, f"{gen}-infrastructure"), TIMEOUT, message="ExternalArtifacts deleted")


def _tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.flux_fields("ArtifactGenerator", "spec.artifacts[].copy[].strategy",
                         "spec.artifacts[].revision")
def test_merge_and_extract_strategies_and_the_source_revision(env: Env) -> None:
    """Overwrite (the default) then Merge of a YAML file over it, Extract of a tarball into
    a directory; `revision: @alias` makes the artifact's revision the source's."""
    files: dict[str, Any] = {
        "values/base.yaml": "replicas: 1\nimage:\n  repo: web\n  tag: '1.0'\n",
        "values/prod.yaml": "image:\n  tag: '2.0'\nprod: true\n",
        "bundle.tgz": _tgz({"chart/Chart.yaml": b"name: web\n", "chart/values.yaml": b"x: 1\n"}),
    }
    repo, sha = env.repo(files)
    source = env.source(repo)
    gen = f"strat-{uuid.uuid4().hex[:6]}"
    env.apply({
        "apiVersion": "source.extensions.fluxcd.io/v1beta1", "kind": "ArtifactGenerator",
        "metadata": {"name": gen, "namespace": env.namespace},
        "spec": {
            "sources": [{"alias": "repo", "kind": "GitRepository", "name": source}],
            "artifacts": [{"name": gen, "revision": "@repo", "copy": [
                {"from": "@repo/values/base.yaml", "to": "@artifact/values.yaml"},
                {"from": "@repo/values/prod.yaml", "to": "@artifact/values.yaml",
                 "strategy": "Merge"},
                {"from": "@repo/bundle.tgz", "to": "@artifact/unpacked/",
                 "strategy": "Extract"},
            ]}],
        },
    })
    artifact = eventually(lambda: _artifact(env, gen), TIMEOUT, message="the artifact")
    assert artifact["revision"] == f"main@sha1:{sha}"
    members = _members(artifact)
    assert sorted(members) == ["unpacked/chart/Chart.yaml", "unpacked/chart/values.yaml",
                               "values.yaml"]
    assert yaml.safe_load(members["values.yaml"]) == {
        "replicas": 1, "image": {"repo": "web", "tag": "2.0"}, "prod": True}
    assert members["unpacked/chart/Chart.yaml"] == b"name: web\n"


@pytest.mark.flux_fields("ArtifactGenerator", "spec.sources[].alias",
                         "spec.artifacts[].copy[].from")
def test_invalid_generator_stalls(env: Env) -> None:
    gen = f"bad-{uuid.uuid4().hex[:6]}"
    env.apply({
        "apiVersion": "source.extensions.fluxcd.io/v1beta1", "kind": "ArtifactGenerator",
        "metadata": {"name": gen, "namespace": env.namespace},
        "spec": {"sources": [{"alias": "a", "kind": "GitRepository", "name": "x"}],
                 "artifacts": [{"name": "out", "copy": [{"from": "@b/x", "to": "@artifact/"}]}]},
    })

    def stalled() -> bool:
        body = env.get(AG, gen)
        assert body is not None
        status = body.get("status") or {}
        stall = env.condition(status, "Stalled")
        assert stall is not None and stall["status"] == "True", status
        assert stall["reason"] == "ValidationFailed"
        assert "unknown source alias(es) @b" in stall["message"]
        return True

    eventually(stalled, TIMEOUT, message="generator stalled")


def _inventory(env: Env, gen: str) -> list[str]:
    body = env.get(AG, gen)
    assert body is not None
    ready = env.condition(body.get("status") or {}, "Ready") or {}
    assert ready.get("status") == "True", body.get("status")
    return [e["name"] for e in body["status"].get("inventory") or ()]


@pytest.mark.flux_fields("ArtifactGenerator", "spec.pathPattern")
def test_path_pattern_generates_one_artifact_per_directory_and_follows_the_tree(
        env: Env) -> None:
    """`pathPattern: @mono/apps/{app}`: one ExternalArtifact per directory of apps/, named
    from the template with the captured name, labelled with it, holding that directory's
    files; a new directory adds one, a removed directory's is deleted with its file, and a
    directory whose name cannot be a label stalls the generator and keeps what it made."""
    repo, sha = env.repo({
        "apps/a/cm.yaml": "app: a\n", "apps/a/NOTES.md": "excluded\n",
        "apps/b/cm.yaml": "app: b\n", "apps/b/sub/extra.yaml": "extra: b\n",
        "infra/x/cm.yaml": "not an app\n",
    })
    source = env.source(repo)
    gen = f"pp-{uuid.uuid4().hex[:6]}"
    env.apply({
        "apiVersion": "source.extensions.fluxcd.io/v1beta1", "kind": "ArtifactGenerator",
        "metadata": {"name": gen, "namespace": env.namespace},
        "spec": {
            "commonMetadata": {"labels": {"team": "platform"}},
            "sources": [{"alias": "mono", "kind": "GitRepository", "name": source}],
            "pathPattern": "@mono/apps/{app}",
            "artifacts": [{"name": gen + "-{app}", "originRevision": "@mono",
                           "copy": [{"from": "@mono/apps/{app}/**", "to": "@artifact/",
                                     "exclude": ["*.md"]}]}],
        },
    })
    eventually(lambda: _inventory(env, gen) == [f"{gen}-a", f"{gen}-b"], TIMEOUT,
               message="one ExternalArtifact per directory")
    assert _members(_artifact(env, f"{gen}-a")) == {"cm.yaml": b"app: a\n"}
    assert _members(_artifact(env, f"{gen}-b")) == {"cm.yaml": b"app: b\n",
                                                    "sub/extra.yaml": b"extra: b\n"}
    for app in ("a", "b"):
        ea = env.get(EA, f"{gen}-{app}")
        assert ea is not None
        assert ea["metadata"]["labels"]["app"] == app
        assert ea["metadata"]["labels"]["team"] == "platform"
        assert ea["spec"]["sourceRef"]["name"] == gen
        assert _artifact(env, f"{gen}-{app}")["metadata"] == {
            "org.opencontainers.image.revision": f"main@sha1:{sha}"}
    first_b = _artifact(env, f"{gen}-b")

    # a new directory: one more ExternalArtifact, the others' content unchanged
    env.push(repo, source, {"apps/c/cm.yaml": "app: c\n"})
    eventually(lambda: _inventory(env, gen) == [f"{gen}-a", f"{gen}-b", f"{gen}-c"],
               TIMEOUT, message="apps/c generated")
    assert _members(_artifact(env, f"{gen}-c")) == {"cm.yaml": b"app: c\n"}
    assert _artifact(env, f"{gen}-b")["digest"] == first_b["digest"]

    # a directory removed: its ExternalArtifact deleted and its file no longer served
    gone = _artifact(env, f"{gen}-a")
    env.push(repo, source, {"apps/a/cm.yaml": None, "apps/a/NOTES.md": None})
    eventually(lambda: _inventory(env, gen) == [f"{gen}-b", f"{gen}-c"], TIMEOUT,
               message="apps/a's artifact removed from the inventory")
    assert not env.exists(EA, f"{gen}-a")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(gone["url"], timeout=10)
    assert err.value.code == 404

    # a directory whose name is no label value: the generator stalls, nothing is lost
    env.push(repo, source, {"apps/.hidden/cm.yaml": "app: hidden\n"})

    def stalled() -> dict[str, Any]:
        body = env.get(AG, gen)
        assert body is not None
        stall = env.condition(body.get("status") or {}, "Stalled") or {}
        assert stall.get("status") == "True" and stall.get("reason") == "BuildFailed", body
        return stall

    stall = eventually(stalled, TIMEOUT, message="generator stalled on apps/.hidden")
    assert stall["message"].startswith("failed to expand path pattern: pathPattern "
                                       "'@mono/apps/{app}': directory 'apps/.hidden'")
    assert _artifact(env, f"{gen}-b")["digest"] == first_b["digest"]
    assert env.exists(EA, f"{gen}-c")


@pytest.mark.flux_fields("ArtifactGenerator", "spec.pathPattern")
def test_path_pattern_over_the_bound_stalls_and_creates_nothing(env: Env) -> None:
    """A repository with more matching directories than one generator may generate (1000):
    the generator stalls saying so, and no ExternalArtifact is created."""
    repo, _ = env.repo({f"many/d{i:04}/cm.yaml": f"i: {i}\n" for i in range(1001)})
    source = env.source(repo)
    gen = f"bound-{uuid.uuid4().hex[:6]}"
    env.apply({
        "apiVersion": "source.extensions.fluxcd.io/v1beta1", "kind": "ArtifactGenerator",
        "metadata": {"name": gen, "namespace": env.namespace},
        "spec": {
            "sources": [{"alias": "repo", "kind": "GitRepository", "name": source}],
            "pathPattern": "@repo/many/{dir}",
            "artifacts": [{"name": gen + "-{dir}",
                           "copy": [{"from": "@repo/many/{dir}/**", "to": "@artifact/"}]}],
        },
    })

    def stalled() -> dict[str, Any]:
        body = env.get(AG, gen)
        assert body is not None
        stall = env.condition(body.get("status") or {}, "Stalled") or {}
        assert stall.get("status") == "True" and stall.get("reason") == "BuildFailed", body
        return stall

    stall = eventually(stalled, TIMEOUT, message="generator stalled over the bound")
    assert "generates more than 1000 artifacts" in stall["message"]
    assert "narrow the pattern or split the generator" in stall["message"]
    assert not env.exists(EA, f"{gen}-d0000")
