"""helm.toolkit.fluxcd.io/v2: HelmRelease.

A HelmRelease installs a Helm chart (from a HelmChart it has created for `spec.chart`, or from
the OCIRepository/HelmChart `spec.chartRef` names) with the merged values, and then keeps the
release up to date: upgrades, tests, rollbacks, drift correction, uninstall on deletion.
"""

from __future__ import annotations

from typing import Any

from . import _meta
from ._common import (
    AGE_COLUMN,
    READY_COLUMN,
    STATUS_COLUMN,
    CrossNamespaceDependencyReference,
    Image,
    JSON6902Patch,
    KubeConfigSourceReference,
    LocalObjectReference,
    Patch,
    PrinterColumn,
    ReconcileStatus,
    Resource,
    Selector,
)
from ._kustomize_v1 import CommonMetadata, CustomHealthCheck
from ._model import Model, Rule, duration, field
from ._refs import helm_chart_name, helm_release_name

__all__ = [
    "CrossNamespaceObjectReference",
    "CrossNamespaceSourceReference",
    "DriftDetection",
    "Filter",
    "HelmChartTemplate",
    "HelmChartTemplateObjectMeta",
    "HelmChartTemplateSpec",
    "HelmChartTemplateVerification",
    "HelmRelease",
    "HelmReleaseSpec",
    "HelmReleaseStatus",
    "IgnoreRule",
    "Install",
    "InstallRemediation",
    "InstallStrategy",
    "PostRenderer",
    "PostRendererKustomize",
    "ReleaseSnapshot",
    "Rollback",
    "ReleaseTest",
    "ReleaseTestHookStatus",
    "ResourceInventory",
    "ResourceRef",
    "Uninstall",
    "Upgrade",
    "UpgradeRemediation",
    "UpgradeStrategy",
    "ValuesReference",
    "WaitStrategy",
]

GROUP = _meta.HELM_GROUP
VERSION = "v2"

#: Helm keeps this many release revisions unless spec.maxHistory says otherwise.
DEFAULT_MAX_HISTORY = 5
_CRDS_POLICIES = ("Skip", "Create", "CreateReplace")
_TIMEOUT_DOC = "Time to wait for any single Kubernetes operation (such as hook Jobs) during the {}; spec.timeout by default."


class CrossNamespaceObjectReference(Model):
    """The source a chart template takes the chart from."""

    api_version: str | None = field(doc="API version of the source.")
    kind: str = field(
        doc="Kind of the source.",
        required=True,
        enum=("HelmRepository", "GitRepository", "Bucket"),
    )
    name: str = field(doc="Name of the source.", required=True, min_length=1, max_length=253)
    namespace: str | None = field(
        doc="Namespace of the source; the HelmRelease's by default.", min_length=1, max_length=63
    )


class CrossNamespaceSourceReference(Model):
    """An existing source object that has the chart as its artifact."""

    api_version: str | None = field(doc="API version of the source.")
    kind: str = field(
        doc="Kind of the source: OCIRepository or HelmChart.",
        required=True,
        enum=("OCIRepository", "HelmChart", "ExternalArtifact"),
    )
    name: str = field(doc="Name of the source.", required=True, min_length=1, max_length=253)
    namespace: str | None = field(
        doc="Namespace of the source; the HelmRelease's by default.", min_length=1, max_length=63
    )


class HelmChartTemplateObjectMeta(Model):
    """Labels and annotations for the generated HelmChart."""

    labels: dict[str, str] | None = field(doc="Labels of the HelmChart.")
    annotations: dict[str, str] | None = field(doc="Annotations of the HelmChart.")


class HelmChartTemplateVerification(Model):
    """How to verify the signature of an OCI chart."""

    provider: str = field(
        doc="cosign or notation.", required=True, enum=("cosign", "notation"), default="cosign"
    )
    secret_ref: LocalObjectReference | None = field(doc="Secret with the trusted public keys.")


class HelmChartTemplateSpec(Model):
    """The spec of the HelmChart helm-controller creates for this release."""

    chart: str = field(
        doc="Chart name in a HelmRepository, or path to the chart in a GitRepository or Bucket.",
        required=True,
        min_length=1,
        max_length=2048,
    )
    version: str | None = field(
        doc="Semver range of chart versions (HelmRepository only); the latest by default.",
        default="*",
    )
    source_ref: CrossNamespaceObjectReference = field(doc="The source of the chart.", required=True)
    interval: str | None = duration(
        doc="How often to check the source; the HelmRelease's interval by default."
    )
    reconcile_strategy: str | None = field(
        doc="What makes a new chart artifact: ChartVersion or Revision.",
        enum=("ChartVersion", "Revision"),
        default="ChartVersion",
    )
    values_files: list[str] | None = field(doc="Values files in the source, merged in order.")
    values_file: str | None = field(
        doc="Deprecated: a single values file, merged before valuesFiles."
    )
    ignore_missing_values_files: bool | None = field(doc="Skip values files that do not exist.")
    verify: HelmChartTemplateVerification | None = field(
        doc="Verify the chart signature (OCI only)."
    )


class HelmChartTemplate(Model):
    """A template of the HelmChart to create in the source's namespace."""

    metadata: HelmChartTemplateObjectMeta | None = field(
        doc="Labels and annotations of the HelmChart."
    )
    spec: HelmChartTemplateSpec = field(doc="Spec of the HelmChart.", required=True)


class IgnoreRule(Model):
    """Paths that drift detection does not compare."""

    paths: list[str] = field(doc="JSON pointers (RFC 6901) to ignore.", required=True)
    target: Selector | None = field(doc="The objects the rule applies to; all when left out.")


class DriftDetection(Model):
    """Compare the release's objects with the cluster and react to differences."""

    mode: str | None = field(
        doc="enabled (correct drift), warn (report it) or disabled (the default).",
        enum=("enabled", "warn", "disabled"),
    )
    ignore: list[IgnoreRule] | None = field(doc="Paths to leave out of the comparison.")


class InstallRemediation(Model):
    """What to do when an install fails."""

    retries: int | None = field(
        doc="How many times to retry (uninstalling in between); negative means forever."
    )
    ignore_test_failures: bool | None = field(
        doc="Do not remediate when tests fail after install; test.ignoreFailures by default."
    )
    remediate_last_failure: bool | None = field(
        doc="Also remediate the last failure, when no retries are left."
    )


class UpgradeRemediation(Model):
    """What to do when an upgrade fails."""

    retries: int | None = field(
        doc="How many times to retry (remediating in between); negative means forever."
    )
    ignore_test_failures: bool | None = field(
        doc="Do not remediate when tests fail after upgrade; test.ignoreFailures by default."
    )
    remediate_last_failure: bool | None = field(
        doc="Also remediate the last failure, when no retries are left; true when retries > 0."
    )
    strategy: str | None = field(
        doc="How to remediate: rollback (the default) or uninstall.",
        enum=("rollback", "uninstall"),
    )


_STRATEGIES = ("RemediateOnFailure", "RetryOnFailure")
#: Tri-state server-side apply of upgrade and rollback ("auto": as the release was made).
_SSA_MODES = ("enabled", "disabled", "auto")


class InstallStrategy(Model):
    """What happens after a failed install."""

    VALIDATIONS = (
        Rule("!has(self.retryInterval) || self.name != 'RemediateOnFailure'",
             ".retryInterval cannot be set when .name is 'RemediateOnFailure'",
             lambda s: "retryInterval" not in s or s.get("name") != "RemediateOnFailure"),
    )

    name: str = field(
        doc="RemediateOnFailure (the action's remediation applies) or RetryOnFailure (no "
        "remediation: the failed release is upgraded again every retryInterval).",
        required=True, enum=_STRATEGIES)
    retry_interval: str | None = duration(
        doc="Time between retries (RetryOnFailure only); 5m by default.")


class UpgradeStrategy(InstallStrategy):
    """What happens after a failed upgrade."""

    VALIDATIONS = (
        Rule("!has(self.retryInterval) || self.name == 'RetryOnFailure'",
             ".retryInterval can only be set when .name is 'RetryOnFailure'",
             lambda s: "retryInterval" not in s or s.get("name") == "RetryOnFailure"),
    )


class WaitStrategy(Model):
    """How Helm waits for the released objects to be ready."""

    name: str = field(
        doc="legacy (Helm's own --wait, the default) or poller (the objects polled with "
        "kstatus and healthCheckExprs until Current).",
        required=True, enum=("poller", "legacy"))


class Install(Model):
    """Options of Helm install."""

    timeout: str | None = duration(doc=_TIMEOUT_DOC.format("install"))
    remediation: InstallRemediation | None = field(doc="What to do when the install fails.")
    disable_wait: bool | None = field(doc="Do not wait for the objects to be ready.")
    disable_wait_for_jobs: bool | None = field(doc="Do not wait for Jobs to complete.")
    disable_hooks: bool | None = field(doc="Do not run chart hooks.")
    disable_open_api_validation: bool | None = field(
        "disableOpenAPIValidation",
        doc="Do not validate the rendered objects against the OpenAPI schema.",
    )
    replace: bool | None = field(
        doc="Reuse the release name if it belongs to a deleted release still in history."
    )
    skip_crds: bool | None = field("skipCRDs", doc="Deprecated: use crds: Skip.")
    crds: str | None = field(
        doc="CRDs in the chart's crds/ directory: Create (the default), CreateReplace or Skip.",
        enum=_CRDS_POLICIES,
    )
    create_namespace: bool | None = field(doc="Create the target namespace if it does not exist.")
    disable_schema_validation: bool | None = field(
        doc="Do not validate the values against the chart's values.schema.json.")
    disable_take_ownership: bool | None = field(
        doc="Do not take over objects that exist and belong to no release (or another one).")
    server_side_apply: bool | None = field(
        doc="Apply with server-side apply (Helm 4's default: unset is true). With "
        "UseHelm3Defaults=true (Helm 3) false or unset only; true stalls the release.")
    strategy: InstallStrategy | None = field(doc="What happens after a failed install.")


class Upgrade(Model):
    """Options of Helm upgrade."""

    timeout: str | None = duration(doc=_TIMEOUT_DOC.format("upgrade"))
    remediation: UpgradeRemediation | None = field(doc="What to do when the upgrade fails.")
    disable_wait: bool | None = field(doc="Do not wait for the objects to be ready.")
    disable_wait_for_jobs: bool | None = field(doc="Do not wait for Jobs to complete.")
    disable_hooks: bool | None = field(doc="Do not run chart hooks.")
    disable_open_api_validation: bool | None = field(
        "disableOpenAPIValidation",
        doc="Do not validate the rendered objects against the OpenAPI schema.",
    )
    force: bool | None = field(doc="Replace objects that cannot be updated in place.")
    preserve_values: bool | None = field(
        doc="Reuse the last release's values and merge the new ones in."
    )
    cleanup_on_fail: bool | None = field(doc="Delete objects created by a failed upgrade.")
    crds: str | None = field(
        doc="CRDs in the chart's crds/ directory: Skip (the default), Create or CreateReplace.",
        enum=_CRDS_POLICIES,
    )
    disable_schema_validation: bool | None = field(
        doc="Do not validate the values against the chart's values.schema.json.")
    disable_take_ownership: bool | None = field(
        doc="Do not take over objects that exist and belong to no release (or another one).")
    server_side_apply: str | None = field(
        doc="enabled, disabled or auto (the default: as the release was applied). With "
        "UseHelm3Defaults=true (Helm 3, client-side) enabled stalls the release.",
        enum=_SSA_MODES)
    strategy: UpgradeStrategy | None = field(doc="What happens after a failed upgrade.")
    chart_name_change_strategy: str | None = field(
        doc="When the chart's name changes: Reinstall (the default: uninstall, then install) "
        "or InPlaceUpdate (upgrade the release to the new chart).",
        enum=("InPlaceUpdate", "Reinstall"))


class Filter(Model):
    """Runs or leaves out one chart test."""

    name: str = field(doc="Name of the test.", required=True, min_length=1, max_length=253)
    exclude: bool | None = field(doc="Leave this test out instead of running only it.")


class ReleaseTest(Model):
    """Options of Helm test."""

    enable: bool | None = field(doc="Run the chart's tests after install and upgrade.")
    timeout: str | None = duration(doc=_TIMEOUT_DOC.format("tests"))
    ignore_failures: bool | None = field(doc="Do not remediate when tests fail.")
    filters: list[Filter] | None = field(doc="Which tests to run or leave out.")


class Rollback(Model):
    """Options of Helm rollback."""

    timeout: str | None = duration(doc=_TIMEOUT_DOC.format("rollback"))
    disable_wait: bool | None = field(doc="Do not wait for the objects to be ready.")
    disable_wait_for_jobs: bool | None = field(doc="Do not wait for Jobs to complete.")
    disable_hooks: bool | None = field(doc="Do not run chart hooks.")
    recreate: bool | None = field(doc="Restart pods of the rolled-back objects.")
    force: bool | None = field(doc="Replace objects that cannot be updated in place.")
    cleanup_on_fail: bool | None = field(doc="Delete objects created by a failed rollback.")
    server_side_apply: str | None = field(
        doc="enabled, disabled or auto (the default: as the release rolled back to was "
        "applied). With UseHelm3Defaults=true (Helm 3, client-side) enabled stalls the "
        "release.",
        enum=_SSA_MODES)


class Uninstall(Model):
    """Options of Helm uninstall."""

    timeout: str | None = duration(doc=_TIMEOUT_DOC.format("uninstall"))
    disable_hooks: bool | None = field(doc="Do not run chart hooks.")
    keep_history: bool | None = field(
        doc="Keep the release history (the release is marked deleted)."
    )
    disable_wait: bool | None = field(doc="Do not wait for the objects to be deleted.")
    deletion_propagation: str | None = field(
        doc="Deletion propagation policy: background, foreground or orphan.",
        enum=("background", "foreground", "orphan"),
        default="background",
    )


class ValuesReference(Model):
    """A ConfigMap or Secret holding values."""

    kind: str = field(doc="ConfigMap or Secret.", required=True, enum=("Secret", "ConfigMap"))
    name: str = field(
        doc="Name of the ConfigMap or Secret, in the HelmRelease's namespace.",
        required=True,
        min_length=1,
        max_length=253,
    )
    values_key: str | None = field(
        doc="Data key with the values (or the single value); values.yaml by default.",
        max_length=253,
        pattern=r"^[\-._a-zA-Z0-9]+$",
    )
    target_path: str | None = field(
        doc="Put the single value at this dotted path (helm --set syntax) instead of merging "
        "a values document at the root.",
        max_length=250,
        pattern=r"^([a-zA-Z0-9_\-.\\\/]|\[[0-9]{1,5}\])+$",
    )
    optional: bool | None = field(
        doc="Carry on when the ConfigMap or Secret (not the key) is missing."
    )
    literal: bool | None = field(
        doc="With targetPath: keep the text a string (helm --set-literal) instead of typing "
        "true/false/null/integers."
    )


class PostRendererKustomize(Model):
    """Kustomize patches applied to the rendered chart."""

    patches: list[Patch] | None = field(doc="Strategic-merge or JSON 6902 patches, with targets.")
    patches_strategic_merge: list[dict[str, Any]] | None = field(
        doc="Deprecated: strategic-merge patches as objects.", preserve_unknown=True
    )
    patches_json6902: list[JSON6902Patch] | None = field(doc="Deprecated: JSON 6902 patches.")
    images: list[Image] | None = field(doc="Image names, tags or digests to replace.")


class PostRenderer(Model):
    """One post-rendering step."""

    kustomize: PostRendererKustomize | None = field(
        doc="Apply kustomize patches and image replacements."
    )


def _one_chart(spec: dict) -> bool:
    return ("chart" in spec) != ("chartRef" in spec)


class HelmReleaseSpec(Model):
    """Which chart to release, with which values, and how."""

    VALIDATIONS = (
        Rule(
            "(has(self.chart) && !has(self.chartRef)) || (!has(self.chart) && has(self.chartRef))",
            "exactly one of spec.chart or spec.chartRef must be set",
            _one_chart,
        ),
    )

    chart: HelmChartTemplate | None = field(
        doc="Template of a HelmChart to create for this release."
    )
    chart_ref: CrossNamespaceSourceReference | None = field(
        doc="An existing OCIRepository or HelmChart with the chart as its artifact."
    )
    interval: str = duration(doc="How often to reconcile the release.", required=True)
    kube_config: KubeConfigSourceReference | None = field(
        doc="Release to a remote cluster with this kubeconfig."
    )
    suspend: bool | None = field(doc="Stop reconciling until set back to false.")
    release_name: str | None = field(
        doc="Name of the Helm release; [<targetNamespace>-]<name> by default (shortened with a "
        "hash when longer than 53 characters).",
        min_length=1,
        max_length=53,
    )
    target_namespace: str | None = field(
        doc="Namespace to install into; the HelmRelease's by default.", min_length=1, max_length=63
    )
    storage_namespace: str | None = field(
        doc="Namespace Helm keeps the release records in; the HelmRelease's by default.",
        min_length=1,
        max_length=63,
    )
    depends_on: list[CrossNamespaceDependencyReference] | None = field(
        doc="HelmReleases that must be Ready before this one is reconciled."
    )
    timeout: str | None = duration(
        doc="Time to wait for any single Kubernetes operation during Helm actions; 5m by default."
    )
    max_history: int | None = field(
        doc="Release revisions Helm keeps; 5 by default, 0 for unlimited."
    )
    service_account_name: str | None = field(
        doc="ServiceAccount to impersonate for the Helm actions.", min_length=1, max_length=253
    )
    persistent_client: bool | None = field(
        doc="Reuse one Kubernetes client for a whole reconciliation (true by default)."
    )
    drift_detection: DriftDetection | None = field(
        doc="Detect and correct changes made to the release's objects."
    )
    install: Install | None = field(doc="Options of Helm install.")
    upgrade: Upgrade | None = field(doc="Options of Helm upgrade.")
    test: ReleaseTest | None = field(doc="Options of Helm test.")
    rollback: Rollback | None = field(doc="Options of Helm rollback.")
    uninstall: Uninstall | None = field(doc="Options of Helm uninstall.")
    values_from: list[ValuesReference] | None = field(
        doc="ConfigMaps and Secrets with values, merged in order before the inline values "
        "(entries with targetPath win over everything)."
    )
    values: Any = field(doc="Inline values for the chart (a map).", preserve_unknown=True)
    post_renderers: list[PostRenderer] | None = field(doc="Post-renderers applied in order.")
    post_render_strategy: str | None = field(
        doc="Whether hooks go through the post-renderers: combined (Helm 4's default: with "
        "the other objects), separate (in a run of their own) or nohooks (they do not; "
        "Helm 3's default, and its only one with UseHelm3Defaults=true).",
        enum=("nohooks", "combined", "separate"))
    common_metadata: CommonMetadata | None = field(
        doc="Labels and annotations put on every object the chart renders (hooks as "
        "postRenderStrategy says).")
    wait_strategy: WaitStrategy | None = field(
        doc="How the released objects are waited for: poller (kstatus; Helm 4's default) or "
        "legacy (Helm's own wait; Helm 3's default).")
    health_check_exprs: list[CustomHealthCheck] | None = field(
        doc="CEL health checks for custom resources, evaluated by the poller wait strategy "
        "(when the action waits).")


class ReleaseTestHookStatus(Model):
    """What was observed of one test hook."""

    last_started: str | None = field(doc="When the test last started.", format="date-time")
    last_completed: str | None = field(doc="When the test last completed.", format="date-time")
    phase: str | None = field(doc="The phase the test was last seen in.")


class ReleaseSnapshot(Model):
    """A Helm release as the controller observed it."""

    api_version: str | None = field(doc="Version of the snapshot format.")
    digest: str = field(doc="Checksum (<algorithm>:<hex>) of the release record.", required=True)
    name: str = field(doc="Release name.", required=True)
    namespace: str = field(doc="Namespace the release is installed in.", required=True)
    version: int = field(doc="Release revision.", required=True)
    status: str = field(
        doc="Helm status of the release (deployed, superseded, failed, ...).", required=True
    )
    chart_name: str = field(doc="Name of the chart.", required=True)
    chart_version: str = field(doc="Version of the chart.", required=True)
    app_version: str | None = field(doc="appVersion of the chart.")
    config_digest: str = field(doc="Checksum (<algorithm>:<hex>) of the values.", required=True)
    first_deployed: str = field(
        doc="When the release was first deployed.", required=True, format="date-time"
    )
    last_deployed: str = field(
        doc="When the release was last deployed.", required=True, format="date-time"
    )
    deleted: str | None = field(doc="When the release was deleted.", format="date-time")
    test_hooks: dict[str, ReleaseTestHookStatus] | None = field(
        doc="The chart tests that ran, by name."
    )
    oci_digest: str | None = field(doc="Digest of the OCI artifact the chart came from.")
    action: str | None = field(
        doc="The action that made this snapshot: install, upgrade, rollback, uninstall or "
        "uninstall-remediation.")


class ResourceRef(Model):
    """One object of the release."""

    id: str = field(doc="<namespace>_<name>_<group>_<kind>.", required=True)
    v: str = field(doc="API version of the object.", required=True)


class ResourceInventory(Model):
    """The objects of the current release (its manifest and the chart's CRDs)."""

    entries: list[ResourceRef] = field(doc="The objects.", required=True)


class HelmReleaseStatus(ReconcileStatus):
    """What helm-controller observed and did."""

    last_attempted_generation: int | None = field(
        doc="The generation of the last attempt.", format="int64"
    )
    helm_chart: str | None = field(
        doc="<namespace>/<name> of the HelmChart created for spec.chart."
    )
    storage_namespace: str | None = field(
        doc="Namespace of the current release records.", min_length=1, max_length=63
    )
    history: list[ReleaseSnapshot] | None = field(
        doc="The releases made, newest first, back to the last successful one."
    )
    last_attempted_release_action: str | None = field(
        doc="The action of the last attempt: install or upgrade.", enum=("install", "upgrade")
    )
    failures: int | None = field(
        doc="Failed reconciliations since the last success.", format="int64"
    )
    install_failures: int | None = field(
        doc="Failed installs since the last success.", format="int64"
    )
    upgrade_failures: int | None = field(
        doc="Failed upgrades since the last success.", format="int64"
    )
    last_applied_revision: str | None = field(
        doc="Deprecated: chart version of the last successful release."
    )
    last_attempted_revision: str | None = field(
        doc="Chart version of the last attempt (with +<digest prefix> for OCI sources)."
    )
    last_attempted_revision_digest: str | None = field(doc="OCI digest of the last attempt.")
    last_attempted_values_checksum: str | None = field(
        doc="Deprecated: SHA-1 of the values of the last attempt."
    )
    last_release_revision: int | None = field(
        doc="Deprecated: revision of the last successful release."
    )
    last_attempted_config_digest: str | None = field(
        doc="Checksum of the values of the last attempt."
    )
    last_handled_force_at: str | None = field(
        doc="The reconcile.fluxcd.io/forceAt value handled last."
    )
    last_handled_reset_at: str | None = field(
        doc="The reconcile.fluxcd.io/resetAt value handled last."
    )
    last_attempted_release_action_duration: str | None = field(
        doc="How long the last install or upgrade took (a Go duration).")
    inventory: ResourceInventory | None = field(doc="The objects of the current release.")
    observed_post_renderers_digest: str | None = field(
        doc="Digest of the spec.postRenderers the current release was made with.")
    observed_common_metadata_digest: str | None = field(
        doc="Digest of the spec.commonMetadata the current release was made with.")


class HelmRelease(Resource):
    """A Helm release kept in line with its chart and values."""

    GROUP = GROUP
    VERSION = VERSION
    KIND = "HelmRelease"
    PLURAL = "helmreleases"
    SHORT_NAMES = ("hr",)
    CATEGORIES = (
        _meta.CATEGORY_ALL,
        _meta.CATEGORY_FLUXCD,
        _meta.CATEGORY_APPLIERS,
        _meta.CATEGORY_FLUX,
    )
    PRINTER_COLUMNS = (
        AGE_COLUMN,
        READY_COLUMN,
        STATUS_COLUMN,
        PrinterColumn("Revision", "string", ".status.lastAttemptedRevision", priority=1),
        PrinterColumn("Suspended", "boolean", ".spec.suspend", priority=1),
    )
    DESCRIPTION = (
        "HelmRelease installs a Helm chart with the given values and keeps the release up to "
        "date: it upgrades, tests, remediates failures and corrects drift."
    )
    DEFAULT_TIMEOUT = 300.0

    spec: HelmReleaseSpec = field(doc="Which chart to release and how.", required=True)
    status: HelmReleaseStatus = field(
        doc="The observed state, written by helm-controller.",
        default={"observedGeneration": -1},
        python_default=False,
    )

    @property
    def release_name(self) -> str:
        """The Helm release name (spec.releaseName or the derived one)."""
        return helm_release_name(self.name, self.spec.target_namespace, self.spec.release_name)

    @property
    def release_namespace(self) -> str:
        """The namespace the release is installed in."""
        return self.spec.target_namespace or self.namespace

    @property
    def storage_namespace(self) -> str:
        """The namespace Helm keeps the release records in."""
        return self.spec.storage_namespace or self.namespace

    @property
    def max_history(self) -> int:
        """spec.maxHistory, 5 when left out."""
        return DEFAULT_MAX_HISTORY if self.spec.max_history is None else self.spec.max_history

    @property
    def helm_chart_name(self) -> str:
        """Name of the HelmChart created for spec.chart: <namespace>-<name>."""
        return helm_chart_name(self.namespace, self.name)

    @property
    def helm_chart_namespace(self) -> str:
        """Namespace of that HelmChart: the chart template source's namespace."""
        chart = self.spec.chart
        return (chart.spec.source_ref.namespace if chart else None) or self.namespace

    @property
    def force_requested_at(self) -> str | None:
        """The reconcile.fluxcd.io/forceAt annotation, if any."""
        return self.annotations.get(_meta.FORCE_AT_ANNOTATION)

    @property
    def reset_requested_at(self) -> str | None:
        """The reconcile.fluxcd.io/resetAt annotation, if any."""
        return self.annotations.get(_meta.RESET_AT_ANNOTATION)


# --- reasons (Flux's helm-controller strings; other tools read them) -----------------------
INSTALL_SUCCEEDED = "InstallSucceeded"
INSTALL_FAILED = "InstallFailed"
UPGRADE_SUCCEEDED = "UpgradeSucceeded"
UPGRADE_FAILED = "UpgradeFailed"
TEST_SUCCEEDED = "TestSucceeded"
TEST_FAILED = "TestFailed"
ROLLBACK_SUCCEEDED = "RollbackSucceeded"
ROLLBACK_FAILED = "RollbackFailed"
UNINSTALL_SUCCEEDED = "UninstallSucceeded"
UNINSTALL_FAILED = "UninstallFailed"
ARTIFACT_FAILED = _meta.ARTIFACT_FAILED
INIT_FAILED = "InitFailed"
GET_LAST_RELEASE_FAILED = "GetLastReleaseFailed"
DEPENDENCY_NOT_READY = _meta.DEPENDENCY_NOT_READY
RETRIES_EXCEEDED = "RetriesExceeded"
DRIFT_DETECTED = "DriftDetected"
NO_DRIFT_DETECTED = "NoDriftDetected"

#: Event metadata keys (prefixed with the group, where notification-controller reads them).
REVISION_METADATA = f"{GROUP}/revision"
TOKEN_METADATA = f"{GROUP}/token"
OCI_DIGEST_METADATA = f"{GROUP}/oci-digest"

#: The actions recorded as status.lastAttemptedReleaseAction (and history[].action, with
#: the three after them).
ACTION_INSTALL = "install"
ACTION_UPGRADE = "upgrade"
ACTION_ROLLBACK = "rollback"
ACTION_UNINSTALL = "uninstall"
ACTION_UNINSTALL_REMEDIATION = "uninstall-remediation"

#: Reason of a spec that asks for what the Helm 3 engine (UseHelm3Defaults=true) cannot do
#: (Stalled).
UNSUPPORTED_BY_ENGINE = "UnsupportedByEngine"
#: Install/upgrade strategy names.
STRATEGY_REMEDIATE = "RemediateOnFailure"
STRATEGY_RETRY = "RetryOnFailure"
#: upgrade.chartNameChangeStrategy values.
CHART_NAME_REINSTALL = "Reinstall"
CHART_NAME_IN_PLACE = "InPlaceUpdate"
