"""notification.toolkit.fluxcd.io/v1beta3: Provider and Alert.

An Alert selects the objects whose events are worth telling someone about and names a
Provider, which says where to send them (Slack, a generic webhook, a Git forge's commit
status, ...). Flux's v1beta3 serves both without status; afflux adds the common status
(Ready with a reason and a message) so that a Provider whose Secret is missing, or an Alert
whose regex does not compile or whose Provider is not ready, says so. The extra status is
additive: a manifest written for Flux is accepted unchanged.
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
from ._notification_v1 import EventSourceReference

__all__ = [
    "CHANGE_REQUEST_PROVIDERS",
    "COMMIT_STATUS_PROVIDERS",
    "PROVIDER_TYPES",
    "Alert",
    "AlertSpec",
    "Provider",
    "ProviderSpec",
]

GROUP = _meta.NOTIFICATION_GROUP
_CATEGORIES = (
    _meta.CATEGORY_ALL,
    _meta.CATEGORY_FLUXCD,
    _meta.CATEGORY_NOTIFICATIONS,
    _meta.CATEGORY_FLUX,
)

#: Provider types that post commit statuses to a Git forge.
COMMIT_STATUS_PROVIDERS = (
    "github",
    "gitlab",
    "gitea",
    "bitbucketserver",
    "bitbucket",
    "azuredevops",
)
#: Every Provider type.
PROVIDER_TYPES = (
    "slack",
    "discord",
    "msteams",
    "rocket",
    "generic",
    "generic-hmac",
    *COMMIT_STATUS_PROVIDERS,
    "googlechat",
    "googlepubsub",
    "webex",
    "sentry",
    "azureeventhub",
    "telegram",
    "lark",
    "matrix",
    "opsgenie",
    "alertmanager",
    "grafana",
    "githubdispatch",
    *("githubpullrequestcomment", "gitlabmergerequestcomment", "giteapullrequestcomment"),
    "pagerduty",
    "datadog",
    "nats",
    "zulip",
    "otel",
)
#: Provider types that comment on the pull (merge) request an event's object names in its
#: `event.toolkit.fluxcd.io/change_request` annotation.
CHANGE_REQUEST_PROVIDERS = (
    "githubpullrequestcomment",
    "gitlabmergerequestcomment",
    "giteapullrequestcomment",
)
# --- Provider --------------------------------------------------------------------------------------


def _commit_status_expr_ok(spec: dict) -> bool:
    return spec.get("type") in COMMIT_STATUS_PROVIDERS or "commitStatusExpr" not in spec


class ProviderSpec(Model):
    """Where notifications go."""

    VALIDATIONS = (
        Rule(
            " || ".join(f"self.type == '{t}'" for t in COMMIT_STATUS_PROVIDERS)
            + " || !has(self.commitStatusExpr)",
            "spec.commitStatusExpr is only supported for the commit status provider types ("
            + ", ".join(COMMIT_STATUS_PROVIDERS)
            + ")",
            _commit_status_expr_ok,
        ),
    )

    type: str = field(doc="The kind of service to notify.", required=True, enum=PROVIDER_TYPES)
    interval: str | None = duration(doc="Deprecated and unused.")
    channel: str | None = field(doc="Channel (or topic, room, ...) to post to.", max_length=2048)
    username: str | None = field(doc="Name to post as.", max_length=2048)
    address: str | None = field(
        doc="Where to send: a webhook URL, an API address, a repository URL, depending on type.",
        max_length=2048,
    )
    timeout: str | None = duration(
        doc="Timeout of a request to the provider; 15s by default.", hours=False
    )
    proxy: str | None = field(
        doc="Deprecated: use proxySecretRef.", max_length=2048, pattern=r"^(http|https)://.*$"
    )
    proxy_secret_ref: LocalObjectReference | None = field(
        doc="Secret with the proxy to use ('address', optionally 'username' and 'password')."
    )
    secret_ref: LocalObjectReference | None = field(
        doc="Secret with credentials: 'address', 'token', 'username', 'password', 'headers', "
        "depending on type."
    )
    service_account_name: str | None = field(
        doc="ServiceAccount whose workload identity authenticates to a cloud service."
    )
    cert_secret_ref: LocalObjectReference | None = field(
        doc="Secret with 'ca.crt' and/or 'tls.crt' + 'tls.key' for the connection."
    )
    suspend: bool | None = field(doc="Send nothing until set back to false.")
    commit_status_expr: str | None = field(
        doc="CEL expression over event, provider and alert giving the commit status text "
        "(commit status providers only)."
    )


class Provider(Resource):
    """A notification destination."""

    GROUP = GROUP
    VERSION = "v1beta3"
    KIND = "Provider"
    PLURAL = "providers"
    CATEGORIES = _CATEGORIES
    PRINTER_COLUMNS = (AGE_COLUMN, READY_COLUMN, STATUS_COLUMN)
    DESCRIPTION = "Provider says where notifications are sent and how to authenticate there."
    DEFAULT_TIMEOUT = 15.0

    spec: ProviderSpec = field(doc="Where notifications go.", required=True)
    status: ReconcileStatus = field(
        doc="The observed state, written by notification-controller.",
        default={"observedGeneration": -1},
        python_default=False,
    )


# --- Alert ---------------------------------------------------------------------------------------------


class AlertSpec(Model):
    """Which events to send, and through which Provider."""

    provider_ref: LocalObjectReference = field(doc="The Provider to send through.", required=True)
    event_severity: str | None = field(
        doc="info sends all events, error only errors.", enum=("info", "error"), default="info"
    )
    event_sources: list[EventSourceReference] = field(
        doc="The objects whose events are sent.", required=True
    )
    inclusion_list: list[str] | None = field(
        doc="Regular expressions; only events whose message matches one are sent."
    )
    event_metadata: dict[str, str] | None = field(
        doc="Metadata added to every event (keys already on the event are kept as they are)."
    )
    exclusion_list: list[str] | None = field(
        doc="Regular expressions; events whose message matches one are not sent (wins over "
        "inclusionList)."
    )
    summary: str | None = field(doc="Short description added to every event.", max_length=255)
    suspend: bool | None = field(doc="Send nothing until set back to false.")


class Alert(Resource):
    """A rule that sends events of selected objects to a Provider."""

    GROUP = GROUP
    VERSION = "v1beta3"
    KIND = "Alert"
    PLURAL = "alerts"
    CATEGORIES = _CATEGORIES
    PRINTER_COLUMNS = (AGE_COLUMN, READY_COLUMN, STATUS_COLUMN)
    DESCRIPTION = "Alert sends the events of the objects it selects to a Provider."

    spec: AlertSpec = field(doc="Which events to send, and where.", required=True)
    status: ReconcileStatus = field(
        doc="The observed state, written by notification-controller.",
        default={"observedGeneration": -1},
        python_default=False,
    )
