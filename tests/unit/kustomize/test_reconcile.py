"""The Kustomization reconciler's decisions without a cluster: its pure helpers table-driven,
and the source, artifact, dependency and substitution phases on a real `ReconcileContext`
with an in-memory client (no network, no subprocess)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import hashlib
from collections.abc import Mapping
from typing import Any

import pytest

from afflux.api import Kustomization
from afflux.controllers.kustomize._artifacts import ArtifactCache
from afflux.controllers.kustomize._build import BuildResult, RemoteReference
from afflux.controllers.kustomize._buildcache import build_key
from afflux.controllers.kustomize._history import HISTORY_MAX, update_history
from afflux.controllers.kustomize._reconcile_apply import (
    apply_options,
    entries_after_failure,
    impersonated_user,
    kubeconfig_from_secret,
)
from afflux.controllers.kustomize._reconcile_build import (
    build_phase,
    decryption_phase,
    set_digest,
    substitute_phase,
    variables_of,
)
from afflux.controllers.kustomize._reconcile_deps import (
    dependencies_phase,
    dependency_problem,
    depends_on,
)
from afflux.controllers.kustomize._reconcile_finalize import DeletionPlan, deletion_plan
from afflux.controllers.kustomize._reconcile_health import (
    progress_message,
    progress_phase,
    waits_on_health,
)
from afflux.controllers.kustomize._reconcile_source import (
    artifact_phase,
    references_source,
    source_phase,
)
from afflux.controllers.kustomize._reconcile_state import (
    KUSTOMIZATION,
    RunState,
    Services,
    Settings,
    begin,
    parse_feature_gates,
    report_work,
    run_of,
)
from afflux.controllers.kustomize.handlers import (
    config_key,
    on_config_change,
    on_helm_release_change,
    on_readiness_change,
    on_source_change,
    readiness_key,
    reads_config,
)
from afflux.controllers.runtime import (
    Environment,
    EventRecorder,
    GenericError,
    ObjectRef,
    Options,
    ReconcileContext,
    StallingError,
    WaitingError,
    object_logger,
)
from afflux.controllers.runtime._ssa import Action, ChangeSet, ChangeSetEntry, ObjectKey
from harness.archives import targz
from harness.scheduler_fakes import RecordingScheduler

NS = "apps"
SHA = "a" * 40
REVISION = f"main@sha1:{SHA}"


def _b64_text(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class MemoryKube:
    """GET by REST path from a dict; nothing else is needed by these phases."""

    def __init__(self, *objects: tuple[str, Mapping[str, Any]]) -> None:
        self.objects = {path: copy.deepcopy(dict(body)) for path, body in objects}

    async def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        found = self.objects.get(ref.path())
        return copy.deepcopy(found) if found is not None else None

    async def create(self, *_: Any, **__: Any) -> dict[str, Any]:  # events
        return {}

    async def patch(self, *_: Any, **__: Any) -> dict[str, Any]:
        return {}


def ks_body(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "app", "namespace": NS, "generation": 1, "uid": "u"},
            "spec": {"interval": "5m", "prune": True,
                     "sourceRef": {"kind": "GitRepository", "name": "repo"}, **spec}}


def context(body: Mapping[str, Any], kube: MemoryKube, *, fetch: Any = None,
            services: Services | None = None, **options: Any) -> ReconcileContext[Kustomization]:
    env = Environment(kube=kube, recorder=EventRecorder(kube, "kustomize-controller"),  # type: ignore[arg-type]
                      options=Options(name="kustomize-controller", **options))
    ctx: ReconcileContext[Kustomization] = ReconcileContext(
        obj=Kustomization.from_dict(body), body=body, resource=KUSTOMIZATION, env=env,
        logger=object_logger("test", kind="Kustomization", name="app", namespace=NS))
    if services is None:
        services = Services(clusters=None, settings=Settings(), fetch=fetch)  # type: ignore[arg-type]
    asyncio.run(begin(services)(ctx))
    return ctx


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def gitrepo(artifact: Mapping[str, Any] | None, namespace: str = NS) -> tuple[str, dict]:
    body: dict[str, Any] = {"metadata": {"name": "repo", "namespace": namespace}}
    if artifact is not None:
        body["status"] = {"artifact": dict(artifact)}
    return (f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{namespace}/gitrepositories/repo",
            body)


TARBALL = targz({"app/cm.yaml": b"kind: ConfigMap\n"})
ARTIFACT = {"url": "http://storage.invalid/repo.tar.gz", "revision": REVISION,
            "digest": "sha256:" + hashlib.sha256(TARBALL).hexdigest()}


# --- source ---------------------------------------------------------------------------------------


def test_source_phase_records_the_revision() -> None:
    artifact = {**ARTIFACT, "metadata": {"org.opencontainers.image.revision": "v1@sha1:b"}}
    ctx = context(ks_body(), MemoryKube(gitrepo(artifact)))
    run(source_phase(ctx))
    state = run_of(ctx)
    assert (state.revision, state.origin_revision) == (REVISION, "v1@sha1:b")
    assert ctx.status["lastAttemptedRevision"] == REVISION


@pytest.mark.parametrize(("objects", "spec", "message"), [
    ((), {}, f"Source 'GitRepository/{NS}/repo' not found"),
    ((gitrepo(None),), {}, f"Source 'GitRepository/{NS}/repo' is not ready, artifact not found"),
], ids=["missing", "no-artifact"])
def test_source_phase_waits_for_the_artifact(objects: Any, spec: dict[str, Any],
                                             message: str) -> None:
    ctx = context(ks_body(retryInterval="42s", **spec), MemoryKube(*objects))
    with pytest.raises(WaitingError) as caught:
        run(source_phase(ctx))
    assert (caught.value.reason, caught.value.message) == ("ArtifactFailed", message)
    assert caught.value.requeue_after == 42


def test_cross_namespace_source_refused_by_flag() -> None:
    body = ks_body(sourceRef={"kind": "GitRepository", "name": "repo", "namespace": "shared"})
    kube = MemoryKube(gitrepo(ARTIFACT, "shared"))
    run(source_phase(context(body, kube)))  # allowed by default
    with pytest.raises(StallingError) as caught:
        run(source_phase(context(body, kube, no_cross_namespace_refs=True)))
    assert caught.value.reason == "AccessDenied"
    assert "GitRepository/shared/repo" in caught.value.message


def _fetcher(data: bytes, error: Exception | None = None) -> Any:
    async def fetch(url: str, into: Any, timeout: float) -> None:
        if error is not None:
            raise error
        into.write(data)

    return fetch


@pytest.mark.parametrize(("data", "error", "problem"), [
    (TARBALL, None, None),
    (b"tampered", None, "failed to verify artifact: computed digest sha256:"),
    (b"", OSError("GET http://storage.invalid/repo.tar.gz answered 404 Not Found"),
     "failed to download artifact from http://storage.invalid/repo.tar.gz: GET"),
], ids=["verified", "digest-mismatch", "http-error"])
def test_artifact_phase_verifies_the_digest(data: bytes, error: Exception | None,
                                            problem: str | None) -> None:
    ctx = context(ks_body(), MemoryKube(gitrepo(ARTIFACT)), fetch=_fetcher(data, error))
    run(source_phase(ctx))
    if problem is None:
        run(artifact_phase(ctx))
        checkout = run_of(ctx).checkout
        assert checkout is not None
        assert (checkout.path / "app/cm.yaml").read_bytes() == b"kind: ConfigMap\n"
        return
    with pytest.raises(GenericError) as caught:
        run(artifact_phase(ctx))
    assert caught.value.reason == "ArtifactFailed"
    assert caught.value.message.startswith(problem)


def test_references_source() -> None:
    body = ks_body()
    assert references_source(body, "GitRepository", NS, "repo")
    assert not references_source(body, "GitRepository", "other", "repo")
    assert not references_source(body, "OCIRepository", NS, "repo")
    other = ks_body(sourceRef={"kind": "Bucket", "name": "b", "namespace": "shared"})
    assert references_source(other, "Bucket", "shared", "b")


# --- dependencies ---------------------------------------------------------------------------------


def dep(ready: str | None = "True", generation: int = 2, observed: int = 2,
        source: str = "repo", applied: str = REVISION) -> dict[str, Any]:
    conditions = [] if ready is None else [{"type": "Ready", "status": ready}]
    return {"metadata": {"name": "base", "namespace": NS, "generation": generation},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": source}},
            "status": {"conditions": conditions, "observedGeneration": observed,
                       "lastAppliedRevision": applied}}


DEPENDENCIES = {
    "ready": (dep(), None),
    "missing": (None, "dependency 'apps/base' not found"),
    "not-ready": (dep(ready="False"), "dependency 'apps/base' is not ready"),
    "no-ready-condition": (dep(ready=None), "dependency 'apps/base' is not ready"),
    "stale-generation": (dep(generation=3),
                         "dependency 'apps/base' is not ready (its latest generation is not "
                         "reconciled yet)"),
    "same-source-behind": (dep(applied="main@sha1:" + "b" * 40),
                           "dependency 'apps/base' revision is not up to date"),
    "other-source-any-revision": (dep(source="other", applied="x"), None),
}


@pytest.mark.parametrize(("body", "problem"), DEPENDENCIES.values(), ids=DEPENDENCIES.keys())
def test_dependency_problem(body: dict[str, Any] | None, problem: str | None) -> None:
    assert dependency_problem(body, f"{NS}/base", source=("GitRepository", NS, "repo"),
                              revision=REVISION) == problem


def test_dependencies_phase_waits_with_the_operator_requeue() -> None:
    path = f"/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{NS}/kustomizations/base"
    ctx = context(ks_body(dependsOn=[{"name": "base"}]), MemoryKube((path, dep(ready="False"))))
    run_of(ctx).revision = REVISION
    with pytest.raises(WaitingError) as caught:
        run(dependencies_phase(ctx))
    assert caught.value.reason == "DependencyNotReady"
    assert caught.value.requeue_after is None  # --requeue-dependency decides
    ready = context(ks_body(dependsOn=[{"name": "base", "namespace": NS}]),
                    MemoryKube((path, dep())))
    run_of(ready).revision = REVISION
    assert run(dependencies_phase(ready)) is None


def test_depends_on() -> None:
    body = ks_body(dependsOn=[{"name": "base"}, {"name": "infra", "namespace": "ops"}])
    assert depends_on(body, NS, "base") and depends_on(body, "ops", "infra")
    assert not depends_on(body, "ops", "base")


# --- substitution ---------------------------------------------------------------------------------


def _cm_path(name: str) -> str:
    return f"/api/v1/namespaces/{NS}/configmaps/{name}"


def _secret_path(name: str) -> str:
    return f"/api/v1/namespaces/{NS}/secrets/{name}"


def test_substitute_phase_in_flux_order() -> None:
    kube = MemoryKube(
        (_cm_path("vars"), {"data": {"env": "prod", "who": "configmap"}}),
        (_secret_path("secret-vars"), {"data": {
            "token": base64.b64encode(b"s3cr3t").decode(),
            "who": base64.b64encode(b"secret").decode()}}),
    )
    body = ks_body(
        postBuild={"substitute": {"who": "inline"}, "substituteFrom": [
            {"kind": "ConfigMap", "name": "vars"}, {"kind": "Secret", "name": "secret-vars"},
            {"kind": "ConfigMap", "name": "absent", "optional": True}]},
        commonMetadata={"labels": {"team": "${env}"}})
    ctx = context(body, kube)
    state = run_of(ctx)
    state.objects = [{"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "c", "namespace": NS},
                      "data": {"env": "${env}", "token": "${token}", "who": "${who}"}}]
    run(substitute_phase(ctx))
    [obj] = state.objects
    assert obj["data"] == {"env": "prod", "token": "s3cr3t", "who": "inline"}
    assert obj["metadata"]["labels"] == {  # commonMetadata after substitution: not substituted
        "team": "${env}", "kustomize.toolkit.fluxcd.io/name": "app",
        "kustomize.toolkit.fluxcd.io/namespace": NS}
    assert state.digest == set_digest(state.objects) and state.digest.startswith("sha256:")


def test_substitute_phase_missing_required_source() -> None:
    ctx = context(ks_body(postBuild={"substituteFrom": [{"kind": "Secret", "name": "nope"}]}),
                  MemoryKube())
    run_of(ctx).objects = []
    with pytest.raises(GenericError) as caught:
        run(substitute_phase(ctx))
    assert caught.value.reason == "BuildFailed"
    assert f"Secret/{NS}/nope" in caught.value.message


def test_no_post_build_leaves_variables_alone() -> None:
    ctx = context(ks_body(), MemoryKube())
    state = run_of(ctx)
    state.objects = [{"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "c", "namespace": NS}, "data": {"x": "${x:=d}"}}]
    run(substitute_phase(ctx))
    assert state.objects[0]["data"] == {"x": "${x:=d}"}


def test_variables_of() -> None:
    assert variables_of("ConfigMap", {"data": {"a": "1"}}) == {"a": "1"}
    assert variables_of("Secret", {"data": {"a": base64.b64encode(b"2").decode()}}) == {"a": "2"}
    with pytest.raises(GenericError, match="not valid base64"):
        variables_of("Secret", {"data": {"a": "***"}})


# --- decryption keys -----------------------------------------------------------------------------

_OWN = ("/api/v1/namespaces/apps/secrets/own", {"data": {"own.agekey": _b64_text("AGE-OWN")}})
_GLOBAL = ("/api/v1/namespaces/flux-system/secrets/global", {"data": {
    "global.agekey": _b64_text("AGE-GLOBAL"), "pgp.asc": _b64_text("PGP")}})


@pytest.mark.parametrize(("decryption", "flag", "age", "origin"), [
    pytest.param({"provider": "sops", "secretRef": {"name": "own"}}, "", ("own.agekey",),
                 "the decryption Secret 'apps/own'", id="secret-ref"),
    pytest.param({"provider": "sops", "secretRef": {"name": "own"}}, "global", ("own.agekey",),
                 "the decryption Secret 'apps/own'", id="secret-ref-wins-over-the-flag"),
    pytest.param({"provider": "sops"}, "global", ("global.agekey",),
                 "the controller's SOPS age decryption Secret 'flux-system/global' "
                 "(--sops-age-secret)", id="flag-as-fallback-age-only"),
    pytest.param({"provider": "sops"}, "", (),
                 "spec.decryption.secretRef is not set and the controller has no "
                 "--sops-age-secret", id="no-ref-no-flag-no-keys"),
])
def test_decryption_phase_picks_flux_keys(decryption: dict[str, Any], flag: str,
                                          age: tuple[str, ...], origin: str) -> None:
    services = Services(clusters=None, settings=Settings(sops_age_secret=flag))  # type: ignore[arg-type]
    ctx = context(ks_body(decryption=decryption), MemoryKube(_OWN, _GLOBAL), services=services,
                  namespace="flux-system")
    run(decryption_phase(ctx))
    keys = run_of(ctx).keys
    assert keys is not None
    assert tuple(name for name, _ in keys.age) == age
    assert keys.pgp == ()
    assert keys.origin == origin


def test_a_missing_sops_age_secret_is_decryption_failed() -> None:
    services = Services(clusters=None, settings=Settings(sops_age_secret="absent"))  # type: ignore[arg-type]
    ctx = context(ks_body(decryption={"provider": "sops"}), MemoryKube(), services=services,
                  namespace="flux-system")
    with pytest.raises(GenericError, match=r"SOPS age decryption Secret \(--sops-age-secret\) "
                       "'flux-system/absent': not found"):
        run(decryption_phase(ctx))


# --- apply, deletion, history ---------------------------------------------------------------------


def test_apply_options_carry_flux_selectors() -> None:
    opts = apply_options(True, wait_interval=1, wait_timeout=5)
    assert opts.force is True
    assert opts.exclusion_selector == {"kustomize.toolkit.fluxcd.io/reconcile": "disabled",
                                       "kustomize.toolkit.fluxcd.io/ssa": "Ignore"}
    assert opts.if_not_present_selector == {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}
    assert opts.force_selector == {"kustomize.toolkit.fluxcd.io/force": "enabled"}
    assert opts.cleanup.exclusions == {"kustomize.toolkit.fluxcd.io/ssa": "Merge"}
    assert {(m.name, m.operation) for m in opts.cleanup.field_managers} >= {
        ("kubectl", "Apply"), ("kubectl", "Update"), ("before-first-apply", "Update")}


@pytest.mark.parametrize(("spec", "default", "user"), [
    ({}, "", None),
    ({"serviceAccountName": "deployer"}, "", "system:serviceaccount:apps:deployer"),
    ({}, "tenant", "system:serviceaccount:apps:tenant"),
    ({"serviceAccountName": "deployer"}, "tenant", "system:serviceaccount:apps:deployer"),
], ids=["none", "spec", "default-service-account", "spec-wins"])
def test_impersonated_user(spec: dict[str, Any], default: str, user: str | None) -> None:
    assert impersonated_user(Kustomization.from_dict(ks_body(**spec)), default) == user


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(("data", "key", "expected"), [
    ({"value": _b64("one")}, None, b"one"),
    ({"value.yaml": _b64("two")}, None, b"two"),
    ({"value": _b64("one"), "value.yaml": _b64("two")}, None, b"one"),
    ({"custom": _b64("three")}, "custom", b"three"),
    ({"other": _b64("x")}, None, "has no key 'value' or 'value.yaml'"),
    ({"value": _b64("x")}, "custom", "has no key 'custom'"),
], ids=["value", "value-yaml", "value-first", "explicit-key", "missing", "explicit-missing"])
def test_kubeconfig_from_secret(data: dict[str, str], key: str | None,
                                expected: bytes | str) -> None:
    if isinstance(expected, bytes):
        assert kubeconfig_from_secret({"data": data}, key, "apps/kc") == expected
        return
    with pytest.raises(GenericError, match=expected):
        kubeconfig_from_secret({"data": data}, key, "apps/kc")


def test_entries_after_failure_keep_old_and_applied() -> None:
    old = [{"id": "apps_a__ConfigMap", "v": "v1"}, {"id": "apps_web_apps_Deployment", "v": "v1"}]
    applied = ChangeSet([
        ChangeSetEntry(ObjectKey("v1", "Namespace", "", "apps"), Action.CREATED),
        ChangeSetEntry(ObjectKey("apps/v1", "Deployment", "apps", "web"), Action.CONFIGURED)])
    assert entries_after_failure(old, applied) == [
        {"id": "_apps__Namespace", "v": "v1"}, {"id": "apps_a__ConfigMap", "v": "v1"},
        {"id": "apps_web_apps_Deployment", "v": "v1"}]


DELETION = {
    "mirror-prune-true": ("MirrorPrune", True, False, DeletionPlan(True)),
    "mirror-prune-false": (None, False, False, DeletionPlan(False)),
    "delete": ("Delete", False, False, DeletionPlan(True)),
    "wait-for-termination": ("WaitForTermination", False, False, DeletionPlan(True, wait=True)),
    "orphan": ("Orphan", True, False, DeletionPlan(False)),
    "suspended-deletes-nothing": ("Delete", True, True, DeletionPlan(False)),
}


@pytest.mark.parametrize(("policy", "prune", "suspended", "plan"), DELETION.values(),
                         ids=DELETION.keys())
def test_deletion_plan(policy: str | None, prune: bool, suspended: bool,
                       plan: DeletionPlan) -> None:
    assert deletion_plan(policy, prune, suspended) == plan


def _history(*runs: tuple[str, str]) -> list[dict[str, Any]]:
    history: list[dict[str, Any]] = []
    for i, (digest, status) in enumerate(runs):
        history = update_history(history, digest=digest, status=status, revision=f"r{i}",
                                  origin_revision=None, now=f"t{i}", duration=1.5)
    return history


def test_history_deduplicates_by_digest_and_status() -> None:
    history = _history(("d1", "ReconciliationSucceeded"), ("d1", "ReconciliationSucceeded"),
                       ("d2", "HealthCheckFailed"), ("d1", "ReconciliationSucceeded"))
    assert [(h["digest"], h["lastReconciledStatus"], h["totalReconciliations"])
            for h in history] == [("d1", "ReconciliationSucceeded", 3),
                                  ("d2", "HealthCheckFailed", 1)]
    assert history[0]["firstReconciled"] == "t0" and history[0]["lastReconciled"] == "t3"
    assert history[0]["lastReconciledDuration"] == "1.5s"
    assert history[0]["metadata"] == {"revision": "r3"}


def test_history_keeps_the_newest_five() -> None:
    history = _history(*[(f"d{i}", "ReconciliationSucceeded") for i in range(7)])
    assert [h["digest"] for h in history] == ["d6", "d5", "d4", "d3", "d2"]
    assert len(history) == HISTORY_MAX


# --- flags and watches ----------------------------------------------------------------------------


def test_feature_gates() -> None:
    assert parse_feature_gates("StrictPostBuildSubstitutions=true, Other=false") == {
        "StrictPostBuildSubstitutions": True, "Other": False}
    assert Settings.from_flags(argparse.Namespace(
        feature_gates="StrictPostBuildSubstitutions=true")).strict_substitution
    additive = Settings.from_flags(argparse.Namespace(
        feature_gates="AdditiveCELDependencyCheck=true"))
    assert additive.additive_cel_dependency_check and not additive.strict_substitution
    assert not Settings.from_flags(argparse.Namespace()).additive_cel_dependency_check
    with pytest.raises(argparse.ArgumentTypeError):
        parse_feature_gates("Strict")


def test_readiness_key_moves_with_what_dependents_need() -> None:
    body = dep()
    before = readiness_key(body)
    assert readiness_key(copy.deepcopy(body)) == before
    body["status"]["lastAppliedRevision"] = "main@sha1:" + "c" * 40
    assert readiness_key(body) != before


def test_run_state_close_releases_the_artifact_lease() -> None:
    services = Services(clusters=None, artifacts=ArtifactCache(keep=0))  # type: ignore[arg-type]
    state = RunState(services)
    state.checkout = run(services.artifacts.checkout(
        ARTIFACT["url"], ARTIFACT["digest"], _fetcher(TARBALL), 5.0))
    path = state.checkout.path
    assert path.is_dir()  # held: not evicted although the cache keeps no idle entry
    state.close()
    state.close()
    assert state.checkout is None and not path.exists()


def test_source_watch_triggers_its_kustomizations_after_first_sight() -> None:
    other = ks_body(sourceRef={"kind": "GitRepository", "name": "other"})
    other["metadata"] = {**other["metadata"], "name": "unrelated"}
    scheduler = RecordingScheduler(ks_body(), other)
    callback = on_source_change(scheduler, "GitRepository")  # type: ignore[arg-type]
    _, source = gitrepo(ARTIFACT)
    callback("ADDED", source)  # start-up listing: every Kustomization runs first anyway
    assert scheduler.triggered == []
    callback("MODIFIED", source)  # a new revision (the operator filters on it)
    callback("DELETED", source)
    assert scheduler.triggered == [(NS, "app"), (NS, "app")]


def test_readiness_watch_triggers_dependents() -> None:
    independent = ks_body()
    independent["metadata"] = {**independent["metadata"], "name": "independent"}
    scheduler = RecordingScheduler(ks_body(dependsOn=[{"name": "base"}]), independent)
    callback = on_readiness_change(scheduler)  # type: ignore[arg-type]
    callback(None, dep())
    callback("MODIFIED", dep())
    assert scheduler.triggered == [(NS, "app")]


def test_helm_release_watch_triggers_the_kustomizations_whose_annotation_names_it() -> None:
    dependent = ks_body()
    dependent["metadata"] = {**dependent["metadata"], "annotations": {
        "afflux.toolkit.fluxcd.io/depends-on": "HelmRelease/db"}}
    same_name = ks_body(dependsOn=[{"name": "db"}])  # a Kustomization named db: not the same
    same_name["metadata"] = {**same_name["metadata"], "name": "other"}
    scheduler = RecordingScheduler(dependent, same_name)
    callback = on_helm_release_change(scheduler)  # type: ignore[arg-type]
    release = {"kind": "HelmRelease", "metadata": {"name": "db", "namespace": NS}}
    callback(None, release)  # first sight: nothing
    assert scheduler.triggered == []
    callback("MODIFIED", release)
    assert scheduler.triggered == [(NS, "app")]


def _config(kind: str, name: str, data: Mapping[str, str], namespace: str = NS) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind, "data": dict(data),
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"reconcile.fluxcd.io/watch": "Enabled"}}}


READS = {
    "substitute-from-configmap": (
        {"postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "vars"}]}},
        "ConfigMap", NS, "vars", True),
    "substitute-from-secret": (
        {"postBuild": {"substituteFrom": [{"kind": "Secret", "name": "vars"}]}},
        "Secret", NS, "vars", True),
    "kind-must-match": (
        {"postBuild": {"substituteFrom": [{"kind": "Secret", "name": "vars"}]}},
        "ConfigMap", NS, "vars", False),
    "other-namespace": (
        {"postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "vars"}]}},
        "ConfigMap", "elsewhere", "vars", False),
    "decryption-secret": ({"decryption": {"provider": "sops", "secretRef": {"name": "keys"}}},
                          "Secret", NS, "keys", True),
    "decryption-is-no-configmap": (
        {"decryption": {"provider": "sops", "secretRef": {"name": "keys"}}},
        "ConfigMap", NS, "keys", False),
    "kubeconfig-secret": ({"kubeConfig": {"secretRef": {"name": "remote"}}},
                          "Secret", NS, "remote", True),
    "kubeconfig-configmap": ({"kubeConfig": {"configMapRef": {"name": "remote"}}},
                             "ConfigMap", NS, "remote", True),
    "kubeconfig-configmap-is-no-secret": ({"kubeConfig": {"configMapRef": {"name": "remote"}}},
                                          "Secret", NS, "remote", False),
    "unrelated": ({}, "Secret", NS, "keys", False),
}


@pytest.mark.parametrize(("spec", "kind", "namespace", "name", "reads"), READS.values(),
                         ids=READS.keys())
def test_reads_config(spec: dict[str, Any], kind: str, namespace: str, name: str,
                      reads: bool) -> None:
    assert reads_config(ks_body(**spec), kind, namespace, name) is reads


def test_config_key_follows_the_content_only() -> None:
    one = _config("ConfigMap", "vars", {"a": "1"})
    relabelled = copy.deepcopy(one)
    relabelled["metadata"]["labels"]["team"] = "x"
    assert config_key(one) == config_key(relabelled)
    assert config_key(one) != config_key(_config("ConfigMap", "vars", {"a": "2"}))


def test_config_watch_triggers_the_kustomizations_that_read_it() -> None:
    reader = ks_body(postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "vars"}]})
    scheduler = RecordingScheduler(reader, ks_body())
    scheduler.bodies[1]["metadata"] = {**reader["metadata"], "name": "other"}
    callback = on_config_change(scheduler, "ConfigMap")  # type: ignore[arg-type]
    callback("ADDED", _config("ConfigMap", "vars", {"a": "1"}))  # start-up listing
    assert scheduler.triggered == []
    callback("MODIFIED", _config("ConfigMap", "vars", {"a": "2"}))
    callback("MODIFIED", _config("ConfigMap", "unread", {"a": "2"}))
    assert scheduler.triggered == [(NS, "app")]


@pytest.mark.parametrize(("doing", "timeout", "expected"), [
    pytest.param("Running health checks", 300.0,
                 "Running health checks for revision main@sha1:abc with a timeout of 5m0s",
                 id="health-default"),
    pytest.param("Fetching manifests", 90.0,
                 "Fetching manifests for revision main@sha1:abc with a timeout of 1m30s",
                 id="fetch-90s"),
    pytest.param("Fetching manifests", None,
                 "Fetching manifests for revision main@sha1:abc with a timeout of 5m0s",
                 id="no-timeout"),
])
def test_progress_message(doing: str, timeout: float | None, expected: str) -> None:
    assert progress_message(doing, "main@sha1:abc", timeout) == expected


@pytest.mark.parametrize(("spec", "waits"), [
    pytest.param({}, False, id="nothing"),
    pytest.param({"wait": True}, True, id="wait"),
    pytest.param({"healthChecks": [{"kind": "Deployment", "name": "a"}]}, True,
                 id="health-checks"),
])
def test_waits_on_health(spec: dict[str, Any], waits: bool) -> None:
    ks = Kustomization.from_dict({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "k", "namespace": "ns"},
        "spec": {"interval": "5m", "path": "./", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": "g"}, **spec}})
    assert waits_on_health(ks) is waits


@pytest.mark.parametrize(("ready", "triggered"), [
    pytest.param("True", True, id="ready"),
    pytest.param("False", True, id="failed"),
    pytest.param("Unknown", False, id="in-progress"),
])
def test_dependents_are_not_triggered_while_a_run_is_in_progress(ready: str,
                                                                 triggered: bool) -> None:
    sched = RecordingScheduler({"metadata": {"namespace": "ns", "name": "app"},
                                "spec": {"dependsOn": [{"name": "infra"}]}})
    callback = on_readiness_change(sched)  # type: ignore[arg-type]
    body = {"metadata": {"namespace": "ns", "name": "infra"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    callback(None, body)  # the first sight triggers nothing
    body["status"]["conditions"][0]["status"] = ready
    callback("MODIFIED", body)
    assert sched.triggered == ([("ns", "app")] if triggered else [])


# --- the progress patch waits for real work -------------------------------------------------------


class StatusRecordingKube(MemoryKube):
    def __init__(self, *objects: tuple[str, Mapping[str, Any]]) -> None:
        super().__init__(*objects)
        self.status_patches: list[dict[str, Any]] = []

    async def patch(self, ref: ObjectRef, body: Mapping[str, Any], *_: Any,
                    subresource: str | None = None, **__: Any) -> dict[str, Any]:
        if subresource == "status":
            self.status_patches.append(copy.deepcopy(dict(body["status"])))
        return {}


def _progress_of(patch: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    return sorted((c["type"], c["status"], c["message"]) for c in patch["conditions"])


#: (the artifact already unpacked, the build already cached) -> status patches written
WORK = {
    "no-change-run": (True, True, 0),
    "download": (False, True, 1),
    "build": (True, False, 1),
    "download-and-build": (False, False, 1),  # one progress patch per run at most
}


@pytest.mark.parametrize(("unpacked", "built", "patches"), WORK.values(), ids=WORK.keys())
def test_the_progress_patch_waits_for_the_runs_first_real_work(
        unpacked: bool, built: bool, patches: int) -> None:
    services = Services(clusters=None, settings=Settings(),  # type: ignore[arg-type]
                        fetch=_fetcher(TARBALL), artifacts=ArtifactCache(keep=2))
    body = ks_body(path="./not-there")  # a build stops before kustomize: ArtifactFailed
    if unpacked:
        run(services.artifacts.checkout(ARTIFACT["url"], ARTIFACT["digest"], _fetcher(TARBALL),
                                        5.0)).release()
    if built:
        services.builds.put(build_key(ARTIFACT["digest"], body["spec"], None),
                            [{"apiVersion": "v1", "kind": "ConfigMap"}])
    kube = StatusRecordingKube(gitrepo(ARTIFACT))
    ctx = context(body, kube, services=services)
    run(source_phase(ctx))
    run(progress_phase(ctx))
    assert kube.status_patches == []  # pending until the run does real work
    run(artifact_phase(ctx))
    run(decryption_phase(ctx))
    if built:
        run(build_phase(ctx))
    else:
        with pytest.raises(GenericError, match="kustomization path not found"):
            run(build_phase(ctx))
    assert len(kube.status_patches) == patches
    if patches:
        assert _progress_of(kube.status_patches[0]) == [
            ("Ready", "Unknown", "Reconciliation in progress"),
            ("Reconciling", "True",
             progress_message("Fetching manifests", REVISION, ctx.obj.timeout))]
    run(report_work(ctx))  # an apply that is not skipped: written now if not yet, never twice
    assert len(kube.status_patches) == 1


# --- builds that fetched remote bases are not cached ---------------------------------------------

REMOTE = (RemoteReference("app/kustomization.yaml", "https://git.example/o/r//base?ref=v1"),)


@pytest.mark.parametrize(("remote", "builds"), [
    pytest.param((), 1, id="local-build-cached"),
    pytest.param(REMOTE, 2, id="remote-base-build-runs-every-time"),
])
@pytest.mark.parametrize("remote_bases", [True, False], ids=["allowed", "refused"])
def test_a_build_with_remote_bases_bypasses_the_cache(
        monkeypatch: pytest.MonkeyPatch, remote: tuple[RemoteReference, ...], builds: int,
        remote_bases: bool) -> None:
    import afflux.controllers.kustomize._reconcile_build as reconcile_build

    calls: list[bool] = []

    def fake_build(source: Any, spec: Any, keys: Any, timeout: float,
                   allowed: bool) -> BuildResult:
        calls.append(allowed)
        return BuildResult([{"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": f"cm-{len(calls)}"}}], remote)

    monkeypatch.setattr(reconcile_build, "_build", fake_build)
    settings = Settings(remote_bases=remote_bases)
    services = Services(clusters=None, settings=settings,  # type: ignore[arg-type]
                        fetch=_fetcher(TARBALL), artifacts=ArtifactCache(keep=2))
    names = []
    for _ in range(2):  # two runs: same artifact, spec and keys
        ctx = context(ks_body(path="./app"), MemoryKube(gitrepo(ARTIFACT)), services=services)
        for phase in (source_phase, artifact_phase, decryption_phase, build_phase):
            run(phase(ctx))
        names.append(run_of(ctx).objects[0]["metadata"]["name"])
    assert calls == [remote_bases] * builds  # the build is told the flag's value
    assert names == (["cm-1", "cm-1"] if builds == 1 else ["cm-1", "cm-2"])
    assert len(services.builds) == (1 if builds == 1 else 0)
