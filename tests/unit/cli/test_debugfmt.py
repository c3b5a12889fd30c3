"""`afflux debug`'s formatters: status and history as YAML under flux's comment line, the
variables as a sorted dot env file, the values as sorted YAML, and the one-flag rule."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.cli._debugfmt import chosen, history_text, status_text, values_yaml, vars_text


@pytest.mark.parametrize(("kind", "obj", "expected"), [
    pytest.param("Kustomization", {}, "# Status documentation: https://fluxcd.io/flux/components/"
                 "kustomize/kustomizations/#kustomization-status\n{}\n", id="no-status"),
    pytest.param("HelmRelease", {"status": {"observedGeneration": 2, "conditions": [
        {"type": "Ready", "status": "True"}]}},
        "# Status documentation: https://fluxcd.io/flux/components/helm/helmreleases/"
        "#helmrelease-status\nconditions:\n- status: 'True'\n  type: Ready\n"
        "observedGeneration: 2\n", id="keys-sorted"),
])
def test_status_text(kind: str, obj: dict[str, Any], expected: str) -> None:
    assert status_text(kind, obj) == expected


@pytest.mark.parametrize(("obj", "body"), [
    pytest.param({"status": {}}, "[]\n", id="none"),
    pytest.param({"status": {"history": [{"digest": "sha256:1", "totalReconciliations": 3}]}},
                 "- digest: sha256:1\n  totalReconciliations: 3\n", id="one"),
])
def test_history_text(obj: dict[str, Any], body: str) -> None:
    assert history_text("Kustomization", obj) == (
        "# History documentation: https://fluxcd.io/flux/components/kustomize/"
        "kustomizations/#history\n" + body)


@pytest.mark.parametrize(("variables", "expected"), [
    pytest.param({}, "", id="empty"),
    pytest.param({"b": "2", "A": "1", "a_b": "x=y"}, "A=1\na_b=x=y\nb=2\n", id="sorted-bytewise"),
])
def test_vars_text(variables: dict[str, str], expected: str) -> None:
    assert vars_text(variables) == expected


@pytest.mark.parametrize(("values", "expected"), [
    pytest.param({}, "{}\n", id="empty"),
    pytest.param({"z": 1, "a": {"y": True, "b": "two\nlines\n"}},
                 "a:\n  b: |\n    two\n    lines\n  y: true\nz: 1\n", id="sorted-blocks"),
])
def test_values_yaml(values: dict[str, Any], expected: str) -> None:
    assert values_yaml(values) == expected


@pytest.mark.parametrize(("flags", "expected"), [
    pytest.param([("--a", False), ("--b", False)], None, id="none"),
    pytest.param([("--a", True), ("--b", False)], "--a", id="one"),
    pytest.param([("--a", True), ("--b", True)], None, id="two"),
])
def test_chosen(flags: list[tuple[str, bool]], expected: str | None) -> None:
    assert chosen(flags) == expected
