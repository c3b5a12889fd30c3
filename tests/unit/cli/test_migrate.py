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


IMAGE_POLICY = "apiVersion: image.toolkit.fluxcd.io/{}\nkind: ImagePolicy\nmetadata:\n  name: p\n"


@pytest.mark.parametrize(
    ("version", "old", "new"),
    [
        pytest.param(None, "v1beta2", "v1", id="default-newest"),
        pytest.param("2.9", "v1beta1", "v1", id="2.9"),
        pytest.param("2.7", "v1beta2", "v1", id="2.7"),
        pytest.param("2.6", "v1beta1", "v1beta2", id="2.6-images-at-v1beta2"),
        pytest.param("2.6", "v1", "v1beta2", id="2.6-moves-v1-back-as-flux"),
        pytest.param("2.6", "v1beta2", None, id="2.6-nothing-to-do"),
    ],
)
def test_migrate_to_a_flux_minor(version: str | None, old: str, new: str | None) -> None:
    text, changes = migrate_text(IMAGE_POLICY.format(old), version)
    if new is None:
        assert (text, changes) == (IMAGE_POLICY.format(old), [])
    else:
        assert text == IMAGE_POLICY.format(new)
        assert [(c.old, c.new) for c in changes] == [
            (f"image.toolkit.fluxcd.io/{old}", f"image.toolkit.fluxcd.io/{new}")]


def test_migrate_version_and_yes_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from afflux.cli import _prompt, main

    file = tmp_path / "p.yaml"
    file.write_text(IMAGE_POLICY.format("v1beta1"))
    assert main(["migrate", "-f", str(tmp_path), "--version", "1.0"]) == 1
    assert "version 1.0 is not supported, supported versions are: 2.9, 2.8, 2.7, 2.6" in \
        capsys.readouterr().err
    # on a terminal the changes are listed and asked for; no writes nothing
    monkeypatch.setattr(_prompt, "is_interactive", lambda stdin=None: True)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert main(["migrate", "-f", str(tmp_path), "--version", "2.6"]) == 1
    out = capsys.readouterr()
    assert f"✚ {file}: ImagePolicy/p image.toolkit.fluxcd.io/v1beta1 -> " \
           "image.toolkit.fluxcd.io/v1beta2" in out.out
    assert "aborting: nothing was written" in out.err
    assert file.read_text() == IMAGE_POLICY.format("v1beta1")
    # --yes does not ask (stdin would say no)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert main(["migrate", "-f", str(tmp_path), "--version", "2.6", "--yes"]) == 0
    assert file.read_text() == IMAGE_POLICY.format("v1beta2")
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # a yes goes on
    assert main(["migrate", "-f", str(tmp_path)]) == 0
    assert file.read_text() == IMAGE_POLICY.format("v1")
