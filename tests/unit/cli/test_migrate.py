"""`afflux migrate`: the pure rewrite of file texts (afflux.cli._migrate.migrate_text), on
sample files shaped like Flux's older example repositories."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from afflux.cli._migrate import migrate_text

SAMPLES = Path(__file__).parent / "migrate_samples"


def test_apiversion_only_changes_keep_every_other_byte() -> None:
    text = (SAMPLES / "sync.yaml").read_text()
    new, changes = migrate_text(text)
    assert [(c.kind, c.old, c.new, c.rewritten) for c in changes] == [
        ("GitRepository", "source.toolkit.fluxcd.io/v1beta2", "source.toolkit.fluxcd.io/v1",
         False),
        ("Kustomization", "kustomize.toolkit.fluxcd.io/v1beta2",
         "kustomize.toolkit.fluxcd.io/v1", False),
    ]
    assert new == text.replace("source.toolkit.fluxcd.io/v1beta2", "source.toolkit.fluxcd.io/v1"
                               ).replace("kustomize.toolkit.fluxcd.io/v1beta2",
                                         "kustomize.toolkit.fluxcd.io/v1")
    assert "# the source" in new and "# poll every minute" in new


def test_field_moves_rewrite_only_that_document() -> None:
    text = (SAMPLES / "release.yaml").read_text()
    new, changes = migrate_text(text)
    assert [(c.kind, c.new, c.rewritten) for c in changes] == [
        ("HelmRelease", "helm.toolkit.fluxcd.io/v2", True),
        ("HelmRepository", "source.toolkit.fluxcd.io/v1", False),
    ]
    docs = list(yaml.safe_load_all(new))
    assert docs[0]["spec"]["chart"]["spec"]["valuesFiles"] == ["values-prod.yaml"]
    assert "valuesFile" not in docs[0]["spec"]["chart"]["spec"]
    assert new.startswith("# podinfo, as Flux 2.0 wrote it\napiVersion: helm.toolkit.fluxcd.io/v2\n")
    assert "interval: 5m   # keep this comment" in new
    assert docs[2] == {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "untouched"}}
    again, more = migrate_text(new)
    assert again == new and more == []


CASES = [
    ("kustomization-patches-moved",
     "apiVersion: kustomize.toolkit.fluxcd.io/v1beta2\nkind: Kustomization\nmetadata:\n"
     "  name: a\nspec:\n  prune: true\n  validation: client\n  patchesStrategicMerge:\n"
     "  - apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: c\n",
     lambda d: "validation" not in d["spec"] and "name: c" in d["spec"]["patches"][0]["patch"]),
    ("receiver-v1beta2-to-v1",
     "apiVersion: notification.toolkit.fluxcd.io/v1beta2\nkind: Receiver\nmetadata:\n"
     "  name: r\n", lambda d: d["apiVersion"] == "notification.toolkit.fluxcd.io/v1"),
    ("alert-v1beta2-to-v1beta3",
     "apiVersion: notification.toolkit.fluxcd.io/v1beta2\nkind: Alert\nmetadata:\n  name: a\n",
     lambda d: d["apiVersion"] == "notification.toolkit.fluxcd.io/v1beta3"),
    ("image-policy-v1beta2-to-v1",
     "apiVersion: 'image.toolkit.fluxcd.io/v1beta2'\nkind: ImagePolicy\nmetadata:\n  name: p\n",
     lambda d: d["apiVersion"] == "image.toolkit.fluxcd.io/v1"),
]


@pytest.mark.parametrize(("text", "check"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_migrate_document(text: str, check) -> None:
    new, changes = migrate_text(text)
    assert len(changes) == 1
    assert check(yaml.safe_load(new))


def test_current_versions_and_other_objects_are_left_alone() -> None:
    text = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n---\n"
            "apiVersion: apps/v1\nkind: Deployment\n")
    assert migrate_text(text) == (text, [])


def test_a_helm_template_gets_its_apiversion_line() -> None:
    text = ("apiVersion: helm.toolkit.fluxcd.io/v2beta2\nkind: HelmRelease\nmetadata:\n"
            "  name: {{ .Values.name }}\n  labels: {{- include \"x\" . | nindent 4 }}\n")
    new, changes = migrate_text(text)
    assert new == text.replace("v2beta2", "v2")
    assert [c.kind for c in changes] == ["HelmRelease"]
