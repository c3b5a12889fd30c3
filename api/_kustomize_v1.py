"""kustomize.toolkit.fluxcd.io/v1: Kustomization.

A Kustomization builds a directory of a source's artifact with kustomize, substitutes
variables, decrypts SOPS secrets, applies the result with server-side apply, prunes what
left, checks health, and records what it applied in `status.inventory`.
"""

from __future__ import annotations

from . import _meta
from ._common import (
    AGE_COLUMN,
    READY_COLUMN,
    STATUS_COLUMN,
    CrossNamespaceDependencyReference,
    Image,
    KubeConfigSourceReference,
    LocalObjectReference,
    NamespacedObjectKindReference,
    Patch,
    PrinterColumn,
    ReconcileStatus,
    Resource,
    Selector,
)
from ._duration import parse_duration
from ._model import Model, duration, field
from ._refs import ObjectRef, parse_inventory_id

__all__ = [
    "BUILD_METADATA",
    "SUBSTITUTE_STRATEGIES",
    "CommonMetadata",
    "CrossNamespaceSourceReference",
    "CustomHealthCheck",
    "Decryption",
    "DriftIgnoreRule",
    "Kustomization",
    "KustomizationSpec",
    "KustomizationStatus",
    "PostBuild",
    "ResourceInventory",
    "ResourceRef",
    "Snapshot",
    "SubstituteReference",
]

GROUP = _meta.KUSTOMIZE_GROUP
VERSION = "v1"

DELETION_POLICIES = ("MirrorPrune", "Delete", "WaitForTermination", "Orphan")
SUBSTITUTE_STRATEGIES = ("WithVariables", "Always")
#: `spec.buildMetadata` values: kustomize's `buildMetadata` options of the same names.
BUILD_METADATA = ("originAnnotations", "transformerAnnotations")


class CommonMetadata(Model):
    """Labels and annotations added to every applied object (overriding equal keys)."""

    annotations: dict[str, str] | None = field(doc="Annotations to add.")
    labels: dict[str, str] | None = field(doc="Labels to add.")


class Decryption(Model):
    """How to decrypt encrypted Secrets in the build."""

    provider: str = field(doc="The decryption engine; only sops.", required=True, enum=("sops",))
    service_account_name: str | None = field(
        doc="ServiceAccount used to authenticate to cloud KMS services."
    )
    secret_ref: LocalObjectReference | None = field(
        doc="Secret with the private keys: age keys under keys ending in .agekey, OpenPGP keys "
        "under keys ending in .asc; cloud KMS credentials otherwise."
    )


class SubstituteReference(Model):
    """A ConfigMap or Secret whose data keys are substitution variables."""

    kind: str = field(doc="ConfigMap or Secret.", required=True, enum=("Secret", "ConfigMap"))
    name: str = field(
        doc="Name of the ConfigMap or Secret, in the Kustomization's namespace.",
        required=True,
        min_length=1,
        max_length=253,
    )
    optional: bool | None = field(
        doc="Carry on as if it were empty when it does not exist.", default=False
    )


class PostBuild(Model):
    """What to do with the YAML after kustomize built it."""

    substitute: dict[str, str] | None = field(
        doc="Variables to substitute for ${name} in the manifests; they win over substituteFrom. "
        "Supports ${var:=default}, ${var:position:length} and ${var/sub/replacement}."
    )
    substitute_from: list[SubstituteReference] | None = field(
        doc="ConfigMaps and Secrets with more variables; later ones win over earlier ones."
    )
    substitute_strategy: str | None = field(
        doc="When to substitute: WithVariables (the default) only when some variable or "
        "source is defined; Always also without any, so that ${var:=default} and $${var} "
        "are resolved.",
        enum=SUBSTITUTE_STRATEGIES,
    )


class CrossNamespaceSourceReference(Model):
    """The source whose artifact is built."""

    api_version: str | None = field(doc="API version of the source.")
    kind: str = field(
        doc="Kind of the source.",
        required=True,
        enum=("OCIRepository", "GitRepository", "Bucket", "ExternalArtifact"),
    )
    name: str = field(doc="Name of the source.", required=True)
    namespace: str | None = field(doc="Namespace of the source; the Kustomization's by default.")


class CustomHealthCheck(Model):
    """CEL expressions that say whether objects of one kind are healthy."""

    api_version: str = field(doc="API version of the objects, e.g. apps/v1.", required=True)
    kind: str = field(doc="Kind of the objects.", required=True)
    current: str = field(
        doc="CEL expression that is true when the object is healthy.", required=True
    )
    in_progress: str | None = field(
        doc="CEL expression that is true while the object is progressing."
    )
    failed: str | None = field(doc="CEL expression that is true when the object has failed.")


class DriftIgnoreRule(Model):
    """Paths of objects that drift correction leaves alone."""

    paths: list[str] = field(doc="JSON pointers (RFC 6901) to ignore.", required=True)
    target: Selector | None = field(doc="The objects the rule applies to; all when left out.")


class KustomizationSpec(Model):
    """What to build from which source, and how to apply it."""

    common_metadata: CommonMetadata | None = field(
        doc="Labels and annotations for every applied object."
    )
    depends_on: list[CrossNamespaceDependencyReference] | None = field(
        doc="Kustomizations that must be Ready before this one is applied."
    )
    decryption: Decryption | None = field(doc="Decrypt SOPS-encrypted Secrets before applying.")
    interval: str = duration(
        doc="How often to reconcile (rebuild, apply, correct drift).", required=True
    )
    retry_interval: str | None = duration(
        doc="How soon to retry after a failure; the interval by default."
    )
    kube_config: KubeConfigSourceReference | None = field(
        doc="Apply to a remote cluster: a kubeconfig in a Secret, or a ConfigMap naming the "
        "cluster's address and CA for workload-identity access."
    )
    path: str | None = field(
        doc="Directory in the artifact to build; the artifact root by default. A "
        "kustomization.yaml is generated when the directory has none."
    )
    post_build: PostBuild | None = field(doc="Variable substitution after the build.")
    prune: bool = field(
        doc="Delete objects that were applied before and are no longer in the build.", required=True
    )
    deletion_policy: str | None = field(
        doc="What happens to applied objects when the Kustomization is deleted: MirrorPrune "
        "(follow prune, the default), Delete, WaitForTermination or Orphan.",
        enum=DELETION_POLICIES,
    )
    health_checks: list[NamespacedObjectKindReference] | None = field(
        doc="Objects that must be healthy for the Kustomization to be Ready."
    )
    name_prefix: str | None = field(
        doc="Prefix for the names of all objects.", min_length=1, max_length=200
    )
    name_suffix: str | None = field(
        doc="Suffix for the names of all objects.", min_length=1, max_length=200
    )
    patches: list[Patch] | None = field(
        doc="Strategic-merge or JSON 6902 patches, with their targets."
    )
    images: list[Image] | None = field(doc="Image names, tags or digests to replace.")
    service_account_name: str | None = field(doc="ServiceAccount to impersonate when applying.")
    source_ref: CrossNamespaceSourceReference = field(
        doc="The source to build from.", required=True
    )
    suspend: bool | None = field(doc="Stop reconciling until set back to false.")
    target_namespace: str | None = field(
        doc="Namespace to put every namespaced object in.", min_length=1, max_length=63
    )
    timeout: str | None = duration(
        doc="Timeout of build, apply and health checks; the interval by default."
    )
    force: bool | None = field(
        doc="Recreate objects whose update fails on an immutable field.", default=False
    )
    wait: bool | None = field(
        doc="Wait for every applied object to be healthy (healthChecks are then ignored)."
    )
    components: list[str] | None = field(doc="Paths of kustomize components to add to the build.")
    ignore_missing_components: bool | None = field(doc="Leave out components that do not exist.")
    health_check_exprs: list[CustomHealthCheck] | None = field(
        doc="CEL health checks for custom resources, used with wait or healthChecks."
    )
    ignore: list[DriftIgnoreRule] | None = field(
        doc="Fields drift detection and correction leave alone on objects that exist: the "
        "listed JSON pointers are not applied, so other controllers may own them."
    )
    build_metadata: list[str] | None = field(
        doc="kustomize build metadata to add to the objects: originAnnotations (where each "
        "object came from), transformerAnnotations (which transformers changed it).",
        item_enum=BUILD_METADATA,
    )


class ResourceRef(Model):
    """One applied object in the inventory."""

    id: str = field(doc="<namespace>_<name>_<group>_<kind>.", required=True)
    v: str = field(doc="API version of the object.", required=True)

    def ref(self) -> ObjectRef:
        """The object identity the id encodes."""
        return parse_inventory_id(self.id, self.v)

    @classmethod
    def from_ref(cls, ref: ObjectRef) -> ResourceRef:
        """The inventory entry of an object identity."""
        return cls(id=ref.id, v=ref.version)


class ResourceInventory(Model):
    """The objects a Kustomization applied."""

    entries: list[ResourceRef] = field(doc="The applied objects.", required=True)

    def refs(self) -> list[ObjectRef]:
        """The entries as object identities."""
        return [e.ref() for e in self.entries]

    @classmethod
    def from_refs(cls, refs: list[ObjectRef]) -> ResourceInventory:
        """An inventory of object identities, sorted the way Flux sorts its entries."""
        return cls(entries=[ResourceRef.from_ref(r) for r in sorted(set(refs))])


class Snapshot(Model):
    """One entry of the reconciliation history."""

    digest: str = field(doc="Checksum (<algorithm>:<hex>) of the applied objects.", required=True)
    first_reconciled: str = field(
        doc="When this content was first applied.", required=True, format="date-time"
    )
    last_reconciled: str = field(
        doc="When this content was last applied.", required=True, format="date-time"
    )
    last_reconciled_duration: str = duration(
        doc="How long the last reconciliation took.", required=True
    )
    last_reconciled_status: str = field(
        doc="Outcome of the last reconciliation (a condition reason).", required=True
    )
    total_reconciliations: int = field(
        doc="How many times this content was reconciled.", required=True, format="int64"
    )
    metadata: dict[str, str] | None = field(
        doc="More about the snapshot, e.g. the source revision."
    )


class KustomizationStatus(ReconcileStatus):
    """What kustomize-controller observed and did."""

    last_applied_revision: str | None = field(doc="Source revision of the last successful apply.")
    last_applied_origin_revision: str | None = field(
        doc="Origin revision (e.g. the org.opencontainers.image.revision annotation) of the "
        "last successful apply."
    )
    last_attempted_revision: str | None = field(doc="Source revision of the last attempt.")
    inventory: ResourceInventory | None = field(
        doc="The objects applied by the last successful apply."
    )
    history: list[Snapshot] | None = field(
        doc="The last reconciliations, newest first (at most 5)."
    )


class Kustomization(Resource):
    """A kustomize overlay applied to the cluster."""

    GROUP = GROUP
    VERSION = VERSION
    KIND = "Kustomization"
    PLURAL = "kustomizations"
    SHORT_NAMES = ("ks",)
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
        PrinterColumn("Revision", "string", ".status.lastAppliedRevision", priority=1),
        PrinterColumn("Suspended", "boolean", ".spec.suspend", priority=1),
    )
    DESCRIPTION = (
        "Kustomization builds a directory of a source artifact with kustomize and keeps the "
        "cluster equal to the result: it applies, corrects drift, prunes and checks health."
    )

    spec: KustomizationSpec = field(doc="What to build and how to apply it.", required=True)
    status: KustomizationStatus = field(
        doc="The observed state, written by kustomize-controller.",
        default={"observedGeneration": -1},
        python_default=False,
    )

    @property
    def timeout(self) -> float | None:
        """spec.timeout, or the interval less 30s; never below 30s."""
        seconds = (
            parse_duration(self.spec.timeout)
            if self.spec.timeout
            else (self.interval or 0.0) - 30.0
        )
        return max(seconds, 30.0)

    @property
    def retry_interval(self) -> float | None:
        """spec.retryInterval in seconds, or the interval."""
        return (
            parse_duration(self.spec.retry_interval) if self.spec.retry_interval else self.interval
        )

    @property
    def deletion_policy(self) -> str:
        """spec.deletionPolicy, MirrorPrune when left out."""
        return self.spec.deletion_policy or "MirrorPrune"

    @property
    def source_namespace(self) -> str:
        """The namespace of the source (the Kustomization's own when not given)."""
        return self.spec.source_ref.namespace or self.namespace
