"""Server-side apply of object sets: staged, drift-aware, with a change set per run.

`ResourceManager` is the apply engine of the controllers that own objects in a cluster
(kustomize-controller; helm-controller can use the same): it talks to one cluster through a
`KubeClient` and a `RESTMapper`, under one field manager given by the caller.

Applying one object (`apply`, and each object of `apply_all`):

1. skip it (`skipped`) when the desired object or the object in the cluster matches
   `exclusion_selector` (e.g. `kustomize.toolkit.fluxcd.io/reconcile: disabled`,
   `.../ssa: Ignore`), or when it exists and the desired object matches
   `if_not_present_selector` (`.../ssa: IfNotPresent`: create only);
2. server-side dry-run apply it (forcing ownership). When that fails on an immutable field and
   the object is to be recreated (`force`, or `force_selector` matches either copy, e.g.
   `.../force: enabled`), delete it (background propagation), wait until it is gone and dry-run
   again; any other failure stops the run with `ApplyError`
   (`Kind/ns/name dry-run failed (Reason): message`);
3. clean up what other tools left on the object in the cluster, unless either copy matches
   `cleanup.exclusions` (`.../ssa: Merge`): remove the listed annotations and labels
   (kubectl's last-applied-configuration) and take over the managed fields of the listed field
   managers (`kubectl`, `before-first-apply`, ...) as our own, so that what they set and the
   manifest does not say is dropped by the next apply. `Merge` keeps those fields: the
   manifest's fields are still enforced, fields added by others are preserved;
4. compare the dry-run result with the object in the cluster (`has_drifted`: labels,
   annotations and everything but `metadata` and `status`, so managed fields,
   resourceVersion, generation and timestamps never count). No resourceVersion in the dry-run
   result means it does not exist: `created`; a difference (or a cleanup) means `configured`;
   otherwise `unchanged`, and nothing is written, so an unchanged object keeps its
   resourceVersion. A configured object whose differing fields another field manager wrote
   last has drifted: its change-set entry carries the explanation (`_driftexplain`: the
   paths, both values, the writers), `ChangeSet.drifts()` collects them;
5. apply for real (forcing ownership) when created or configured.

`apply_all` dry-runs every object of a set first (a few at a time) and applies only when all
dry-runs passed, in a stable order.

**Create-only applies.** When the caller knows that an object does not exist (`ApplyOptions.
known_absent`: kustomize-controller's drift watches are synced and do not hold it), the
engine sends no GET: its dry-run and its apply carry a `metadata.resourceVersion`
precondition (`CREATE_ONLY_RV`) that no existing object of the kind can match. The API
server creates the object (201, the apply's managed fields exactly as without the
precondition: resourceVersion is never a managed field), or, when it exists after all
(created by someone else since the watch last spoke, or not labelled so the watch never saw
it), refuses with 409 Conflict and writes nothing; the engine then takes the full path for
that object (steps 1-5), so the per-object policies, cleanup, immutable fields and drift
are decided as always. The dry-runs still all pass before anything is applied, so a set
stays all or nothing: an invalid new object fails its dry-run (any refusal but 409 is
retried on the full path, for the message an apply without the hint would give) before
any object of the set is written. The first object of a set (in apply order) is not
dry-run when known absent: it is created after every other dry-run passed and before any
other write, so its apply is its own check (refused, it takes the full path, whose
dry-run failure stops the set with nothing written); N new objects cost 2N - 1 requests.

`apply_all_staged` splits a set into stages that must be
in place before the next starts (`apply_stages`): CustomResourceDefinitions and Namespaces,
which it waits for (CRDs Established, and their kinds listed by discovery) before going on;
the other cluster-scoped objects; the objects of the kinds `custom_stage_kinds` names
(Flux's `--custom-apply-stage-kinds`: applied, not waited for, as Flux); the namespaced
objects. A failure anywhere raises `ApplyError` naming the object and the cause,
with the `ChangeSet` of what was applied (or found unchanged) before it.

`diff` tells what applying one object would do without writing anything (for a `diff`
command). `delete_all` deletes with background propagation, skipping objects that match
`exclusions` (`.../prune: disabled`) or that a `blocker` callback refuses (not labelled as
ours); `wait_for` polls objects until kstatus calls them Current, or reports which are not and
why when its deadline passes; `wait_for_termination` waits until objects are gone.

The pure parts (change-set entries and messages, selectors, normalisation for comparison,
managed-field take-over, stages and order) are module functions, tested without a cluster.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import enum
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ._discovery import RESTMapper, UnknownKindError, split_api_version
from ._driftexplain import ObjectDrift, explain
from ._kstatus import HealthResult, HealthStatus, compute
from ._kube import ApiError, KubeClient
from ._object import ObjectRef, Resource

__all__ = [
    "Action",
    "ApplyError",
    "ApplyOptions",
    "ChangeSet",
    "CREATE_ONLY_RV",
    "ChangeSetEntry",
    "Cleanup",
    "DeleteOptions",
    "FieldManager",
    "ObjectHealth",
    "ObjectKey",
    "ResourceManager",
    "WaitError",
    "apply_order",
    "apply_stages",
    "cleanup_patch",
    "comparable",
    "has_drifted",
    "is_immutable_error",
    "matches_any",
    "overridden_managers",
    "parse_group_kinds",
    "subject_of",
    "take_over_managed_fields",
]

CRD_KIND = "CustomResourceDefinition"
CRD_GROUP = "apiextensions.k8s.io"
NAMESPACE_KIND = "Namespace"
BACKGROUND = "Background"
#: The resourceVersion precondition of a create-only apply (module docstring). The generic
#: registry ignores it on a create and compares it on an update; "1" is the etcd revision of
#: the store's very first write, never that of an object an apply manages.
CREATE_ONLY_RV = "1"
#: Whether an object is known not to exist (key, desired body): a create-only apply.
AbsenceHint = Callable[["ObjectKey", Mapping[str, Any]], bool]
#: Custom health rules: a result for the objects it knows, None for the others (kstatus).
HealthReader = Callable[[Mapping[str, Any]], HealthResult | None]


# --- change sets -------------------------------------------------------------------------------


class Action(enum.StrEnum):
    """What the engine did with an object."""

    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    SKIPPED = "skipped"


@dataclasses.dataclass(frozen=True, order=True)
class ObjectKey:
    """An object's identity as the engine addresses it: apiVersion, kind, namespace, name."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectKey:
        meta = obj.get("metadata") or {}
        return cls(str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""),
                   str(meta.get("namespace") or ""), str(meta.get("name") or ""))

    @property
    def group(self) -> str:
        return split_api_version(self.api_version)[0]

    @property
    def subject(self) -> str:
        """`Kind/namespace/name`, or `Kind/name` when cluster-scoped (Flux's format)."""
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"

    def __str__(self) -> str:
        return self.subject


def subject_of(obj: Mapping[str, Any]) -> str:
    """`Kind/namespace/name` of an object body (`Kind/name` when it has no namespace)."""
    return ObjectKey.of(obj).subject


@dataclasses.dataclass(frozen=True)
class ChangeSetEntry:
    """One object and what was done with it; prints as `Kind/ns/name action`."""

    key: ObjectKey
    action: Action
    #: what differed in the cluster, for a configured object that had drifted
    drift: ObjectDrift | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def subject(self) -> str:
        return self.key.subject

    @property
    def changed(self) -> bool:
        """Created, configured or deleted: the cluster changed."""
        return self.action in (Action.CREATED, Action.CONFIGURED, Action.DELETED)

    def __str__(self) -> str:
        return f"{self.subject} {self.action}"


class ChangeSet:
    """What a run did, in order; `str()` is Flux's event message (one entry per line)."""

    def __init__(self, entries: Iterable[ChangeSetEntry] = ()) -> None:
        self.entries: list[ChangeSetEntry] = list(entries)

    def add(self, entry: ChangeSetEntry) -> None:
        self.entries.append(entry)

    def extend(self, entries: Iterable[ChangeSetEntry]) -> None:
        self.entries.extend(entries)

    def changed(self) -> ChangeSet:
        """Only the entries that changed the cluster."""
        return ChangeSet(e for e in self.entries if e.changed)

    def with_action(self, *actions: Action) -> ChangeSet:
        return ChangeSet(e for e in self.entries if e.action in actions)

    def keys(self) -> list[ObjectKey]:
        return [e.key for e in self.entries]

    def drifts(self) -> list[ObjectDrift]:
        """The explained drift of the entries that had drifted, in order."""
        return [e.drift for e in self.entries if e.drift is not None]

    def to_map(self) -> dict[str, str]:
        return {e.subject: str(e.action) for e in self.entries}

    def __iter__(self) -> Iterator[ChangeSetEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.entries)

    def __repr__(self) -> str:
        return f"ChangeSet({self.to_map()!r})"


# --- errors ----------------------------------------------------------------------------------------


class ApplyError(Exception):
    """An apply stopped at `subject`; `change_set` holds what was done before it."""

    def __init__(self, subject: str, message: str, change_set: ChangeSet | None = None,
                 *, status: int | None = None) -> None:
        super().__init__(f"{subject} {message}" if subject else message)
        self.subject = subject
        self.message = str(self)
        self.change_set = change_set if change_set is not None else ChangeSet()
        self.status = status
        #: The objects whose deletion failed (set by `delete_all`).
        self.failed: list[ObjectKey] = []

    @property
    def forbidden(self) -> bool:
        return self.status == 403


@dataclasses.dataclass(frozen=True)
class ObjectHealth:
    """One object's health as the waiter saw it last."""

    key: ObjectKey
    status: HealthStatus
    message: str = ""

    def __str__(self) -> str:
        text = f"{self.key.subject} status: '{self.status}'"
        return f"{text}: {self.message}" if self.message else text


class WaitError(Exception):
    """Objects did not become Current in time (or failed, with fail-fast)."""

    def __init__(self, pending: Sequence[ObjectHealth], *, timed_out: bool = True) -> None:
        self.pending = list(pending)
        self.timed_out = timed_out
        what = "timeout waiting for" if timed_out else "failed early due to failed objects"
        super().__init__(f"{what}: [{', '.join(str(p) for p in self.pending)}]")


_IMMUTABLE = re.compile(
    r"field is immutable|is immutable|immutable field|cannot change|may not change|"
    r"may not be changed|cannot be changed|are forbidden", re.IGNORECASE)


def is_immutable_error(err: ApiError) -> bool:
    """The server refused a change of a field that cannot change (422 Invalid)."""
    return err.status == 422 and bool(_IMMUTABLE.search(err.message or str(err)))


def _server_message(err: ApiError) -> str:
    return f"({err.reason}): {err.message}" if err.reason else err.message


# --- selectors and options -------------------------------------------------------------------------


def matches_any(obj: Mapping[str, Any] | None, selector: Mapping[str, str]) -> bool:
    """Whether a label or annotation of `obj` has a key of `selector` with its value
    (values compared without case: `disabled`, `Disabled` and `DISABLED` all match)."""
    if obj is None or not selector:
        return False
    meta = obj.get("metadata") or {}
    for where in (meta.get("labels") or {}, meta.get("annotations") or {}):
        for key, wanted in selector.items():
            value = where.get(key)
            if value is not None and str(value).lower() == wanted.lower():
                return True
    return False


@dataclasses.dataclass(frozen=True)
class FieldManager:
    """A field manager whose fields the engine takes over: name prefix and operation."""

    name: str
    operation: str = "Update"  # or "Apply"


def overridden_managers(names: Iterable[str]) -> tuple[FieldManager, ...]:
    """The field managers Flux's `--override-manager` names, taken over whether they wrote
    with server-side apply or with an update (create, patch, edit, scale)."""
    return tuple(FieldManager(name, op) for name in names if name
                 for op in ("Apply", "Update"))


@dataclasses.dataclass(frozen=True)
class Cleanup:
    """What to remove from objects in the cluster before applying (module docstring, step 3)."""

    annotations: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    field_managers: tuple[FieldManager, ...] = ()
    exclusions: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ApplyOptions:
    """How to apply a set (module docstring)."""

    force: bool = False
    force_selector: Mapping[str, str] = dataclasses.field(default_factory=dict)
    exclusion_selector: Mapping[str, str] = dataclasses.field(default_factory=dict)
    if_not_present_selector: Mapping[str, str] = dataclasses.field(default_factory=dict)
    cleanup: Cleanup = Cleanup()
    wait_interval: float = 2.0
    wait_timeout: float = 60.0
    concurrency: int = 4
    #: (group, kind) pairs applied in a stage of their own, after the cluster-scoped objects
    #: and before the namespaced ones (Flux's `--custom-apply-stage-kinds`), not waited for
    custom_stage_kinds: frozenset[tuple[str, str]] = frozenset()
    #: objects known not to exist are applied create-only (module docstring); None: never
    known_absent: AbsenceHint | None = None


@dataclasses.dataclass(frozen=True)
class DeleteOptions:
    """How to delete: propagation, and which objects to leave alone (and why)."""

    propagation_policy: str = BACKGROUND
    exclusions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    blocker: Callable[[Mapping[str, Any]], str | None] | None = None


# --- normalisation and managed fields (pure) -------------------------------------------------------


def comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What drift is judged on: labels, annotations and every field but `metadata` and
    `status` (so managed fields, resourceVersion, generation, uid and timestamps never count;
    no labels and empty labels are the same)."""
    meta = obj.get("metadata") or {}
    out = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    out["metadata"] = {"labels": dict(meta.get("labels") or {}),
                       "annotations": dict(meta.get("annotations") or {})}
    return out


def has_drifted(live: Mapping[str, Any] | None, dry_run: Mapping[str, Any]) -> bool:
    """Whether applying would change `live` (the dry-run result says what it would become).
    A dry-run result without resourceVersion is an object that does not exist yet."""
    if live is None or not (dry_run.get("metadata") or {}).get("resourceVersion"):
        return True
    return comparable(live) != comparable(dry_run)


def _merge_fields(a: Any, b: Any) -> Any:
    """Union of two `fieldsV1` trees."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return copy.deepcopy(b if b is not None else a)
    merged = copy.deepcopy(a)
    for key, value in b.items():
        merged[key] = _merge_fields(merged[key], value) if key in merged else copy.deepcopy(value)
    return merged


def _takes_over(entry: Mapping[str, Any], managers: Sequence[FieldManager]) -> bool:
    if entry.get("subresource"):
        return False
    name = str(entry.get("manager") or "")
    return any(name.startswith(m.name) and entry.get("operation") == m.operation
               for m in managers)


def take_over_managed_fields(
    entries: Sequence[Mapping[str, Any]], managers: Sequence[FieldManager], owner: str
) -> list[dict[str, Any]] | None:
    """`metadata.managedFields` with the entries of `managers` merged into `owner`'s apply
    entry (their fields become ours, so the next apply can drop what the manifest does not
    say), or None when no entry is taken over."""
    taken = [dict(e) for e in entries if _takes_over(e, managers)]
    if not taken:
        return None
    ours = [dict(e) for e in entries if not _takes_over(e, managers)
            and e.get("manager") == owner and e.get("operation") == "Apply"
            and not e.get("subresource")]
    base = ours[0] if ours else {**taken[0], "manager": owner, "operation": "Apply"}
    fields = base.get("fieldsV1") or {}
    for entry in [*ours[1:], *taken]:
        fields = _merge_fields(fields, entry.get("fieldsV1") or {})
    merged = {**base, "manager": owner, "operation": "Apply", "fieldsType": "FieldsV1",
              "fieldsV1": fields}
    result: list[dict[str, Any]] = []
    placed = False
    for entry in entries:
        if _takes_over(entry, managers) or (
                entry.get("manager") == owner and entry.get("operation") == "Apply"
                and not entry.get("subresource")):
            if not placed:
                result.append(merged)
                placed = True
            continue
        result.append(dict(entry))
    return result


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def cleanup_patch(live: Mapping[str, Any], cleanup: Cleanup, owner: str) -> list[dict[str, Any]]:
    """The JSON patch (RFC 6902) that does `cleanup` on `live` ([] when there is nothing to do)."""
    meta = live.get("metadata") or {}
    ops: list[dict[str, Any]] = []
    annotations = meta.get("annotations") or {}
    for key in cleanup.annotations:
        if key in annotations:
            ops.append({"op": "remove", "path": f"/metadata/annotations/{_pointer(key)}"})
    labels = meta.get("labels") or {}
    for key in cleanup.labels:
        if key in labels:
            ops.append({"op": "remove", "path": f"/metadata/labels/{_pointer(key)}"})
    if cleanup.field_managers:
        managed = take_over_managed_fields(meta.get("managedFields") or [],
                                           cleanup.field_managers, owner)
        if managed is not None:
            ops.append({"op": "replace", "path": "/metadata/managedFields", "value": managed})
    return ops


# --- stages and order (pure) ---------------------------------------------------------------------

#: Kinds applied before the others of their stage, in this order (what kustomize and Helm
#: customarily do: what others refer to comes first); webhook configurations come last.
_FIRST_KINDS = (
    "CustomResourceDefinition", "Namespace", "ResourceQuota", "StorageClass", "LimitRange",
    "PriorityClass", "RuntimeClass", "IngressClass", "PodDisruptionBudget", "ServiceAccount",
    "Secret", "ConfigMap", "PersistentVolume", "PersistentVolumeClaim", "ClusterRole",
    "ClusterRoleBinding", "Role", "RoleBinding", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
    "StatefulSet", "Job", "CronJob", "Ingress", "APIService",
)
_LAST_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
_RANK = {kind: i for i, kind in enumerate(_FIRST_KINDS)}
_RANK.update({kind: 1000 + i for i, kind in enumerate(_LAST_KINDS)})

Scope = Callable[[ObjectKey], bool | None]  # namespaced? None: unknown yet


def is_cluster_definition(key: ObjectKey) -> bool:
    """CRDs and Namespaces: what the rest of a set may need to exist first."""
    return (key.kind == CRD_KIND and key.group == CRD_GROUP) or (
        key.kind == NAMESPACE_KIND and key.group == "")


def served_kinds(crd: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (apiVersion, kind) pairs a CustomResourceDefinition serves, from its spec."""
    spec = crd.get("spec") or {}
    group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
    if not group or not kind:
        return []
    return [(f"{group}/{v['name']}", str(kind)) for v in spec.get("versions") or []
            if v.get("name") and v.get("served", True)]


def parse_group_kinds(text: str) -> frozenset[tuple[str, str]]:
    """Flux's `--custom-apply-stage-kinds` format: comma-separated `group/Kind`, a bare
    `Kind` being of the core group (`rbac.authorization.k8s.io/Role,Secret`); ValueError
    naming an item without a kind."""
    pairs = set()
    for item in text.split(",") if text.strip() else ():
        group, _, kind = item.strip().rpartition("/")
        if not kind or "/" in group:
            raise ValueError(f"invalid group/kind {item.strip()!r}: write group/Kind, e.g. "
                             "gateway.networking.k8s.io/Gateway (a bare Kind is of the core "
                             "group)")
        pairs.add((group, kind))
    return frozenset(pairs)


_CUSTOM_STAGE = 2


def _stage(key: ObjectKey, namespaced: Scope | None,
           custom: frozenset[tuple[str, str]] = frozenset()) -> int:
    if is_cluster_definition(key):
        return 0
    if (key.group, key.kind) in custom and not key.kind.endswith("Class"):  # Flux: classes win
        return _CUSTOM_STAGE
    if key.namespace:
        return 3
    scope = namespaced(key) if namespaced is not None else None
    return 1 if scope is False else 3


def _order(key: ObjectKey) -> tuple[int, str, str, str, str]:
    return (_RANK.get(key.kind, len(_FIRST_KINDS)), key.kind, key.group, key.namespace, key.name)


def apply_order(objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Objects in their apply order within a stage (kind rank, kind, group, namespace, name)."""
    return [dict(o) for o in sorted(objects, key=lambda o: _order(ObjectKey.of(o)))]


def apply_stages(objects: Iterable[Mapping[str, Any]], namespaced: Scope | None = None,
                 custom: frozenset[tuple[str, str]] = frozenset()
                 ) -> list[list[dict[str, Any]]]:
    """The apply stages of a set: [CRDs and Namespaces], [other cluster-scoped objects],
    [the `custom` (group, kind) objects], [namespaced objects]; empty stages left out. An
    object without a namespace whose scope `namespaced` cannot tell (a custom kind whose CRD
    is in the same set) goes last."""
    return [stage for _, stage in _numbered_stages(objects, namespaced, custom)]


def _numbered_stages(objects: Iterable[Mapping[str, Any]], namespaced: Scope | None,
                     custom: frozenset[tuple[str, str]]) -> list[tuple[int, list[dict[str, Any]]]]:
    stages: dict[int, list[Mapping[str, Any]]] = {}
    for obj in objects:
        stages.setdefault(_stage(ObjectKey.of(obj), namespaced, custom), []).append(obj)
    return [(i, apply_order(stages[i])) for i in sorted(stages)]


# --- the engine ------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Plan:
    key: ObjectKey
    ref: ObjectRef | None
    body: dict[str, Any]
    action: Action
    write: bool
    drift: ObjectDrift | None = None
    #: the object was known absent: one create-only apply, the full path if it exists
    create_only: bool = False
    source: Mapping[str, Any] | None = None
    #: False: a create-only object not dry-run, its apply being its own check (`apply_all`)
    checked: bool = True


def _create_only_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """`body` with the create-only precondition (`CREATE_ONLY_RV`) in its metadata."""
    return {**body, "metadata": {**(body.get("metadata") or {}),
                                 "resourceVersion": CREATE_ONLY_RV}}


def _default_sleep(seconds: float) -> Awaitable[None]:
    return asyncio.sleep(seconds)


class ResourceManager:
    """Applies, deletes and waits for objects in one cluster (module docstring)."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        field_manager: str,
        mapper: RESTMapper | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = _default_sleep,
    ) -> None:
        self.kube = kube
        self.field_manager = field_manager
        self.mapper = mapper if mapper is not None else RESTMapper(kube)
        self._clock = clock
        self._sleep = sleep

    # --- addressing ------------------------------------------------------------------------

    async def resource(self, key: ObjectKey) -> Resource:
        return await self.mapper.resource_for(key.api_version, key.kind)

    async def ref_of(self, key: ObjectKey) -> ObjectRef:
        """The REST address of an object (UnknownKindError for a kind the server lacks)."""
        resource = await self.resource(key)
        return ObjectRef(resource, key.namespace or None if resource.namespaced else None,
                         key.name)

    async def get(self, key: ObjectKey) -> dict[str, Any] | None:
        """The object as it is in the cluster (None: absent, or its kind is not served)."""
        try:
            ref = await self.ref_of(key)
        except UnknownKindError:
            return None
        return await self.kube.get(ref)

    async def _scope(self, key: ObjectKey) -> bool | None:
        try:
            return (await self.resource(key)).namespaced
        except UnknownKindError:
            return None
        except ApiError:
            return None

    # --- apply -----------------------------------------------------------------------------

    async def _address(self, obj: Mapping[str, Any]) -> tuple[ObjectKey, ObjectRef, dict[str, Any]]:
        key = ObjectKey.of(obj)
        if not key.api_version or not key.kind or not key.name:
            raise ApplyError(key.subject, "is not a Kubernetes object: apiVersion, kind and "
                             "metadata.name are required")
        try:
            resource = await self.resource(key)
        except UnknownKindError as err:
            raise ApplyError(key.subject, f"dry-run failed: {err}") from None
        except ApiError as err:
            raise ApplyError(key.subject, f"discovery failed {_server_message(err)}",
                             status=err.status) from None
        body = copy.deepcopy(dict(obj))
        if resource.namespaced:
            if not key.namespace:
                raise ApplyError(key.subject, "namespace not specified: the kind is "
                                 "namespaced and the object names no namespace")
        elif key.namespace:  # cluster-scoped: a namespace in the manifest means nothing
            body["metadata"] = {k: v for k, v in body["metadata"].items() if k != "namespace"}
            key = dataclasses.replace(key, namespace="")
        ref = ObjectRef(resource, key.namespace or None, key.name)
        return key, ref, body

    async def _dry_run(self, ref: ObjectRef, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.kube.patch(ref, dict(body), patch_type="apply",
                                     field_manager=self.field_manager, force=True, dry_run=True)

    async def _plan(self, obj: Mapping[str, Any], opts: ApplyOptions, *,
                    check: bool = True) -> _Plan:
        key, ref, body = await self._address(obj)
        hint = opts.known_absent
        if hint is not None and not matches_any(body, opts.exclusion_selector) and hint(key, body):
            if not check:
                return _Plan(key, ref, body, Action.CREATED, True, create_only=True,
                             source=obj, checked=False)
            try:
                await self._dry_run(ref, _create_only_body(body))
            except ApiError:
                pass  # it exists (409) or it is refused: the full path decides and says why
            else:
                return _Plan(key, ref, body, Action.CREATED, True, create_only=True, source=obj)
        try:
            live = await self.kube.get(ref)
        except ApiError as err:
            raise ApplyError(key.subject, f"get failed {_server_message(err)}",
                             status=err.status) from None
        if matches_any(body, opts.exclusion_selector) or matches_any(live, opts.exclusion_selector):
            return _Plan(key, ref, body, Action.SKIPPED, False)
        if live is not None and matches_any(body, opts.if_not_present_selector):
            return _Plan(key, ref, body, Action.SKIPPED, False)
        try:
            dry = await self._dry_run(ref, body)
        except ApiError as err:
            recreate = (live is not None and is_immutable_error(err) and (
                opts.force or matches_any(body, opts.force_selector)
                or matches_any(live, opts.force_selector)))
            if not recreate:
                raise ApplyError(key.subject, f"dry-run failed {_server_message(err)}",
                                 status=err.status) from None
            await self._recreate_delete(key, ref, opts)
            live = None
            try:
                dry = await self._dry_run(ref, body)
            except ApiError as err2:
                raise ApplyError(key.subject, f"dry-run failed {_server_message(err2)}",
                                 status=err2.status) from None
        patched = False
        cleanup = opts.cleanup
        if live is not None and not matches_any(body, cleanup.exclusions) and not matches_any(
                live, cleanup.exclusions):
            ops = cleanup_patch(live, cleanup, self.field_manager)
            if ops:
                try:
                    await self.kube.patch(ref, ops, patch_type="json",
                                          field_manager=self.field_manager)
                except ApiError as err:
                    raise ApplyError(key.subject, "metadata.managedFields cleanup failed "
                                     f"{_server_message(err)}", status=err.status) from None
                patched = True
        if live is None or not (dry.get("metadata") or {}).get("resourceVersion"):
            return _Plan(key, ref, body, Action.CREATED, True)
        if has_drifted(live, dry):
            drift = explain(live, dry, subject=key.subject)
            return _Plan(key, ref, body, Action.CONFIGURED, True,
                         drift if drift.by_others(self.field_manager) else None)
        if patched:
            return _Plan(key, ref, body, Action.CONFIGURED, True)
        return _Plan(key, ref, body, Action.UNCHANGED, False)

    async def _recreate_delete(self, key: ObjectKey, ref: ObjectRef, opts: ApplyOptions) -> None:
        try:
            await self.kube.delete(ref, propagation_policy=BACKGROUND)
        except ApiError as err:
            raise ApplyError(key.subject, "immutable field detected, failed to delete object "
                             f"{_server_message(err)}", status=err.status) from None
        deadline = self._clock() + opts.wait_timeout
        while await self.kube.get(ref) is not None:
            if self._clock() >= deadline:
                raise ApplyError(key.subject, "immutable field detected, the object was "
                                 f"deleted but is still there after {opts.wait_timeout:g}s")
            await self._sleep(min(opts.wait_interval, 0.5))

    async def _try_create(self, plan: _Plan, opts: ApplyOptions) -> tuple[bool, _Plan]:
        """Create an object known absent with the create-only precondition: (True, plan)
        when created; otherwise (False, the full path's plan, not yet written): it exists
        (409), or the create was refused (invalid, forbidden, a server error), and the full
        path decides, so the outcome and the message are those of an apply without the hint
        (a server that is away fails its GET; a dry-run failure raises ApplyError)."""
        assert plan.ref is not None and plan.source is not None
        try:
            await self.kube.patch(plan.ref, _create_only_body(plan.body), patch_type="apply",
                                  field_manager=self.field_manager, force=True)
            return True, plan
        except ApiError:
            pass
        return False, await self._plan(plan.source, dataclasses.replace(opts, known_absent=None))

    async def _create_only(self, plan: _Plan, opts: ApplyOptions) -> _Plan:
        """Apply an object known absent (its create-only dry-run passed); when it exists
        after all (made since the dry-run), the full path decides and writes."""
        created, full = await self._try_create(plan, opts)
        if not created and full.write:
            await self._commit(full)
        return full

    async def _commit(self, plan: _Plan) -> None:
        assert plan.ref is not None
        try:
            await self.kube.patch(plan.ref, plan.body, patch_type="apply",
                                  field_manager=self.field_manager, force=True)
        except ApiError as err:
            raise ApplyError(plan.key.subject, f"apply failed {_server_message(err)}",
                             status=err.status) from None

    async def take_over(self, obj: Mapping[str, Any],
                        managers: Sequence[FieldManager]) -> bool:
        """Make the fields the `managers` own on `obj`'s copy in the cluster ours (a JSON
        patch of its managed fields), so that the next apply of `obj` drops those the
        manifest does not set; False when it does not exist or nothing was theirs."""
        if not managers:
            return False
        key, ref, _ = await self._address(obj)
        try:
            live = await self.kube.get(ref)
            ops = [] if live is None else cleanup_patch(
                live, Cleanup(field_managers=tuple(managers)), self.field_manager)
            if ops:
                await self.kube.patch(ref, ops, patch_type="json",
                                      field_manager=self.field_manager)
        except ApiError as err:
            raise ApplyError(key.subject, "metadata.managedFields take-over failed "
                             f"{_server_message(err)}", status=err.status) from None
        return bool(ops)

    async def diff(self, obj: Mapping[str, Any], opts: ApplyOptions | None = None, *,
                   keep_managed_fields: bool = False
                   ) -> tuple[ChangeSetEntry, dict[str, Any] | None, dict[str, Any] | None]:
        """What applying `obj` would do, writing nothing: the entry (created, configured,
        unchanged or skipped), the object in the cluster and the dry-run result (both without
        managed fields, unless `keep_managed_fields` keeps the cluster's; None when absent
        or skipped). A `diff` command shows the two; take
        care to mask Secret data before printing. Immutable-field errors are not recreated:
        they raise ApplyError like any dry-run failure."""
        opts = opts or ApplyOptions()
        key, ref, body = await self._address(obj)
        try:
            live = await self.kube.get(ref)
        except ApiError as err:
            raise ApplyError(key.subject, f"get failed {_server_message(err)}",
                             status=err.status) from None
        skip = matches_any(body, opts.exclusion_selector) or matches_any(
            live, opts.exclusion_selector) or (
            live is not None and matches_any(body, opts.if_not_present_selector))
        if skip:
            return ChangeSetEntry(key, Action.SKIPPED), None, None
        try:
            dry = await self._dry_run(ref, body)
        except ApiError as err:
            raise ApplyError(key.subject, f"dry-run failed {_server_message(err)}",
                             status=err.status) from None
        for copy_ in (dry,) if keep_managed_fields else (live, dry):
            if copy_ is not None:
                (copy_.get("metadata") or {}).pop("managedFields", None)
        if live is None:
            return ChangeSetEntry(key, Action.CREATED), None, dry
        action = Action.CONFIGURED if has_drifted(live, dry) else Action.UNCHANGED
        return ChangeSetEntry(key, action), live, dry

    async def apply(self, obj: Mapping[str, Any], opts: ApplyOptions | None = None
                    ) -> ChangeSetEntry:
        """Apply one object (module docstring); ApplyError on failure."""
        opts = opts or ApplyOptions()
        plan = await self._plan(obj, opts)
        if plan.create_only:
            plan = await self._create_only(plan, opts)
        elif plan.write:
            await self._commit(plan)
        return ChangeSetEntry(plan.key, plan.action, plan.drift)

    async def apply_all(self, objects: Iterable[Mapping[str, Any]],
                        opts: ApplyOptions | None = None) -> ChangeSet:
        """Dry-run every object, then apply those that are new or drifted, in order.

        The first object in apply order, when known absent, is not dry-run: it is created
        first, after every other dry-run passed and before anything else is written, so its
        apply is its own check (a refusal takes the full path, whose dry-run failure stops
        the set with nothing written, as the dry-run would have), and the set stays all or
        nothing with one request less. When another object fails its dry-run, the first
        one is checked then, so the failure reported is still the first in apply order.

        ApplyError carries the entries of this call done before the failure."""
        opts = opts or ApplyOptions()
        ordered = apply_order(objects)
        limit = asyncio.Semaphore(max(1, opts.concurrency))

        async def plan(obj: Mapping[str, Any], check: bool) -> _Plan:
            async with limit:
                return await self._plan(obj, opts, check=check)

        results = await asyncio.gather(*(plan(o, i > 0) for i, o in enumerate(ordered)),
                                       return_exceptions=True)
        plans: list[_Plan] = []
        for result in results:
            if isinstance(result, BaseException):
                if plans and not plans[0].checked:
                    await self._plan(ordered[0], opts)  # fails first, if it fails
                raise result  # the first failure in apply order; nothing was applied
            plans.append(result)
        done = ChangeSet(ChangeSetEntry(p.key, p.action) for p in plans if not p.write)
        for plan_ in plans:
            if not plan_.write:
                continue
            if not plan_.checked:  # the first: nothing is written yet, so a failure of the
                # full path it may take is a dry-run's, with nothing in the change set
                created, plan_ = await self._try_create(plan_, opts)
                if created or not plan_.write:
                    done.add(ChangeSetEntry(plan_.key, plan_.action))
                    continue
            try:
                if plan_.create_only:
                    plan_ = await self._create_only(plan_, opts)
                    if not plan_.write:
                        done.add(ChangeSetEntry(plan_.key, plan_.action))
                        continue
                else:
                    await self._commit(plan_)
            except ApplyError as err:
                err.change_set = done
                raise
            done.add(ChangeSetEntry(plan_.key, plan_.action, plan_.drift))
        order = {p.key: i for i, p in enumerate(plans)}
        done.entries.sort(key=lambda e: order[e.key])
        return done

    async def apply_all_staged(self, objects: Iterable[Mapping[str, Any]],
                               opts: ApplyOptions | None = None) -> ChangeSet:
        """Apply a set in stages (module docstring): CRDs and Namespaces first, waited for;
        then the other cluster-scoped objects; then the namespaced ones."""
        opts = opts or ApplyOptions()
        objects = list(objects)
        scopes: dict[ObjectKey, bool | None] = {}
        for obj in objects:
            key = ObjectKey.of(obj)
            if not key.namespace and not is_cluster_definition(key):
                scopes[key] = await self._scope(key)
        result = ChangeSet()
        for _, stage in _numbered_stages(objects, scopes.get, opts.custom_stage_kinds):
            try:
                change_set = await self.apply_all(stage, opts)
            except ApplyError as err:
                err.change_set = ChangeSet([*result, *err.change_set])
                raise
            result.extend(change_set)
            definitions = [e.key for e in change_set
                           if is_cluster_definition(e.key) and e.action is not Action.SKIPPED]
            if definitions:
                try:
                    await self.wait_for(definitions, interval=opts.wait_interval,
                                        timeout=opts.wait_timeout)
                    crds = [o for o in stage if ObjectKey.of(o) in definitions
                            and ObjectKey.of(o).kind == CRD_KIND]
                    await self.wait_served(crds, interval=opts.wait_interval,
                                           timeout=opts.wait_timeout)
                except WaitError as err:
                    raise ApplyError("", str(err), result) from None
        return result

    async def wait_served(self, crds: Iterable[Mapping[str, Any]], *,
                          interval: float = 2.0, timeout: float = 60.0) -> None:
        """Poll discovery until it serves every kind of these CRDs. Established comes a
        moment before discovery lists a new group; the custom resources of the same set
        could not be addressed in between."""
        pending = [(ObjectKey.of(crd), *pair) for crd in crds for pair in served_kinds(crd)]
        deadline = self._clock() + timeout
        step = min(interval, 0.25)
        while True:
            still = []
            for crd_key, api_version, kind in pending:
                try:
                    await self.mapper.resource_for(api_version, kind)
                except UnknownKindError:
                    still.append((crd_key, api_version, kind))
            pending = still
            if not pending:
                return
            if self._clock() >= deadline:
                raise WaitError([ObjectHealth(key, HealthStatus.UNKNOWN,
                                              f"{k} in {a} is not served by discovery yet")
                                 for key, a, k in pending])
            await self._sleep(max(0.0, min(step, deadline - self._clock())))

    # --- delete ----------------------------------------------------------------------------

    async def delete(self, item: ObjectKey | Mapping[str, Any],
                     opts: DeleteOptions | None = None) -> ChangeSetEntry | None:
        """Delete one object; None when it is already gone (or its kind no longer exists),
        a `skipped` entry when the options leave it alone. ApplyError on failure."""
        opts = opts or DeleteOptions()
        key = item if isinstance(item, ObjectKey) else ObjectKey.of(item)
        try:
            ref = await self.ref_of(key)
        except UnknownKindError:
            return None
        try:
            live = await self.kube.get(ref)
        except ApiError as err:
            raise ApplyError(key.subject, f"get failed {_server_message(err)}",
                             status=err.status) from None
        if live is None:
            return None
        if matches_any(live, opts.exclusions) or (
                opts.blocker is not None and opts.blocker(live) is not None):
            return ChangeSetEntry(key, Action.SKIPPED)
        try:
            await self.kube.delete(ref, propagation_policy=opts.propagation_policy)
        except ApiError as err:
            raise ApplyError(key.subject, f"delete failed {_server_message(err)}",
                             status=err.status) from None
        return ChangeSetEntry(key, Action.DELETED)

    async def delete_all(self, items: Iterable[ObjectKey | Mapping[str, Any]],
                         opts: DeleteOptions | None = None) -> ChangeSet:
        """Delete objects in the reverse of their apply order; failures are collected and
        raised together after every object was tried (ApplyError with the change set)."""
        keys = list(dict.fromkeys(
            i if isinstance(i, ObjectKey) else ObjectKey.of(i) for i in items))
        scopes = {k: await self._scope(k) for k in keys
                  if not k.namespace and not is_cluster_definition(k)}
        ordered = sorted(keys, key=lambda k: (_stage(k, scopes.get), _order(k)), reverse=True)
        result = ChangeSet()
        errors: list[str] = []
        failed: list[ObjectKey] = []
        status: int | None = None
        for key in ordered:
            try:
                entry = await self.delete(key, opts)
            except ApplyError as err:
                errors.append(str(err))
                failed.append(key)
                status = status or err.status
                continue
            if entry is not None:
                result.add(entry)
        if errors:
            error = ApplyError("", "; ".join(errors), result, status=status)
            error.failed = failed
            raise error
        return result

    # --- wait ------------------------------------------------------------------------------

    async def health(self, key: ObjectKey, reader: HealthReader | None = None) -> ObjectHealth:
        """kstatus of one object now (NotFound when absent or its kind is not served); a
        `reader` that returns a result for the object (custom rules, e.g. CEL) wins."""
        try:
            ref = await self.ref_of(key)
        except UnknownKindError as err:
            return ObjectHealth(key, HealthStatus.NOT_FOUND, str(err))
        obj = await self.kube.get(ref)
        result = reader(obj) if reader is not None and obj is not None else None
        if result is None:
            result = compute(obj, now=datetime.now(UTC))
        return ObjectHealth(key, result.status, result.message)

    async def wait_for(self, items: Iterable[ObjectKey | Mapping[str, Any]], *,
                       interval: float = 2.0, timeout: float = 60.0,
                       fail_fast: bool = False,
                       reader: HealthReader | None = None) -> list[ObjectHealth]:
        """Poll until every object is Current; WaitError lists the others (with kstatus'
        status and message) when `timeout` passes, or, without waiting for it (as Flux's
        ssa wait): at the first Failed object with `fail_fast`, and in any case as soon as
        every object that is not Current is Failed (a Failed object does not recover
        without a change, so waiting longer cannot succeed). `reader` as in `health`."""
        keys = [i if isinstance(i, ObjectKey) else ObjectKey.of(i) for i in items]
        deadline = self._clock() + timeout
        pending = list(dict.fromkeys(keys))
        last: dict[ObjectKey, ObjectHealth] = {}
        while True:
            still: list[ObjectKey] = []
            for key in pending:
                try:
                    health = await self.health(key, reader)
                except ApiError as err:
                    health = ObjectHealth(key, HealthStatus.UNKNOWN, _server_message(err))
                last[key] = health
                if health.status is not HealthStatus.CURRENT:
                    still.append(key)
            pending = still
            if not pending:
                return [last[k] for k in keys]
            failed = [last[k] for k in pending if last[k].status is HealthStatus.FAILED]
            if failed and (fail_fast or len(failed) == len(pending)):
                raise WaitError(failed, timed_out=False)
            if self._clock() >= deadline:
                raise WaitError([last[k] for k in pending])
            await self._sleep(max(0.0, min(interval, deadline - self._clock())))

    async def wait_for_termination(self, items: Iterable[ObjectKey | Mapping[str, Any]], *,
                                   interval: float = 2.0, timeout: float = 60.0) -> None:
        """Poll until every object is gone; WaitError lists those still there at `timeout`."""
        keys = [i if isinstance(i, ObjectKey) else ObjectKey.of(i) for i in items]
        deadline = self._clock() + timeout
        pending = list(dict.fromkeys(keys))
        while True:
            pending = [k for k in pending if await self.get(k) is not None]
            if not pending:
                return
            if self._clock() >= deadline:
                raise WaitError([ObjectHealth(k, HealthStatus.TERMINATING) for k in pending])
            await self._sleep(max(0.0, min(interval, deadline - self._clock())))
