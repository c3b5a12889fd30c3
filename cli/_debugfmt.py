"""`afflux debug`'s pure formatters: what `flux debug kustomization|helmrelease` prints.

- `--show-status`: a comment line that names the status documentation, then `status` as YAML
  with its keys sorted (as flux marshals it); `{}` when the object has no status yet.
- `--show-history`: a comment line that names the history documentation, then
  `status.history` as a YAML list (`[]` when empty).
- `--show-vars`: the post-build variables as `KEY=VALUE` lines sorted by name (a dot env
  file; values have no newlines, the controller strips them).
- `--show-values`: the composed values as YAML with sorted keys (`{}` when none).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

__all__ = [
    "DOCS",
    "ONE_OF",
    "chosen",
    "history_text",
    "status_text",
    "values_yaml",
    "vars_text",
]

#: kind -> (status documentation, history documentation), the comment lines flux prints.
DOCS: dict[str, tuple[str, str]] = {
    "Kustomization": (
        "https://fluxcd.io/flux/components/kustomize/kustomizations/#kustomization-status",
        "https://fluxcd.io/flux/components/kustomize/kustomizations/#history"),
    "HelmRelease": (
        "https://fluxcd.io/flux/components/helm/helmreleases/#helmrelease-status",
        "https://fluxcd.io/flux/components/helm/helmreleases/#history"),
}

#: kind -> the flags of which exactly one must be given.
ONE_OF: dict[str, tuple[str, str, str]] = {
    "Kustomization": ("--show-status", "--show-vars", "--show-history"),
    "HelmRelease": ("--show-status", "--show-values", "--show-history"),
}


class _Dumper(yaml.SafeDumper):
    """Block style, long lines unbroken, multi-line strings as `|` blocks."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def _yaml(value: Any) -> str:
    return yaml.dump(value, Dumper=_Dumper, sort_keys=True, default_flow_style=False,
                     width=1 << 16, allow_unicode=True)


def status_text(kind: str, obj: Mapping[str, Any]) -> str:
    """`--show-status` of `obj` (a Kustomization or HelmRelease body)."""
    return f"# Status documentation: {DOCS[kind][0]}\n" + _yaml(dict(obj.get("status") or {}))


def history_text(kind: str, obj: Mapping[str, Any]) -> str:
    """`--show-history` of `obj`."""
    history = list((obj.get("status") or {}).get("history") or [])
    return f"# History documentation: {DOCS[kind][1]}\n" + _yaml(history)


def vars_text(variables: Mapping[str, str]) -> str:
    """`--show-vars`: one `KEY=VALUE` line per variable, sorted by name."""
    return "".join(f"{k}={variables[k]}\n" for k in sorted(variables))


def values_yaml(values: Mapping[str, Any]) -> str:
    """`--show-values`: the values as YAML, keys sorted."""
    return _yaml(dict(values))


def chosen(flags: Sequence[tuple[str, bool]]) -> str | None:
    """The one flag set among (flag, set) pairs; None unless exactly one is."""
    given = [flag for flag, on in flags if on]
    return given[0] if len(given) == 1 else None
