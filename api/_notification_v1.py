"""notification.toolkit.fluxcd.io/v1: Receiver, and the object reference Alerts share.

A Receiver serves an incoming webhook: a request that authenticates with the Receiver's token
asks for an immediate reconcile of the objects it lists (by setting their
reconcile.fluxcd.io/requestedAt annotation).
"""

from __future__ import annotations

from . import _meta
from ._common import (
    AGE_COLUMN,
    READY_COLUMN,
    STATUS_COLUMN,
    LocalObjectReference,
    ReconcileStatus,
    Resource,
)
from ._model import Model, duration, field
from ._refs import receiver_webhook_path

__all__ = [
    "EVENT_SOURCE_KINDS",
    "RECEIVER_TYPES",
    "EventSourceReference",
    "Receiver",
    "ReceiverSpec",
    "ReceiverStatus",
]

GROUP = _meta.NOTIFICATION_GROUP
_CATEGORIES = (
    _meta.CATEGORY_ALL,
    _meta.CATEGORY_FLUXCD,
    _meta.CATEGORY_NOTIFICATIONS,
    _meta.CATEGORY_FLUX,
)

#: Every Receiver type.
RECEIVER_TYPES = (
    "generic",
    "generic-hmac",
    "github",
    "gitlab",
    "bitbucket",
    "harbor",
    "dockerhub",
    "quay",
    "gcr",
    "nexus",
    "acr",
    "cdevents",
)
#: Kinds an Alert or a Receiver can refer to.
EVENT_SOURCE_KINDS = (
    "Bucket",
    "GitRepository",
    "Kustomization",
    "HelmRelease",
    "HelmChart",
    "HelmRepository",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
    "OCIRepository",
    "ArtifactGenerator",
    "ExternalArtifact",
)


class EventSourceReference(Model):
    """Objects an Alert listens to, or a Receiver reconciles: one by name, or all (`*`) of a
    kind, optionally only those with certain labels."""

    api_version: str | None = field(doc="API version of the objects.")
    kind: str = field(doc="Kind of the objects.", required=True, enum=EVENT_SOURCE_KINDS)
    name: str = field(
        doc="Name of the object, or * for all objects of the kind.",
        required=True,
        min_length=1,
        max_length=253,
    )
    namespace: str | None = field(
        doc="Namespace of the objects; the referring object's by default, * for all (name must "
        "then be * too).",
        min_length=1,
        max_length=253,
    )
    match_labels: dict[str, str] | None = field(doc="Labels the objects must have (with name *).")


# --- Receiver --------------------------------------------------------------------------------------------


class ReceiverSpec(Model):
    """An incoming webhook and the objects it reconciles."""

    type: str = field(
        doc="Who sends the webhook; decides how requests are authenticated and parsed.",
        required=True,
        enum=RECEIVER_TYPES,
    )
    interval: str | None = duration(
        doc="How often to re-check the Secret reference.", default="10m"
    )
    events: list[str] | None = field(
        doc="Event types to act on, e.g. push for GitHub or 'Push Hook' for GitLab; all when empty."
    )
    resources: list[EventSourceReference] = field(
        doc="The objects to reconcile when a valid request arrives.", required=True
    )
    resource_filter: str | None = field(
        doc="CEL expression over the request and each resource; only resources for which it is "
        "true are reconciled."
    )
    secret_ref: LocalObjectReference = field(
        doc="Secret whose 'token' authenticates requests and is part of the webhook path.",
        required=True,
    )
    suspend: bool | None = field(doc="Ignore requests until set back to false.")


class ReceiverStatus(ReconcileStatus):
    """What notification-controller set up for a Receiver."""

    webhook_path: str | None = field(
        doc="Path of the webhook: /hook/ followed by the hex SHA-256 of token, name and namespace."
    )


class Receiver(Resource):
    """An incoming webhook that triggers reconciles."""

    GROUP = GROUP
    VERSION = "v1"
    KIND = "Receiver"
    PLURAL = "receivers"
    CATEGORIES = _CATEGORIES
    PRINTER_COLUMNS = (AGE_COLUMN, READY_COLUMN, STATUS_COLUMN)
    DESCRIPTION = (
        "Receiver serves an incoming webhook; a valid request asks for an immediate reconcile "
        "of the objects it lists."
    )
    DEFAULT_INTERVAL = 600.0

    spec: ReceiverSpec = field(doc="The webhook and what it reconciles.", required=True)
    status: ReceiverStatus = field(
        doc="The observed state, written by notification-controller.",
        default={"observedGeneration": -1},
        python_default=False,
    )

    def webhook_path(self, token: str) -> str:
        """The webhook path for the given token."""
        return receiver_webhook_path(token, self.name, self.namespace)
