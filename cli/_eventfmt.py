"""Kubernetes Events of Flux objects as `afflux events` shows them: which events count as
Flux's, when an event was last seen, and the table rows LAST SEEN, TYPE, REASON, OBJECT,
MESSAGE (NAMESPACE first with -A), oldest first. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from afflux.api import KINDS

from ._format import parse_time, since

__all__ = [
    "EVENT_TYPES",
    "event_headers",
    "event_rows",
    "event_time",
    "involved_key",
    "alerts_of_provider",
    "is_flux_event",
    "last_seen",
    "parse_types",
    "related_objects",
    "sort_events",
    "type_matches",
]

#: The event types `--types` takes (case-insensitive, as flux).
EVENT_TYPES = ("Normal", "Warning")

_FLUX_KINDS = frozenset(k.KIND for k in KINDS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def is_flux_event(event: Mapping[str, Any]) -> bool:
    """Whether the event is about an object of a Flux kind (by kind and API group)."""
    involved = event.get("involvedObject") or event.get("regarding") or {}
    if involved.get("kind") not in _FLUX_KINDS:
        return False
    api_version = str(involved.get("apiVersion") or "")
    return not api_version or api_version.split("/")[0].endswith(".toolkit.fluxcd.io")


def event_time(event: Mapping[str, Any]) -> datetime | None:
    """When the event was last seen: lastTimestamp, series.lastObservedTime, eventTime,
    firstTimestamp, then the object's creation."""
    for value in (
        event.get("lastTimestamp"),
        (event.get("series") or {}).get("lastObservedTime"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        (event.get("metadata") or {}).get("creationTimestamp"),
    ):
        when = parse_time(value) if isinstance(value, str) else None
        if when is not None:
            return when
    return None


def sort_events(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Oldest first (events without a time first), then by name for a stable order."""
    return sorted(events, key=lambda e: (event_time(e) or _EPOCH,
                                         str((e.get("metadata") or {}).get("name", ""))))


def event_headers(all_namespaces: bool) -> list[str]:
    head = ["Namespace"] if all_namespaces else []
    return [*head, "Last seen", "Type", "Reason", "Object", "Message"]


def last_seen(event: Mapping[str, Any], now: datetime) -> str:
    """The LAST SEEN cell as flux (and kubectl) write it: the age of the last occurrence and,
    for an event seen more than once, `(x<count> over <age of the first>)`."""
    last = since(event_time(event), now)
    raw = event.get("count") or (event.get("series") or {}).get("count") or 1
    count = raw if isinstance(raw, int) else 1
    first_text = event.get("firstTimestamp") or event.get("eventTime")
    first = parse_time(first_text) if isinstance(first_text, str) else None
    if count > 1 and first is not None:
        return f"{last} (x{count} over {since(first, now)})"
    return last


def event_row(event: Mapping[str, Any], now: datetime, all_namespaces: bool) -> list[str]:
    involved = event.get("involvedObject") or event.get("regarding") or {}
    row = [
        last_seen(event, now),
        str(event.get("type", "")),
        str(event.get("reason", "")),
        f"{involved.get('kind', '')}/{involved.get('name', '')}",
        str(event.get("message") or event.get("note") or "").strip(),
    ]
    if all_namespaces:
        ns = involved.get("namespace") or (event.get("metadata") or {}).get("namespace", "")
        row.insert(0, str(ns))
    return row


def event_rows(
    events: Iterable[Mapping[str, Any]], now: datetime, all_namespaces: bool = False
) -> list[list[str]]:
    """The rows of the events, oldest first."""
    return [event_row(e, now, all_namespaces) for e in sort_events(events)]


def parse_types(values: Iterable[str]) -> tuple[str, ...]:
    """`--types Warning --types normal,Warning` -> the types, validated as flux validates
    them; ValueError with flux's message for another word."""
    out: list[str] = []
    for value in values:
        for word in value.split(","):
            word = word.strip()
            if not word:
                continue
            if word.lower() not in {t.lower() for t in EVENT_TYPES}:
                raise ValueError(f"type '{word}' not supported. Supported types are "
                                 "Normal, Warning")
            out.append(word)
    return tuple(out)


def type_matches(event: Mapping[str, Any], types: Iterable[str]) -> bool:
    """Whether the event's type is one of `types` (any when empty), ignoring case."""
    wanted = {t.lower() for t in types}
    return not wanted or str(event.get("type", "")).lower() in wanted


def involved_key(event: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, name, namespace) of the object an event is about."""
    involved = event.get("involvedObject") or event.get("regarding") or {}
    ns = involved.get("namespace") or (event.get("metadata") or {}).get("namespace", "")
    return str(involved.get("kind", "")), str(involved.get("name", "")), str(ns)


def _ref(obj: Mapping[str, Any], *path: str) -> Mapping[str, Any] | None:
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) and node.get("name") else None


def related_objects(obj: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(kind, name, namespace) of the objects whose events `events --for` shows with `obj`'s,
    as flux's `events --for` finds them: a Kustomization's source; a HelmRelease's HelmChart
    (`<namespace>-<name>` in the chart source's namespace) and the chart's source, or its
    chartRef (afflux also follows `chartRef`, where flux fails); a HelmChart's source; an
    Alert's Provider; an ImagePolicy's ImageRepository. Other kinds: none."""
    kind = str(obj.get("kind", ""))
    meta = obj.get("metadata") or {}
    ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    spec = obj.get("spec") or {}

    def of(ref: Mapping[str, Any] | None, default_kind: str = "",
           cross_namespace: bool = True) -> tuple[str, str, str] | None:
        if ref is None:
            return None
        ref_ns = str(ref.get("namespace") or ns) if cross_namespace else ns
        return str(ref.get("kind") or default_kind), str(ref["name"]), ref_ns

    out: list[tuple[str, str, str] | None] = []
    if kind == "Kustomization":
        out.append(of(_ref(spec, "sourceRef")))
    elif kind == "HelmRelease":
        source = of(_ref(spec, "chart", "spec", "sourceRef"))
        if source is not None:
            out += [source, ("HelmChart", f"{ns}-{name}", source[2])]
        else:
            out.append(of(_ref(spec, "chartRef")))
    elif kind == "HelmChart":
        out.append(of(_ref(spec, "sourceRef"), cross_namespace=False))
    elif kind == "Alert":
        out.append(of(_ref(spec, "providerRef"), "Provider", cross_namespace=False))
    elif kind == "ImagePolicy":
        out.append(of(_ref(spec, "imageRepositoryRef"), "ImageRepository"))
    return [r for r in out if r is not None and r[0]]


def alerts_of_provider(provider: Mapping[str, Any],
                       alerts: Iterable[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(kind, name, namespace) of the Alerts (of the Provider's namespace) that send through
    `provider`: their events are the delivery records of what went through it."""
    meta = provider.get("metadata") or {}
    ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    return [("Alert", str((a.get("metadata") or {}).get("name", "")), ns) for a in alerts
            if ((a.get("spec") or {}).get("providerRef") or {}).get("name") == name
            and (a.get("metadata") or {}).get("namespace", ns) == ns]
