"""Building blocks shared by every kind: object metadata, conditions, artifacts, references,
kustomize patches and selectors, the common status fields, and the `Resource` base class that
gives each kind its identity (group, version, kind, plural, short names, printer columns) and
its everyday helpers (`suspended`, `interval`, `requested_at`, ...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from . import _meta
from ._duration import parse_duration
from ._model import Model, Rule, field, model_fields

__all__ = [
    "AGE_COLUMN",
    "READY_COLUMN",
    "STATUS_COLUMN",
    "AccessFrom",
    "Artifact",
    "Condition",
    "CrossNamespaceDependencyReference",
    "Image",
    "JSON6902",
    "JSON6902Patch",
    "KubeConfigReference",
    "KubeConfigSourceReference",
    "LabelSelector",
    "LabelSelectorRequirement",
    "LocalObjectReference",
    "NamespaceSelector",
    "NamespacedObjectKindReference",
    "NamespacedObjectReference",
    "ObjectMeta",
    "Patch",
    "PrinterColumn",
    "ReconcileStatus",
    "Resource",
    "SecretKeyReference",
    "Selector",
]


# --- metadata ---------------------------------------------------------------------------------


class ObjectMeta(Model):
    """The parts of `metadata` controllers use. Not part of any CRD schema (the API server owns
    metadata); listed here so handlers get typed access."""

    name: str = field(doc="Name of the object, unique in its namespace.", required=True)
    namespace: str | None = field(doc="Namespace of the object.")
    generate_name: str | None = field(doc="Prefix the server uses to generate a name.")
    uid: str | None = field(doc="Unique id the server assigned.")
    resource_version: str | None = field(doc="Version of the object for optimistic concurrency.")
    generation: int | None = field(doc="Increases on every change of the spec.")
    creation_timestamp: str | None = field(doc="When the object was created (RFC 3339).")
    deletion_timestamp: str | None = field(doc="When deletion was requested (RFC 3339).")
    labels: dict[str, str] | None = field(doc="Labels.")
    annotations: dict[str, str] | None = field(doc="Annotations.")
    finalizers: list[str] | None = field(doc="Finalizers that hold the object while deleting.")
    owner_references: list[dict[str, Any]] | None = field(doc="Owners of this object.")


# --- conditions and artifacts ---------------------------------------------------------------


class Condition(Model):
    """One entry of `status.conditions` (the standard Kubernetes condition shape)."""

    type: str = field(
        doc="Type of the condition in CamelCase, e.g. Ready, Reconciling, Stalled.",
        required=True,
        max_length=316,
        pattern=(
            r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
            r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
        ),
    )
    status: str = field(
        doc="True, False or Unknown.", required=True, enum=("True", "False", "Unknown")
    )
    reason: str = field(
        doc="Why the condition has its status, as a CamelCase word such as Succeeded.",
        required=True,
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
    )
    message: str = field(
        doc="What happened, for humans; may be empty.", required=True, max_length=32768
    )
    last_transition_time: str = field(
        doc="When the status last changed (RFC 3339).", required=True, format="date-time"
    )
    observed_generation: int | None = field(
        doc="The metadata.generation the condition was computed for.",
        format="int64",
        minimum=0,
    )

    @property
    def is_true(self) -> bool:
        """Whether the status is True."""
        return self.status == "True"


class Artifact(Model):
    """A file source-controller produced and serves over HTTP."""

    path: str = field(
        doc="Path of the file relative to the storage root: <kind>/<namespace>/<name>/<file>.",
        required=True,
    )
    url: str = field(doc="HTTP address the file can be downloaded from.", required=True)
    revision: str = field(
        doc="Where the content came from in the origin system, e.g. main@sha1:<commit>, "
        "<tag>@sha256:<digest> or a chart version.",
        required=True,
    )
    digest: str | None = field(
        doc="Checksum of the file as <algorithm>:<hex>; consumers verify it after download.",
        pattern=r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$",
    )
    last_update_time: str = field(
        doc="When the artifact was last produced (RFC 3339).", required=True, format="date-time"
    )
    size: int | None = field(doc="Size of the file in bytes.", format="int64")
    metadata: dict[str, str] | None = field(
        doc="Upstream information about the content, such as OCI annotations."
    )


# --- references ------------------------------------------------------------------------------


class LocalObjectReference(Model):
    """A reference to an object in the same namespace, by name."""

    name: str = field(doc="Name of the referent.", required=True)


class NamespacedObjectReference(Model):
    """A reference by name to an object in any namespace."""

    name: str = field(doc="Name of the referent.", required=True)
    namespace: str | None = field(
        doc="Namespace of the referent; defaults to the namespace of the referring object."
    )


class CrossNamespaceDependencyReference(Model):
    """A dependency on another object of the same kind, which must be Ready first."""

    name: str = field(doc="Name of the dependency.", required=True)
    namespace: str | None = field(
        doc="Namespace of the dependency; defaults to the namespace of the referring object."
    )
    ready_expr: str | None = field(
        doc="CEL expression over `dep` and `self` that replaces the built-in Ready check."
    )


class NamespacedObjectKindReference(Model):
    """A reference to a typed object in any namespace."""

    api_version: str | None = field(
        doc="API version of the referent; the server's preferred version when left out."
    )
    kind: str = field(doc="Kind of the referent.", required=True)
    name: str = field(doc="Name of the referent.", required=True)
    namespace: str | None = field(
        doc="Namespace of the referent; defaults to the namespace of the referring object."
    )


class SecretKeyReference(Model):
    """A key in a Secret of the same namespace."""

    name: str = field(doc="Name of the Secret.", required=True)
    key: str | None = field(doc="Key in the Secret; an implementation default when left out.")


class KubeConfigReference(Model):
    """Where to find a kubeconfig for acting on a remote cluster."""

    secret_ref: SecretKeyReference = field(
        doc="Secret holding the kubeconfig; the key defaults to 'value', then 'value.yaml'.",
        required=True,
    )


class KubeConfigSourceReference(Model):
    """Flux 2.7+'s kubeConfig: a kubeconfig in a Secret, or a ConfigMap that names a remote
    cluster reached with workload identity (keys `provider`, `address`, `ca.crt`,
    `serviceAccountName`, `audiences`, `cluster`); exactly one of the two."""

    VALIDATIONS = (
        Rule("has(self.configMapRef) || has(self.secretRef)",
             "one of configMapRef or secretRef is required",
             lambda s: "configMapRef" in s or "secretRef" in s),
        Rule("!has(self.configMapRef) || !has(self.secretRef)",
             "configMapRef and secretRef are mutually exclusive",
             lambda s: not ("configMapRef" in s and "secretRef" in s)),
    )

    config_map_ref: LocalObjectReference | None = field(
        doc="ConfigMap with the remote cluster's provider (generic, aws, azure, gcp), address, "
        "ca.crt, serviceAccountName and audiences."
    )
    secret_ref: SecretKeyReference | None = field(
        doc="Secret holding the kubeconfig; the key defaults to 'value', then 'value.yaml'."
    )


class LabelSelectorRequirement(Model):
    """One expression of a label selector."""

    key: str = field(doc="Label key the requirement applies to.", required=True)
    operator: str = field(doc="In, NotIn, Exists or DoesNotExist.", required=True)
    values: list[str] | None = field(
        doc="Values for In and NotIn; must be empty for Exists and DoesNotExist.",
        list_type="atomic",
    )


class LabelSelector(Model):
    """A standard Kubernetes label selector; an empty selector matches everything."""

    MAP_TYPE = "atomic"

    match_labels: dict[str, str] | None = field(doc="Labels that must all be present.")
    match_expressions: list[LabelSelectorRequirement] | None = field(
        doc="Expressions that must all hold.", list_type="atomic"
    )


class NamespaceSelector(Model):
    """Selects namespaces by their labels."""

    match_labels: dict[str, str] | None = field(doc="Labels a namespace must carry.")


class AccessFrom(Model):
    """Namespaces allowed to refer to this object from elsewhere."""

    namespace_selectors: list[NamespaceSelector] = field(
        doc="Selectors of namespaces whose objects may refer to this one.", required=True
    )


# --- kustomize building blocks ------------------------------------------------------------------


class Selector(Model):
    """Selects objects by group, version, kind, name, namespace, labels and annotations; all
    given criteria must match."""

    group: str | None = field(doc="API group of the objects.")
    version: str | None = field(doc="API version of the objects.")
    kind: str | None = field(doc="Kind of the objects.")
    namespace: str | None = field(doc="Namespace of the objects.")
    name: str | None = field(doc="Name of the objects (a regular expression).")
    label_selector: str | None = field(doc="Label selector expression, e.g. 'app=web,tier!=db'.")
    annotation_selector: str | None = field(doc="Selector expression over annotations.")


class Patch(Model):
    """A strategic-merge or JSON 6902 patch, inline, with the objects it applies to."""

    patch: str = field(doc="The patch document, as YAML or JSON text.", required=True)
    target: Selector | None = field(doc="The objects to patch; all objects when left out.")


class JSON6902(Model):
    """One JSON 6902 operation."""

    op: str = field(
        doc="The operation.",
        required=True,
        enum=("test", "remove", "add", "replace", "move", "copy"),
    )
    path: str = field(doc="JSON pointer to the location the operation acts on.", required=True)
    from_: str | None = field("from", doc="JSON pointer to the source, for move and copy.")
    value: Any = field(doc="The value, for add, replace and test.", preserve_unknown=True)


class JSON6902Patch(Model):
    """A list of JSON 6902 operations and the objects they apply to."""

    patch: list[JSON6902] = field(doc="The operations, in order.", required=True)
    target: Selector = field(doc="The objects to patch.", required=True)


class Image(Model):
    """Replaces an image name, tag or digest in the built manifests."""

    name: str = field(doc="The image name to match, without tag.", required=True)
    new_name: str | None = field(doc="The name to put in its place.")
    new_tag: str | None = field(doc="The tag to put in its place.")
    digest: str | None = field(doc="The digest to put in its place; wins over newTag.")


# --- status ---------------------------------------------------------------------------------------


class ReconcileStatus(Model):
    """Status fields every reconciled kind has."""

    observed_generation: int | None = field(
        doc="The last metadata.generation the controller finished reconciling (Ready or Stalled).",
        format="int64",
    )
    conditions: list[Condition] | None = field(
        doc="The latest observations of the object's state (Ready, Reconciling, Stalled, ...)."
    )
    last_handled_reconcile_at: str | None = field(
        doc="The value of the reconcile.fluxcd.io/requestedAt annotation the controller "
        "handled last."
    )

    def condition(self, type_: str) -> Condition | None:
        """The condition of the given type, if present."""
        for c in self.conditions or ():
            if c.type == type_:
                return c
        return None

    @property
    def ready(self) -> bool:
        """Whether the Ready condition is True."""
        c = self.condition(_meta.READY)
        return c is not None and c.is_true


# --- the Resource base ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PrinterColumn:
    """An `additionalPrinterColumns` entry of a CRD version."""

    name: str
    type: str
    json_path: str
    description: str = ""
    priority: int = 0
    format: str | None = None

    def schema(self) -> dict[str, Any]:
        """The column as it appears in a CRD."""
        out: dict[str, Any] = {}
        if self.description:
            out["description"] = self.description
        if self.format:
            out["format"] = self.format
        out["jsonPath"] = self.json_path
        out["name"] = self.name
        if self.priority:
            out["priority"] = self.priority
        out["type"] = self.type
        return out


AGE_COLUMN = PrinterColumn("Age", "date", ".metadata.creationTimestamp")
READY_COLUMN = PrinterColumn("Ready", "string", '.status.conditions[?(@.type=="Ready")].status')
STATUS_COLUMN = PrinterColumn("Status", "string", '.status.conditions[?(@.type=="Ready")].message')


class Resource(Model):
    """Base of every kind. Subclasses set the identity class attributes and declare `spec`
    (and `status` unless the kind has none)."""

    GROUP: ClassVar[str] = ""
    VERSION: ClassVar[str] = ""
    KIND: ClassVar[str] = ""
    PLURAL: ClassVar[str] = ""
    #: Every `apiVersion` the CRD serves with the same schema (the storage version first).
    SERVED_VERSIONS: ClassVar[tuple[str, ...]] = ()
    SHORT_NAMES: ClassVar[tuple[str, ...]] = ()
    CATEGORIES: ClassVar[tuple[str, ...]] = ()
    PRINTER_COLUMNS: ClassVar[tuple[PrinterColumn, ...]] = ()
    #: One-paragraph description of the kind (`kubectl explain <kind>`).
    DESCRIPTION: ClassVar[str] = ""
    #: The interval used when `spec.interval` is optional and left out (seconds).
    DEFAULT_INTERVAL: ClassVar[float | None] = None
    #: The timeout used when `spec.timeout` is left out (seconds).
    DEFAULT_TIMEOUT: ClassVar[float | None] = None
    #: Whether the kind has a status (and a status subresource).
    HAS_STATUS: ClassVar[bool] = True
    API_VERSION: ClassVar[str] = ""
    SINGULAR: ClassVar[str] = ""

    metadata: ObjectMeta = field(doc="Standard object metadata.", required=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.KIND:
            cls.API_VERSION = f"{cls.GROUP}/{cls.VERSION}"
            cls.SINGULAR = cls.KIND.lower()
            if not cls.SERVED_VERSIONS:
                cls.SERVED_VERSIONS = (cls.VERSION,)

    # --- (de)serialisation of whole objects ---------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Self:
        """Read a whole object (apiVersion, kind, metadata, spec, status)."""
        if data is not None and data.get("kind") not in (None, cls.KIND):
            raise ValueError(f"expected kind {cls.KIND}, got {data.get('kind')!r}")
        return super().from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The whole object as JSON, with apiVersion and kind first."""
        body = super().to_dict()
        status = body.get("status")
        if status == {}:
            del body["status"]
        return {"apiVersion": self.API_VERSION, "kind": self.KIND, **body}

    # --- identity -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """metadata.name."""
        return self.metadata.name

    @property
    def namespace(self) -> str:
        """metadata.namespace ('' when unset)."""
        return self.metadata.namespace or ""

    @property
    def key(self) -> str:
        """`<namespace>/<name>`."""
        return f"{self.namespace}/{self.name}"

    @property
    def generation(self) -> int:
        """metadata.generation (0 when unset)."""
        return self.metadata.generation or 0

    def object_reference(self) -> dict[str, str]:
        """The involved-object reference used in events and notifications."""
        ref = {"apiVersion": self.API_VERSION, "kind": self.KIND, "name": self.name}
        if self.namespace:
            ref["namespace"] = self.namespace
        if self.metadata.uid:
            ref["uid"] = self.metadata.uid
        return ref

    # --- everyday helpers ----------------------------------------------------------------------
    @property
    def suspended(self) -> bool:
        """Whether `spec.suspend` is true."""
        return getattr(getattr(self, "spec", None), "suspend", None) is True

    @property
    def interval(self) -> float | None:
        """`spec.interval` in seconds (the kind's default when optional and left out)."""
        raw = getattr(getattr(self, "spec", None), "interval", None)
        return parse_duration(raw) if raw else self.DEFAULT_INTERVAL

    @property
    def timeout(self) -> float | None:
        """`spec.timeout` in seconds (the kind's default when left out)."""
        raw = getattr(getattr(self, "spec", None), "timeout", None)
        return parse_duration(raw) if raw else self.DEFAULT_TIMEOUT

    @property
    def annotations(self) -> dict[str, str]:
        """metadata.annotations (empty when unset)."""
        return self.metadata.annotations or {}

    @property
    def requested_at(self) -> str | None:
        """The value of the `reconcile.fluxcd.io/requestedAt` annotation, if any."""
        return self.annotations.get(_meta.REQUESTED_AT_ANNOTATION)

    @property
    def reconcile_requested(self) -> bool:
        """Whether requestedAt is set and differs from `status.lastHandledReconcileAt`."""
        requested = self.requested_at
        if not requested:
            return False
        status = getattr(self, "status", None)
        return getattr(status, "last_handled_reconcile_at", None) != requested

    @property
    def deleting(self) -> bool:
        """Whether deletion has been requested (metadata.deletionTimestamp is set)."""
        return bool(self.metadata.deletion_timestamp)

    @property
    def has_finalizer(self) -> bool:
        """Whether Flux's finalizer is on the object."""
        return _meta.FINALIZER in (self.metadata.finalizers or ())

    @property
    def ready(self) -> bool:
        """Whether the Ready condition is True (False for kinds without status)."""
        status = getattr(self, "status", None)
        return isinstance(status, ReconcileStatus) and status.ready

    @classmethod
    def validations(cls) -> tuple[Rule, ...]:
        """The CEL rules on this kind's spec (for documentation and offline checks)."""
        spec_type = {f.name: f.type for f in model_fields(cls)}.get("spec")
        return getattr(spec_type, "VALIDATIONS", ())
