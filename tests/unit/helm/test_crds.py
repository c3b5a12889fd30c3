"""The CRD policies of install and upgrade."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from afflux.controllers.helm._crds import chart_crds, crd_policy, crds_to_apply

from .objects import helm_release


@pytest.mark.parametrize(("spec", "verb", "policy"), [
    pytest.param({}, "install", "Create", id="install-default-create"),
    pytest.param({}, "upgrade", "Skip", id="upgrade-default-skip"),
    pytest.param({"install": {"skipCRDs": True}}, "install", "Skip", id="skipCRDs"),
    pytest.param({"install": {"crds": "CreateReplace"}}, "install", "CreateReplace",
                 id="install-create-replace"),
    pytest.param({"upgrade": {"crds": "Create"}}, "upgrade", "Create", id="upgrade-create"),
    pytest.param({"install": {"crds": "Skip"}}, "upgrade", "Skip",
                 id="install-policy-not-used-on-upgrade"),
])
def test_crd_policy(spec: dict[str, Any], verb: str, policy: str) -> None:
    assert crd_policy(helm_release(spec), verb) == policy


def _crd(name: str) -> dict[str, Any]:
    return {"kind": "CustomResourceDefinition", "metadata": {"name": name}}


@pytest.mark.parametrize(("policy", "verb", "applied"), [
    pytest.param("Skip", "upgrade", [], id="skip"),
    pytest.param("Create", "install", [], id="install-create-is-helms"),
    pytest.param("Create", "upgrade", ["b.x"], id="upgrade-create-only-missing"),
    pytest.param("CreateReplace", "install", ["a.x", "b.x"], id="install-create-replace-all"),
    pytest.param("CreateReplace", "upgrade", ["a.x", "b.x"], id="upgrade-create-replace-all"),
])
def test_crds_to_apply(policy: str, verb: str, applied: list[str]) -> None:
    crds = [_crd("a.x"), _crd("b.x")]
    got = crds_to_apply(policy, verb, crds, existing={"a.x"})
    assert [c["metadata"]["name"] for c in got] == applied


def test_chart_crds_reads_the_crds_directory_in_path_order(tmp_path: Path) -> None:
    (tmp_path / "crds" / "sub").mkdir(parents=True)
    (tmp_path / "crds" / "b.yaml").write_text(
        "kind: CustomResourceDefinition\nmetadata: {name: b.x}\n---\n"
        "kind: ConfigMap\nmetadata: {name: not-a-crd}\n")
    (tmp_path / "crds" / "a.yml").write_text("kind: CustomResourceDefinition\n"
                                             "metadata: {name: a.x}\n")
    (tmp_path / "crds" / "sub" / "c.json").write_text(
        '{"kind": "CustomResourceDefinition", "metadata": {"name": "c.x"}}')
    (tmp_path / "crds" / "README.md").write_text("not yaml: [")
    assert [c["metadata"]["name"] for c in chart_crds(tmp_path)] == ["a.x", "b.x", "c.x"]
    assert chart_crds(tmp_path / "nowhere") == []
