"""Conversion between the API versions Flux 2.8 removed and the ones afflux stores.

Served for old repositories, stored never:

| kind | old versions | stored as |
| --- | --- | --- |
| Kustomization (kustomize.toolkit.fluxcd.io) | v1beta2 | v1 |
| GitRepository (source.toolkit.fluxcd.io) | v1beta2 | v1 |
| HelmRelease (helm.toolkit.fluxcd.io) | v2beta1, v2beta2 | v2 |

`convert(obj, "group/version")` turns a whole object (a dict, as the API server sends it in a
ConversionReview) into the desired version; `review_response(review, kinds)` answers a
ConversionReview. Both are pure: no I/O, the input is never modified.

What changes on the way up (old -> current), as Flux documents the removals:
- Kustomization: `spec.validation` is dropped (unused since v1beta2); every
  `spec.patchesStrategicMerge` object becomes a `spec.patches` entry (the object as YAML
  text, no target: kustomize takes it from the object), every `spec.patchesJson6902` entry
  a `spec.patches` entry (the operations as YAML text, the same target); both go before
  the entries already in `spec.patches`, in that order.
- GitRepository: `spec.gitImplementation` and `spec.accessFrom` are dropped (Flux ignored
  them in v1beta2 already); `spec.verify.mode: head` becomes `HEAD`; an artifact's
  `checksum` becomes its `digest` (`sha256:<checksum>`) when it has none, and is dropped;
  `status.contentConfigChecksum` is dropped.
- HelmRelease: `spec.chart.spec.valuesFile` becomes the first entry of `valuesFiles`;
  `spec.postRenderers[].kustomize.patchesStrategicMerge` / `patchesJson6902` become
  `patches`, as for a Kustomization; `status.lastAppliedRevision` and
  `status.lastReleaseRevision` are dropped when `status.history` says the same (the newest
  snapshot's chartVersion and version), kept otherwise.

On the way down (current -> old) nothing is dropped (every old version's schema also has
the current fields), and what old readers look for is filled in: a GitRepository
artifact's `checksum` (the hex of its sha256 digest), `verify.mode: head`, a HelmRelease's
`status.lastAppliedRevision` / `lastReleaseRevision` from its newest history snapshot.

So current -> old -> current is the identity; old -> current -> old keeps every field
that survives in the current version (the dropped ones are gone, the moved ones come back
in their new place), and converting its result again changes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml

__all__ = [
    "CONVERTIBLE",
    "ConversionError",
    "convert",
    "current_api_version",
    "legacy_api_versions",
    "review_response",
]

Obj = dict[str, Any]

_KS = ("kustomize.toolkit.fluxcd.io", "Kustomization")
_GIT = ("source.toolkit.fluxcd.io", "GitRepository")
_HR = ("helm.toolkit.fluxcd.io", "HelmRelease")

#: (group, kind) -> (stored version, the old versions served through conversion)
CONVERTIBLE: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    _KS: ("v1", ("v1beta2",)),
    _GIT: ("v1", ("v1beta2",)),
    _HR: ("v2", ("v2beta2", "v2beta1")),
}


class ConversionError(ValueError):
    """The object cannot be converted to the version asked for."""


def current_api_version(group: str, kind: str) -> str | None:
    """`group/<stored version>` of a convertible kind; None for any other kind."""
    entry = CONVERTIBLE.get((group, kind))
    return f"{group}/{entry[0]}" if entry else None


def legacy_api_versions(group: str, kind: str) -> tuple[str, ...]:
    """The old versions of a kind served through conversion (none for most kinds)."""
    entry = CONVERTIBLE.get((group, kind))
    return entry[1] if entry else ()


def convert(obj: Mapping[str, Any], desired_api_version: str) -> Obj:
    """A converted deep copy of `obj`, with apiVersion `desired_api_version`."""
    api_version = str(obj.get("apiVersion", ""))
    kind = str(obj.get("kind", ""))
    group, _, version = api_version.rpartition("/")
    want_group, _, want = desired_api_version.rpartition("/")
    entry = CONVERTIBLE.get((group, kind))
    if entry is None:
        raise ConversionError(f"afflux converts no {kind or 'object'} of {api_version!r}")
    if want_group != group:
        raise ConversionError(f"cannot convert {kind} from {group} to group {want_group!r}")
    known = (entry[0], *entry[1])
    for v in (version, want):
        if v not in known:
            raise ConversionError(
                f"{kind} is served as {', '.join(f'{group}/{k}' for k in known)}, not "
                f"{group}/{v}")
    out = copy.deepcopy(dict(obj))
    if version != entry[0]:
        out = _UP[kind](out)
    if want != entry[0]:
        out = _DOWN[kind](out, want)
    out["apiVersion"] = desired_api_version
    return out


def review_response(review: Mapping[str, Any],
                    kinds: Iterable[tuple[str, str]] | None = None) -> Obj:
    """The ConversionReview (apiextensions.k8s.io/v1) that answers `review`.

    `kinds` limits what this server converts (the kinds of the operator that serves it);
    an object of another kind, or one that cannot be converted, fails the whole review
    with a message that says why (the API server shows it to the client).
    """
    request = review.get("request") or {}
    uid = request.get("uid", "")
    allowed = set(kinds) if kinds is not None else set(CONVERTIBLE)
    desired = str(request.get("desiredAPIVersion", ""))
    converted: list[Obj] = []
    try:
        for obj in request.get("objects") or []:
            group = str(obj.get("apiVersion", "")).rpartition("/")[0]
            if (group, obj.get("kind")) not in allowed:
                names = ", ".join(sorted(k for _, k in allowed)) or "nothing"
                raise ConversionError(
                    f"this conversion webhook converts {names}, not {obj.get('kind')} "
                    f"of {group}")
            converted.append(convert(obj, desired))
        result: Obj = {"status": "Success"}
    except ConversionError as err:
        converted = []
        result = {"status": "Failure", "message": str(err)}
    response: Obj = {"uid": uid, "result": result}
    if result["status"] == "Success":
        response["convertedObjects"] = converted
    return {"apiVersion": review.get("apiVersion") or "apiextensions.k8s.io/v1",
            "kind": "ConversionReview", "response": response}


# --- shared pieces -------------------------------------------------------------------------


def _yaml_text(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, default_flow_style=False)


def _legacy_patches(holder: Obj) -> None:
    """Move `patchesStrategicMerge` and `patchesJson6902` of `holder` into `patches`."""
    smp = holder.pop("patchesStrategicMerge", None) or []
    j6902 = holder.pop("patchesJson6902", None) or []
    moved: list[Obj] = [{"patch": _yaml_text(p)} for p in smp]
    for entry in j6902:
        item: Obj = {"patch": _yaml_text(entry.get("patch") or [])}
        if entry.get("target") is not None:
            item["target"] = entry["target"]
        moved.append(item)
    if moved:
        holder["patches"] = moved + list(holder.get("patches") or [])


def _spec(obj: Obj) -> Obj:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _status(obj: Obj) -> Obj:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


# --- Kustomization -------------------------------------------------------------------------


def _kustomization_up(obj: Obj) -> Obj:
    spec = _spec(obj)
    spec.pop("validation", None)
    _legacy_patches(spec)
    return obj


def _kustomization_down(obj: Obj, version: str) -> Obj:
    return obj


# --- GitRepository -------------------------------------------------------------------------

_SHA256 = "sha256:"


def _artifacts(status: Obj) -> list[Obj]:
    out = [status["artifact"]] if isinstance(status.get("artifact"), dict) else []
    out += [a for a in status.get("includedArtifacts") or [] if isinstance(a, dict)]
    return out


def _gitrepository_up(obj: Obj) -> Obj:
    spec = _spec(obj)
    spec.pop("gitImplementation", None)
    spec.pop("accessFrom", None)
    verify = spec.get("verify")
    if isinstance(verify, dict) and verify.get("mode") == "head":
        verify["mode"] = "HEAD"
    status = _status(obj)
    status.pop("contentConfigChecksum", None)
    for artifact in _artifacts(status):
        checksum = artifact.pop("checksum", None)
        if checksum and not artifact.get("digest"):
            artifact["digest"] = _SHA256 + checksum
    return obj


def _gitrepository_down(obj: Obj, version: str) -> Obj:
    verify = _spec(obj).get("verify")
    if isinstance(verify, dict) and verify.get("mode") == "HEAD":
        verify["mode"] = "head"
    for artifact in _artifacts(_status(obj)):
        digest = artifact.get("digest") or ""
        if digest.startswith(_SHA256):
            artifact["checksum"] = digest[len(_SHA256):]
    return obj


# --- HelmRelease ---------------------------------------------------------------------------


def _newest_snapshot(status: Obj) -> Obj | None:
    history = status.get("history")
    if isinstance(history, list) and history and isinstance(history[0], dict):
        return history[0]
    return None


#: (deprecated status field, the newest snapshot's field it repeats)
_FROM_HISTORY = (("lastAppliedRevision", "chartVersion"), ("lastReleaseRevision", "version"))


def _helmrelease_up(obj: Obj) -> Obj:
    spec = _spec(obj)
    chart_spec = (spec.get("chart") or {}).get("spec")
    if isinstance(chart_spec, dict) and "valuesFile" in chart_spec:
        single = chart_spec.pop("valuesFile")
        files = list(chart_spec.get("valuesFiles") or [])
        if single and (not files or files[0] != single):
            files.insert(0, single)
        if files:
            chart_spec["valuesFiles"] = files
    for renderer in spec.get("postRenderers") or []:
        kustomize = renderer.get("kustomize") if isinstance(renderer, dict) else None
        if isinstance(kustomize, dict):
            _legacy_patches(kustomize)
    status = _status(obj)
    newest = _newest_snapshot(status)
    if newest is not None:
        for field, snap_field in _FROM_HISTORY:
            if field in status and status[field] == newest.get(snap_field):
                del status[field]
    return obj


def _helmrelease_down(obj: Obj, version: str) -> Obj:
    status = _status(obj)
    newest = _newest_snapshot(status)
    if newest is not None:
        for field, snap_field in _FROM_HISTORY:
            if newest.get(snap_field) is not None:
                status[field] = newest[snap_field]
    return obj


_UP: dict[str, Callable[[Obj], Obj]] = {
    "Kustomization": _kustomization_up,
    "GitRepository": _gitrepository_up,
    "HelmRelease": _helmrelease_up,
}
_DOWN: dict[str, Callable[[Obj, str], Obj]] = {
    "Kustomization": _kustomization_down,
    "GitRepository": _gitrepository_down,
    "HelmRelease": _helmrelease_down,
}
