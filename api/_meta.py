"""Names shared by every Flux kind: condition types, reasons, annotations, labels, finalizers.

These strings are facts of the Flux v2 interface (other tools, the `flux` CLI among
them, read them), so they must match Flux exactly. Per-kind reasons live beside the
kind's model; the ones several kinds use live here.
"""

from __future__ import annotations

from typing import Final

# --- condition types ------------------------------------------------------------------
READY: Final = "Ready"
RECONCILING: Final = "Reconciling"
STALLED: Final = "Stalled"
HEALTHY: Final = "Healthy"
# source-controller (negative polarity: present only while True)
FETCH_FAILED: Final = "FetchFailed"
ARTIFACT_OUTDATED: Final = "ArtifactOutdated"
ARTIFACT_IN_STORAGE: Final = "ArtifactInStorage"
STORAGE_OPERATION_FAILED: Final = "StorageOperationFailed"
INCLUDE_UNAVAILABLE: Final = "IncludeUnavailable"
SOURCE_VERIFIED: Final = "SourceVerified"
BUILD_FAILED_CONDITION: Final = "BuildFailed"
# helm-controller
RELEASED: Final = "Released"
TEST_SUCCESS: Final = "TestSuccess"
REMEDIATED: Final = "Remediated"
DRIFTED: Final = "Drifted"
#: afflux: a prune that would delete too much of the inventory waits to be allowed.
PRUNE_HELD: Final = "PruneHeld"

#: Conditions whose True status means something is wrong (kstatus "abnormal-true").
NEGATIVE_POLARITY: Final = frozenset(
    {
        RECONCILING,
        STALLED,
        FETCH_FAILED,
        ARTIFACT_OUTDATED,
        STORAGE_OPERATION_FAILED,
        INCLUDE_UNAVAILABLE,
        BUILD_FAILED_CONDITION,
        DRIFTED,
        PRUNE_HELD,
    }
)

# --- generic reasons --------------------------------------------------------------------
SUCCEEDED: Final = "Succeeded"
FAILED: Final = "Failed"
PROGRESSING: Final = "Progressing"
PROGRESSING_WITH_RETRY: Final = "ProgressingWithRetry"
SUSPENDED: Final = "Suspended"
DEPENDENCY_NOT_READY: Final = "DependencyNotReady"
#: afflux: the dependencies (dependsOn and the depends-on annotation) form a cycle.
DEPENDENCY_CYCLE: Final = "DependencyCycle"
#: afflux: the depends-on annotation is not a list of Kind/namespace/name.
INVALID_DEPENDS_ON: Final = "InvalidDependsOn"
#: afflux: kustomize-controller put back fields someone else changed (an Event reason).
DRIFT_CORRECTED: Final = "DriftCorrected"
RECONCILIATION_SUCCEEDED: Final = "ReconciliationSucceeded"
RECONCILIATION_FAILED: Final = "ReconciliationFailed"
INVALID_URL: Final = "URLInvalid"
ACCESS_DENIED: Final = "AccessDenied"
AUTHENTICATION_FAILED: Final = "AuthenticationFailed"
VERIFICATION_ERROR: Final = "VerificationError"
HEALTH_CHECK_FAILED: Final = "HealthCheckFailed"
INVALID_CEL_EXPRESSION: Final = "InvalidCELExpression"
ARTIFACT_FAILED: Final = "ArtifactFailed"
BUILD_FAILED: Final = "BuildFailed"
PRUNE_FAILED: Final = "PruneFailed"
#: A kubeConfig from an object names a file or program, or turns off TLS (afflux).
KUBECONFIG_REFUSED: Final = "KubeConfigRefused"
#: A feature the object asks for is behind a feature gate the controller does not enable.
FEATURE_GATE_DISABLED: Final = "FeatureGateDisabled"
# source-controller reasons
GIT_OPERATION_FAILED: Final = "GitOperationFailed"
NEW_REVISION: Final = "NewRevision"
NEW_ARTIFACT: Final = "NewArtifact"
ARTIFACT_UP_TO_DATE: Final = "ArtifactUpToDate"
STORAGE_FAILED: Final = "StorageOperationFailed"
OCI_PULL_FAILED: Final = "OCIArtifactPullFailed"
OCI_LAYER_OPERATION_FAILED: Final = "OCIArtifactLayerOperationFailed"
INDEXATION_FAILED: Final = "IndexationFailed"
INDEXATION_SUCCEEDED: Final = "IndexationSucceeded"
BUCKET_OPERATION_FAILED: Final = "BucketOperationFailed"
CHART_PULL_FAILED: Final = "ChartPullFailed"
CHART_PACKAGE_FAILED: Final = "ChartPackageFailed"
CHART_PULL_SUCCEEDED: Final = "ChartPullSucceeded"
CHART_PACKAGE_SUCCEEDED: Final = "ChartPackageSucceeded"
# image controllers
IMAGE_URL_INVALID: Final = "ImageURLInvalid"
READ_OPERATION_FAILED: Final = "ReadOperationFailed"
INVALID_SOURCE_CONFIGURATION: Final = "InvalidSourceConfiguration"
UPDATE_FAILED: Final = "UpdateFailed"
#: ImageUpdateAutomation: the Git source (its credentials, the signing key) cannot be set up
SOURCE_MANAGER_FAILED: Final = "SourceManagerFailed"
DEPENDENCY_NOT_FOUND: Final = "DependencyNotFound"

# --- annotations, labels, finalizers --------------------------------------------------
REQUESTED_AT_ANNOTATION: Final = "reconcile.fluxcd.io/requestedAt"
FORCE_AT_ANNOTATION: Final = "reconcile.fluxcd.io/forceAt"
RESET_AT_ANNOTATION: Final = "reconcile.fluxcd.io/resetAt"
WATCH_LABEL: Final = "reconcile.fluxcd.io/watch"
WATCH_LABEL_ENABLED: Final = "Enabled"

KUSTOMIZE_GROUP: Final = "kustomize.toolkit.fluxcd.io"
KUSTOMIZE_NAME_LABEL: Final = f"{KUSTOMIZE_GROUP}/name"
KUSTOMIZE_NAMESPACE_LABEL: Final = f"{KUSTOMIZE_GROUP}/namespace"
KUSTOMIZE_RECONCILE_ANNOTATION: Final = f"{KUSTOMIZE_GROUP}/reconcile"
KUSTOMIZE_PRUNE_ANNOTATION: Final = f"{KUSTOMIZE_GROUP}/prune"
KUSTOMIZE_SSA_ANNOTATION: Final = f"{KUSTOMIZE_GROUP}/ssa"
KUSTOMIZE_FORCE_ANNOTATION: Final = f"{KUSTOMIZE_GROUP}/force"
KUSTOMIZE_SUBSTITUTE_ANNOTATION: Final = f"{KUSTOMIZE_GROUP}/substitute"
KUSTOMIZE_REVISION_METADATA: Final = f"{KUSTOMIZE_GROUP}/revision"

#: Flux puts one finalizer on every object its controllers own.
FINALIZER: Final = "finalizers.fluxcd.io"

#: Prefix of afflux's own bookkeeping annotations (kopf progress and diff-base).
AFFLUX_ANNOTATION_PREFIX: Final = "afflux.toolkit.fluxcd.io"
#: The revision (as status.lastAttemptedRevision writes it) whose held prune is allowed.
ALLOW_PRUNE_ANNOTATION: Final = f"{AFFLUX_ANNOTATION_PREFIX}/allow-prune"
#: `disabled` turns the mass-deletion guard off for one Kustomization.
PRUNE_GUARD_ANNOTATION: Final = f"{AFFLUX_ANNOTATION_PREFIX}/prune-guard"

#: Field manager of the CLI's requestedAt patches (what `flux reconcile` uses).
CLI_FIELD_MANAGER: Final = "flux-client-side-apply"

# --- API groups ------------------------------------------------------------------------------
SOURCE_GROUP: Final = "source.toolkit.fluxcd.io"
#: Flux 2.7's source-watcher API (ArtifactGenerator).
SOURCE_EXTENSIONS_GROUP: Final = "source.extensions.fluxcd.io"
HELM_GROUP: Final = "helm.toolkit.fluxcd.io"
#: helm-controller's origin labels, on every object its post-renderer sees (hooks do not).
HELM_NAME_LABEL: Final = f"{HELM_GROUP}/name"
HELM_NAMESPACE_LABEL: Final = f"{HELM_GROUP}/namespace"
IMAGE_GROUP: Final = "image.toolkit.fluxcd.io"
NOTIFICATION_GROUP: Final = "notification.toolkit.fluxcd.io"
# (KUSTOMIZE_GROUP is defined with the kustomize annotations above.)

#: CRD categories: `kubectl get fluxcd` lists every Flux object (as it does with Flux);
#: `flux` is afflux's alias for the same set.
CATEGORY_ALL: Final = "all"
CATEGORY_FLUXCD: Final = "fluxcd"
CATEGORY_FLUX: Final = "flux"
CATEGORY_SOURCES: Final = "fluxcd-sources"
CATEGORY_APPLIERS: Final = "fluxcd-appliers"
CATEGORY_IMAGES: Final = "fluxcd-images"
CATEGORY_NOTIFICATIONS: Final = "fluxcd-notifications"
