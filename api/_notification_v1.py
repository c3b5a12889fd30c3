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
from ._model import Model, Rule, duration, field
from ._refs import receiver_webhook_path

__all__ = [
    "EVENT_SOURCE_KINDS",
    "RECEIVER_TYPES",
    "EventSourceReference",
    "OIDCProvider",
    "OIDCValidation",
    "OIDCVariable",
    "ReceiverResource",
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
    "generic-oidc",
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


class ReceiverResource(EventSourceReference):
    """An object (or, with name `*`, the objects) a Receiver reconciles."""

    filter: str | None = field(
        doc="CEL expression over `req` (the call: headers and JSON body) and `res` (the "
        "object); only objects for which it is true are reconciled."
    )


class OIDCVariable(Model):
    """A named CEL value computed from the token's claims, usable by the validations."""

    name: str = field(doc="Name under which `vars` holds the value.", required=True)
    expression: str = field(
        doc="CEL expression over `claims` (and the variables before it).", required=True
    )


class OIDCValidation(Model):
    """A CEL check a token's claims must pass."""

    expression: str = field(
        doc="CEL expression over `claims` and `vars`; the call is rejected when it is false.",
        required=True,
    )
    message: str = field(doc="Why a call is rejected when the expression is false.",
                         required=True)


class OIDCProvider(Model):
    """An OpenID Connect issuer whose ID tokens (Authorization: Bearer) authenticate calls
    of a generic-oidc Receiver."""

    issuer_url: str = field(
        json="issuerURL",
        doc="The issuer; its /.well-known/openid-configuration names the signing keys (JWKS).",
        required=True,
        pattern=r"^https?://",
    )
    audience: str | None = field(doc="The audience (aud) the token must be issued for.")
    variables: list[OIDCVariable] | None = field(doc="Values computed from the claims.")
    validations: list[OIDCValidation] = field(
        doc="Checks the claims must pass.", required=True
    )


def _oidc_needs_providers(spec: dict) -> bool:
    return spec.get("type") != "generic-oidc" or bool(spec.get("oidcProviders"))


def _providers_need_oidc(spec: dict) -> bool:
    return spec.get("type") == "generic-oidc" or not spec.get("oidcProviders")


def _oidc_has_no_secret(spec: dict) -> bool:
    return spec.get("type") != "generic-oidc" or "secretRef" not in spec


def _others_need_secret(spec: dict) -> bool:
    return spec.get("type") == "generic-oidc" or "secretRef" in spec


# --- Receiver --------------------------------------------------------------------------------------------


class ReceiverSpec(Model):
    """An incoming webhook and the objects it reconciles."""

    VALIDATIONS = (
        Rule("self.type != 'generic-oidc' || (has(self.oidcProviders) && "
             "size(self.oidcProviders) > 0)",
             "spec.oidcProviders must list at least one issuer for type generic-oidc",
             _oidc_needs_providers),
        Rule("self.type == 'generic-oidc' || !has(self.oidcProviders) || "
             "size(self.oidcProviders) == 0",
             "spec.oidcProviders is only for type generic-oidc", _providers_need_oidc),
        Rule("self.type != 'generic-oidc' || !has(self.secretRef)",
             "spec.secretRef is not used by type generic-oidc: remove it", _oidc_has_no_secret),
        Rule("self.type == 'generic-oidc' || has(self.secretRef)",
             "spec.secretRef is required (except for type generic-oidc)", _others_need_secret),
    )

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
    resources: list[ReceiverResource] = field(
        doc="The objects to reconcile when a valid request arrives.", required=True
    )
    resource_filter: str | None = field(
        doc="CEL expression over the request and each resource; only resources for which it is "
        "true are reconciled."
    )
    secret_ref: LocalObjectReference | None = field(
        doc="Secret whose 'token' authenticates requests and is part of the webhook path "
        "(every type but generic-oidc)."
    )
    oidc_providers: list[OIDCProvider] | None = field(
        json="oidcProviders",
        doc="generic-oidc: the issuers whose ID tokens authenticate calls (any one suffices).",
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
