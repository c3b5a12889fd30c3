"""Which Alerts an event goes to, what each sends, and the rate limit. Pure, no I/O.

An Alert (a body dict) takes an event when, as in Flux's notification-controller:

- it is not suspended, and the event's severity passes `eventSeverity` (`info` takes info
  and error events, `error` only errors; trace events are never sent);
- the message matches one of `inclusionList` (when set) and none of `exclusionList`
  (exclusion wins);
- one of `eventSources` names the object: same kind, the source's namespace (the Alert's
  when unset; `*` for all, unless cross-namespace references are off), and the same
  name, or `*` with all `matchLabels` on the object;
- the event is not older than the Alert (an Alert does not report what happened before
  it existed; events are matched on their timestamp).

`notification_for` adds the Alert's `eventMetadata` (never over a key the event already
has) and its `summary` (key `summary`).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._event import EVENT_GROUP

__all__ = [
    "InvalidRegex",
    "RateLimiter",
    "compile_patterns",
    "matches_alert",
    "needs_labels",
    "notification_for",
    "source_matches",
]


class InvalidRegex(ValueError):
    """An inclusionList or exclusionList entry that does not compile."""

    def __init__(self, field: str, index: int, pattern: str, error: str) -> None:
        super().__init__(f"spec.{field}[{index}] {pattern!r} is not a valid regular expression: "
                         f"{error}")
        self.field = field


_CACHE: dict[str, re.Pattern[str]] = {}


def compile_patterns(field: str, patterns: Iterable[str] | None) -> list[re.Pattern[str]]:
    """Compile an Alert's list of regexes (cached); raises `InvalidRegex` naming the entry."""
    result = []
    for index, pattern in enumerate(patterns or ()):
        compiled = _CACHE.get(pattern)
        if compiled is None:
            try:
                compiled = re.compile(pattern)
            except re.error as err:
                raise InvalidRegex(field, index, pattern, str(err)) from None
            if len(_CACHE) > 4096:
                _CACHE.clear()
            _CACHE[pattern] = compiled
        result.append(compiled)
    return result


def _spec(alert: Mapping[str, Any]) -> Mapping[str, Any]:
    return alert.get("spec") or {}


def _meta(alert: Mapping[str, Any]) -> Mapping[str, Any]:
    return alert.get("metadata") or {}


def source_matches(
    source: Mapping[str, Any],
    involved: Mapping[str, Any],
    alert_namespace: str,
    labels: Mapping[str, str] | None,
    *,
    cross_namespace: bool = True,
) -> bool:
    """Whether one `eventSources` entry selects the involved object (`labels`: the object's
    labels, needed only when the entry has `matchLabels`; None when unknown)."""
    if source.get("kind") != involved.get("kind"):
        return False
    namespace = source.get("namespace") or alert_namespace
    if not cross_namespace and namespace != alert_namespace:
        return False
    if namespace != "*" and namespace != involved.get("namespace"):
        return False
    name = source.get("name")
    if name != "*":
        return bool(name == involved.get("name"))
    wanted = source.get("matchLabels") or {}
    if not wanted:
        return True
    if labels is None:
        return False
    return all(labels.get(k) == v for k, v in wanted.items())


def needs_labels(alert: Mapping[str, Any], involved: Mapping[str, Any]) -> bool:
    """Whether matching this Alert against the object needs the object's labels."""
    return any(s.get("name") == "*" and s.get("matchLabels") and s.get("kind") == involved.get("kind")
               for s in _spec(alert).get("eventSources") or ())


def _older_than_alert(event: Mapping[str, Any], alert: Mapping[str, Any]) -> bool:
    # both are RFC 3339 UTC strings ("...Z"); a string comparison orders them
    created = str(_meta(alert).get("creationTimestamp") or "")
    stamp = str(event.get("timestamp") or "")
    return bool(created and stamp) and stamp[:19] < created[:19]


def matches_alert(
    event: Mapping[str, Any],
    alert: Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
    *,
    cross_namespace: bool = True,
) -> bool:
    """Whether `alert` takes `event` (see the module doc). An Alert with an invalid regex
    takes nothing (its status says why)."""
    spec = _spec(alert)
    if spec.get("suspend") is True:
        return False
    severity = event.get("severity")
    if severity == "trace":
        return False
    if (spec.get("eventSeverity") or "info") == "error" and severity != "error":
        return False
    message = str(event.get("message") or "")
    try:
        included = compile_patterns("inclusionList", spec.get("inclusionList"))
        excluded = compile_patterns("exclusionList", spec.get("exclusionList"))
    except InvalidRegex:
        return False
    if included and not any(p.search(message) for p in included):
        return False
    if any(p.search(message) for p in excluded):
        return False
    if _older_than_alert(event, alert):
        return False
    involved = event.get("involvedObject") or {}
    namespace = str(_meta(alert).get("namespace") or "")
    return any(source_matches(s, involved, namespace, labels, cross_namespace=cross_namespace)
               for s in spec.get("eventSources") or ())


def notification_for(event: Mapping[str, Any], alert: Mapping[str, Any]) -> dict[str, Any]:
    """The event as the Alert sends it, its metadata combined as Flux's (RFC 0008), each
    source overriding the ones before: the `event.toolkit.fluxcd.io/` keys without that
    prefix (the object's annotations), the Alert's eventMetadata as it is, its summary as
    `summary`, then the keys of the object's group without that prefix (what the operator
    reported: `revision`, ...). Nothing else is kept."""
    spec = _spec(alert)
    involved = event.get("involvedObject") or {}
    api_version = str(involved.get("apiVersion") or "")
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    original = {str(k): str(v) for k, v in (event.get("metadata") or {}).items()}
    metadata = {k.removeprefix(f"{EVENT_GROUP}/"): v for k, v in original.items()
                if k.startswith(f"{EVENT_GROUP}/")}
    metadata.update({str(k): str(v) for k, v in (spec.get("eventMetadata") or {}).items()})
    if spec.get("summary"):
        metadata["summary"] = str(spec["summary"])
    if group:
        metadata.update({k.removeprefix(f"{group}/"): v for k, v in original.items()
                         if k.startswith(f"{group}/")})
    result = dict(event)
    result["metadata"] = metadata
    return result


class RateLimiter:
    """Lets a key through once per `interval` seconds (Flux's default: 5 minutes)."""

    def __init__(self, interval: float = 300.0, *,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 65_536) -> None:
        self.interval = interval
        self._clock = clock
        self._max = max_keys
        self._seen: OrderedDict[str, float] = OrderedDict()

    def allow(self, key: str) -> bool:
        now = self._clock()
        while self._seen:  # oldest first: drop what has expired
            oldest, when = next(iter(self._seen.items()))
            if now - when < self.interval and len(self._seen) < self._max:
                break
            del self._seen[oldest]
        if self.interval <= 0:
            return True
        if key in self._seen:
            return False
        self._seen[key] = now
        return True
