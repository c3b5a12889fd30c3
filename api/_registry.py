"""The registry of kinds: every afflux kind, and lookups by (group, kind), by apiVersion, and by
the names kubectl accepts (kind, plural, singular, short names).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._common import Resource
from ._helm_v2 import HelmRelease
from ._image_v1 import ImagePolicy, ImageRepository, ImageUpdateAutomation
from ._kustomize_v1 import Kustomization
from ._notification_v1 import Receiver
from ._notification_v1beta3 import Alert, Provider
from ._source_extensions_v1beta1 import ArtifactGenerator
from ._source_v1 import (
    Bucket,
    ExternalArtifact,
    GitRepository,
    HelmChart,
    HelmRepository,
    OCIRepository,
)

__all__ = ["KINDS", "kind_by_name", "kind_for", "kind_of", "parse_object"]

#: Every kind afflux serves, sources first.
KINDS: tuple[type[Resource], ...] = (
    GitRepository,
    OCIRepository,
    HelmRepository,
    HelmChart,
    Bucket,
    ExternalArtifact,
    ArtifactGenerator,
    Kustomization,
    HelmRelease,
    ImageRepository,
    ImagePolicy,
    ImageUpdateAutomation,
    Provider,
    Alert,
    Receiver,
)

_BY_GROUP_KIND: dict[tuple[str, str], type[Resource]] = {(k.GROUP, k.KIND): k for k in KINDS}
_BY_NAME: dict[str, list[type[Resource]]] = {}
for _k in KINDS:
    for _n in {_k.KIND.lower(), _k.PLURAL, _k.SINGULAR, *_k.SHORT_NAMES}:
        _BY_NAME.setdefault(_n, []).append(_k)


def kind_for(group: str, kind: str) -> type[Resource]:
    """The class of a kind by API group and kind name; KeyError when afflux does not serve it."""
    try:
        return _BY_GROUP_KIND[(group, kind)]
    except KeyError:
        raise KeyError(f"afflux serves no kind {kind!r} in group {group!r}") from None


def kind_of(api_version: str, kind: str) -> type[Resource]:
    """The class for an object's apiVersion and kind; KeyError for unserved versions too."""
    group, _, version = api_version.rpartition("/")
    cls = kind_for(group, kind)
    if version not in cls.SERVED_VERSIONS:
        raise KeyError(
            f"{kind} is served as {', '.join(f'{group}/{v}' for v in cls.SERVED_VERSIONS)}, "
            f"not {api_version}"
        )
    return cls


def kind_by_name(name: str) -> type[Resource]:
    """Resolve what a user types after `kubectl get`: a kind (any case), plural, singular or
    short name, optionally qualified by group (`kustomizations.kustomize.toolkit.fluxcd.io`)."""
    key, _, group = name.strip().lower().partition(".")
    matches = [k for k in _BY_NAME.get(key, ()) if not group or k.GROUP == group]
    if not matches:
        raise KeyError(f"no afflux kind is called {name!r}")
    if len(matches) > 1:  # pragma: no cover - our names are unique today
        raise KeyError(f"{name!r} is ambiguous: {', '.join(k.KIND for k in matches)}")
    return matches[0]


def parse_object(body: Mapping[str, Any]) -> Resource:
    """Read a whole object of any afflux kind into its typed model."""
    cls = kind_of(str(body.get("apiVersion", "")), str(body.get("kind", "")))
    return cls.from_dict(body)
