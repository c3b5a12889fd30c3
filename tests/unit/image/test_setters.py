"""Setter markers: byte-exact rewrites of marked values, and the changes they report."""

from __future__ import annotations

from pathlib import Path

import pytest

from afflux.controllers.image_automation._setters import (
    Change,
    ObjectIdentifier,
    PolicyImage,
    SetterError,
    parse_marker,
    render_scalar,
    set_images,
    update_with_setters,
)

POLICIES = {
    "flux-system:app": PolicyImage("ghcr.io/org/app", "1.2.0"),
    "flux-system:pinned": PolicyImage("ghcr.io/org/pinned", "2.0.0", "sha256:" + "b" * 64),
    "flux-system:numeric": PolicyImage("ghcr.io/org/num", "1.10"),
}
M_APP = '# {"$imagepolicy": "flux-system:app"}'
D = "sha256:" + "b" * 64

CASES = [
    # (id, before, after)
    (
        "deployment-list-item-whole-ref",
        "spec:\n  containers:\n    - name: app\n      image: ghcr.io/org/app:1.0.0 " + M_APP + "\n",
        "spec:\n  containers:\n    - name: app\n      image: ghcr.io/org/app:1.2.0 " + M_APP + "\n",
    ),
    (
        "list-item-key-on-dash-line",
        "containers:\n- image: ghcr.io/org/app:1.0.0 " + M_APP + "\n  name: app\n",
        "containers:\n- image: ghcr.io/org/app:1.2.0 " + M_APP + "\n  name: app\n",
    ),
    (
        "plain-sequence-scalar",
        "images:\n  - ghcr.io/org/app:1.0.0 " + M_APP + "\n",
        "images:\n  - ghcr.io/org/app:1.2.0 " + M_APP + "\n",
    ),
    (
        "double-quoted-kept",
        'image: "ghcr.io/org/app:1.0.0" ' + M_APP + "\n",
        'image: "ghcr.io/org/app:1.2.0" ' + M_APP + "\n",
    ),
    (
        "single-quoted-kept",
        "image: 'ghcr.io/org/app:1.0.0' " + M_APP + "\n",
        "image: 'ghcr.io/org/app:1.2.0' " + M_APP + "\n",
    ),
    (
        "crlf-line-ends-kept",
        "a: 1\r\nimage: ghcr.io/org/app:1.0.0 " + M_APP + "\r\nb: 2\r\n",
        "a: 1\r\nimage: ghcr.io/org/app:1.2.0 " + M_APP + "\r\nb: 2\r\n",
    ),
    (
        "no-final-newline-kept",
        "image: ghcr.io/org/app:1.0.0 " + M_APP,
        "image: ghcr.io/org/app:1.2.0 " + M_APP,
    ),
    (
        "comments-spacing-and-order-kept",
        "# top\nz: 1   # keep\nimage:   ghcr.io/org/app:1.0.0     " + M_APP + "\na:  [x,  y]\n",
        "# top\nz: 1   # keep\nimage:   ghcr.io/org/app:1.2.0     " + M_APP + "\na:  [x,  y]\n",
    ),
    (
        "helm-values-name-tag-digest",
        "image:\n"
        '  repository: ghcr.io/old/pinned # {"$imagepolicy": "flux-system:pinned:name"}\n'
        '  tag: 1.0.0 # {"$imagepolicy": "flux-system:pinned:tag"}\n'
        '  digest: sha256:aaa # {"$imagepolicy": "flux-system:pinned:digest"}\n',
        "image:\n"
        '  repository: ghcr.io/org/pinned # {"$imagepolicy": "flux-system:pinned:name"}\n'
        '  tag: 2.0.0 # {"$imagepolicy": "flux-system:pinned:tag"}\n'
        f'  digest: {D} # {{"$imagepolicy": "flux-system:pinned:digest"}}\n',
    ),
    (
        "whole-ref-with-digest-reflection",
        'image: ghcr.io/org/pinned:1.0.0 # {"$imagepolicy": "flux-system:pinned"}\n',
        f'image: ghcr.io/org/pinned:2.0.0@{D} # {{"$imagepolicy": "flux-system:pinned"}}\n',
    ),
    (
        "digest-setter-without-digest-left-alone",
        'digest: sha256:aaa # {"$imagepolicy": "flux-system:app:digest"}\n',
        'digest: sha256:aaa # {"$imagepolicy": "flux-system:app:digest"}\n',
    ),
    (
        "plain-tag-that-would-read-as-number-is-quoted",
        'tag: "1.9" # {"$imagepolicy": "flux-system:numeric:tag"}\nother: 1.9 # {"$imagepolicy": "flux-system:numeric:tag"}\n',
        'tag: "1.10" # {"$imagepolicy": "flux-system:numeric:tag"}\nother: "1.10" # {"$imagepolicy": "flux-system:numeric:tag"}\n',
    ),
    (
        "kustomization-images-new-tag",
        'images:\n- name: ghcr.io/org/app\n  newTag: 1.0.0 # {"$imagepolicy": "flux-system:app:tag"}\n',
        'images:\n- name: ghcr.io/org/app\n  newTag: 1.2.0 # {"$imagepolicy": "flux-system:app:tag"}\n',
    ),
    (
        "compact-json-marker",
        'image: ghcr.io/org/app:1.0.0 #{"$imagepolicy":"flux-system:app"}\n',
        'image: ghcr.io/org/app:1.2.0 #{"$imagepolicy":"flux-system:app"}\n',
    ),
    (
        "anchor-kept",
        "image: &img ghcr.io/org/app:1.0.0 " + M_APP + "\ncopy: *img\n",
        "image: &img ghcr.io/org/app:1.2.0 " + M_APP + "\ncopy: *img\n",
    ),
    (
        "two-markers-one-file",
        "a: ghcr.io/org/app:0.1 " + M_APP + "\nb: ghcr.io/org/app:0.2 " + M_APP + "\n",
        "a: ghcr.io/org/app:1.2.0 " + M_APP + "\nb: ghcr.io/org/app:1.2.0 " + M_APP + "\n",
    ),
    ("unknown-policy-untouched", 'image: x:1 # {"$imagepolicy": "other:app"}\n', None),
    ("unknown-part-untouched", 'image: x:1 # {"$imagepolicy": "flux-system:app:size"}\n', None),
    ("not-json-untouched", "image: x:1 # $imagepolicy flux-system:app\n", None),
    ("already-current-untouched", "image: ghcr.io/org/app:1.2.0 " + M_APP + "\n", None),
    (
        "marker-in-block-scalar-untouched",
        "data:\n  file.yaml: |\n    image: x:1 " + M_APP + "\n",
        None,
    ),
    ("marker-on-comment-line-untouched", M_APP + "\nimage: x:1\n", None),
    ("marker-after-flow-sequence-untouched", "image: [x:1] " + M_APP + "\n", None),
    ("marker-after-key-without-value-untouched", "image: " + M_APP + "\n", None),
    ("invalid-yaml-untouched", "image: x:1 " + M_APP + "\n  bad: [\n", None),
    ("marker-on-key-line-of-mapping-untouched", "image: " + M_APP + "\n  name: x\n", None),
]


@pytest.mark.parametrize(("before", "after"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rewrite_is_byte_exact(before: str, after: str | None) -> None:
    new_text, changes = set_images(before, POLICIES)
    assert new_text == (before if after is None else after)
    assert bool(changes) is (after is not None and after != before)


def test_changes_name_the_object_and_setter() -> None:
    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: prod\n"
        "spec:\n  image: ghcr.io/org/app:1.0.0 " + M_APP + "\n"
        "---\n"
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: chart\n"
        'spec:\n  values:\n    tag: 1.0.0 # {"$imagepolicy": "flux-system:pinned:tag"}\n'
        "---\n"
        'images:\n- name: x\n  newTag: 0.9 # {"$imagepolicy": "flux-system:app:tag"}\n'
    )
    _, changes = set_images(text, POLICIES)
    assert changes == [
        (
            ObjectIdentifier("apps/v1", "Deployment", "web", "prod"),
            Change("ghcr.io/org/app:1.0.0", "ghcr.io/org/app:1.2.0", "flux-system:app"),
        ),
        (
            ObjectIdentifier("helm.toolkit.fluxcd.io/v2", "HelmRelease", "chart", ""),
            Change("1.0.0", "2.0.0", "flux-system:pinned:tag"),
        ),
        (ObjectIdentifier(), Change("0.9", "1.2.0", "flux-system:app:tag")),
    ]


def test_policies_as_status_dicts() -> None:
    text = "image: a:1 " + M_APP + "\n"
    new, _ = set_images(text, {"flux-system:app": {"name": "a", "tag": "2", "digest": None}})
    assert new == "image: a:2 " + M_APP + "\n"


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        (' {"$imagepolicy": "ns:p"}', ("ns:p", None)),
        (' {"$imagepolicy": "ns:p:tag"}', ("ns:p", "tag")),
        (' {"$imagepolicy": "ns:p:name"}', ("ns:p", "name")),
        (' {"$imagepolicy": "ns:p:digest"}', ("ns:p", "digest")),
        (' {"$imagepolicy": "p"}', None),
        (' {"$imagepolicy": "ns:p:tag:x"}', None),
        (' {"$imagepolicy": 3}', None),
        (" just a comment", None),
    ],
    ids=[
        "whole",
        "tag",
        "name",
        "digest",
        "no-namespace",
        "too-many-parts",
        "not-a-string",
        "plain-comment",
    ],
)
def test_parse_marker(comment: str, expected: tuple[str, str | None] | None) -> None:
    assert parse_marker(comment) == expected


@pytest.mark.parametrize(
    ("value", "style", "expected"),
    [
        ("1.2.0", None, "1.2.0"),
        ("1.10", None, '"1.10"'),
        ("yes", None, '"yes"'),
        ("a: b", None, '"a: b"'),
        ("it's", "'", "'it''s'"),
        ('say "hi"', '"', '"say \\"hi\\""'),
    ],
    ids=[
        "plain-string",
        "plain-float-quoted",
        "plain-bool-quoted",
        "plain-unsafe-quoted",
        "single-escapes",
        "double-escapes",
    ],
)
def test_render_scalar(value: str, style: str | None, expected: str) -> None:
    assert render_scalar(value, style) == expected


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)


def test_update_with_setters_walks_yaml_files(tmp_path: Path) -> None:
    marked = "image: ghcr.io/org/app:1.0.0 " + M_APP + "\n"
    write(
        tmp_path,
        {
            "apps/web/deploy.yaml": "kind: Deployment\nmetadata:\n  name: web\n" + marked,
            "apps/web/values.yml": marked,
            "apps/Kustomization": marked,
            "apps/notes.txt": marked,
            ".git/config.yaml": marked,
            "other/outside.yaml": marked,
        },
    )
    (tmp_path / "apps/link.yaml").symlink_to(tmp_path / "other/outside.yaml")
    result = update_with_setters(tmp_path, "./apps", POLICIES)
    assert sorted(result.file_changes) == ["Kustomization", "web/deploy.yaml", "web/values.yml"]
    assert (tmp_path / "apps/web/values.yml").read_text() == marked.replace("1.0.0", "1.2.0")
    for untouched in ("apps/notes.txt", ".git/config.yaml", "other/outside.yaml"):
        assert (tmp_path / untouched).read_text() == marked
    change = Change("ghcr.io/org/app:1.0.0", "ghcr.io/org/app:1.2.0", "flux-system:app")
    assert result.changes() == [change]  # distinct changes only
    assert result.objects()[ObjectIdentifier("", "Deployment", "web", "")] == [change]


def test_update_with_setters_without_changes_writes_nothing(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": "image: ghcr.io/org/app:1.2.0 " + M_APP + "\n"})
    before = (tmp_path / "a.yaml").stat().st_mtime_ns
    result = update_with_setters(tmp_path, None, POLICIES)
    assert not result
    assert (tmp_path / "a.yaml").stat().st_mtime_ns == before


@pytest.mark.parametrize("path", ["../elsewhere", "missing-dir"], ids=["escapes-repo", "missing"])
def test_bad_update_path(tmp_path: Path, path: str) -> None:
    (tmp_path / "repo").mkdir()
    with pytest.raises(SetterError):
        update_with_setters(tmp_path / "repo", path, POLICIES)
