"""ArtifactGenerator copy planning: cp-like paths, globs, excludes, Merge and digests."""

from __future__ import annotations

import pytest

from afflux.api import ArtifactGeneratorError
from afflux.controllers.source._copyplan import (
    CopyStep,
    content_digest,
    glob_regex,
    merge_values,
    parse_from,
    parse_to,
    plan_copy,
)

FILES = [
    "config.yaml",
    "configs/a.yaml",
    "configs/b.yaml",
    "configs/README.md",
    "configs/sub/c.yaml",
    "configs/sub/testdata/t.yaml",
    "infrastructure/controllers/kustomization.yaml",
    "infrastructure/configs/cm.yaml",
    "apps/base/podinfo/release.yaml",
    "apps/staging/kustomization.yaml",
]


@pytest.mark.parametrize(
    ("source", "to", "exclude", "expected"),
    [
        pytest.param("config.yaml", "", (), [("config.yaml", "config.yaml")],
                     id="file-into-root"),
        pytest.param("config.yaml", "apps/app.yaml", (), [("config.yaml", "apps/app.yaml")],
                     id="file-renamed"),
        pytest.param("config.yaml", "apps/", (), [("config.yaml", "apps/config.yaml")],
                     id="file-into-directory"),
        pytest.param("configs/*.yaml", "apps/", (),
                     [("configs/a.yaml", "apps/a.yaml"), ("configs/b.yaml", "apps/b.yaml")],
                     id="star-stays-in-one-directory"),
        pytest.param("configs/**", "apps/", ("*.md", "**/testdata/**"),
                     [("configs/a.yaml", "apps/a.yaml"), ("configs/b.yaml", "apps/b.yaml"),
                      ("configs/sub/c.yaml", "apps/sub/c.yaml")],
                     id="double-star-strips-the-prefix-with-excludes"),
        pytest.param("configs/", "apps/", ("**/testdata/**", "README.md"),
                     [("configs/a.yaml", "apps/configs/a.yaml"),
                      ("configs/b.yaml", "apps/configs/b.yaml"),
                      ("configs/sub/c.yaml", "apps/configs/sub/c.yaml")],
                     id="directory-copied-as-subdirectory"),
        pytest.param("configs/sub", "", (),
                     [("configs/sub/c.yaml", "sub/c.yaml"),
                      ("configs/sub/testdata/t.yaml", "sub/testdata/t.yaml")],
                     id="directory-without-slash-like-cp-r"),
        pytest.param("infrastructure/**", "", (),
                     [("infrastructure/configs/cm.yaml", "configs/cm.yaml"),
                      ("infrastructure/controllers/kustomization.yaml",
                       "controllers/kustomization.yaml")],
                     id="flux2-kustomize-helm-example-infrastructure"),
        pytest.param("apps/base/**", "base/", (),
                     [("apps/base/podinfo/release.yaml", "base/podinfo/release.yaml")],
                     id="flux2-kustomize-helm-example-apps-base"),
        pytest.param("", "", ("configs/**", "apps/**", "infrastructure/**"),
                     [("config.yaml", "config.yaml")], id="root-with-excludes"),
        pytest.param("**/kustomization.yaml", "k/", (),
                     [("apps/staging/kustomization.yaml", "k/apps/staging/kustomization.yaml"),
                      ("infrastructure/controllers/kustomization.yaml",
                       "k/infrastructure/controllers/kustomization.yaml")],
                     id="leading-double-star"),
    ],
)
def test_plan_copy(source: str, to: str, exclude: tuple[str, ...],
                   expected: list[tuple[str, str]]) -> None:
    steps = plan_copy(FILES, "src", source, to, exclude)
    assert steps == [CopyStep(s, d) for s, d in expected]


@pytest.mark.parametrize(
    ("source", "to", "reason", "fragment"),
    [
        pytest.param("missing.yaml", "x.yaml", "BuildFailed", "no files match '@src/missing.yaml'",
                     id="missing-file"),
        pytest.param("configs/*.json", "x/", "BuildFailed", "no files match", id="no-glob-match"),
        pytest.param("../etc/passwd", "x", "ValidationFailed", "leaves the artifact root",
                     id="parent-in-source"),
    ],
)
def test_plan_copy_errors(source: str, to: str, reason: str, fragment: str) -> None:
    with pytest.raises(ArtifactGeneratorError) as caught:
        plan_copy(FILES, "src", source, to)
    assert caught.value.reason == reason
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("@monorepo/apps/**", ("monorepo", "apps/**"), id="alias-and-glob"),
        pytest.param("@a_b-1/", ("a_b-1", ""), id="root"),
    ],
)
def test_parse_from(text: str, expected: tuple[str, str]) -> None:
    assert parse_from(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("@artifact/", "", id="root"),
        pytest.param("@artifact/base/", "base/", id="directory"),
        pytest.param("@artifact/./a//b.yaml", "a/b.yaml", id="normalised"),
    ],
)
def test_parse_to(text: str, expected: str) -> None:
    assert parse_to(text) == expected


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        pytest.param(parse_to, "@artifact/../x", id="to-parent"),
        pytest.param(parse_to, "@other/x", id="to-not-artifact"),
        pytest.param(parse_from, "backend/x", id="from-no-alias"),
        pytest.param(parse_from, "@Bad/x", id="from-uppercase-alias"),
    ],
)
def test_parse_rejects(parse: object, text: str) -> None:
    with pytest.raises(ArtifactGeneratorError) as caught:
        parse(text)  # type: ignore[operator]
    assert caught.value.reason == "ValidationFailed"


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        pytest.param("*.yaml", "a.yaml", True, id="star"),
        pytest.param("*.yaml", "d/a.yaml", False, id="star-not-across-dirs"),
        pytest.param("**/*.yaml", "a.yaml", True, id="double-star-zero-dirs"),
        pytest.param("**/*.yaml", "d/e/a.yaml", True, id="double-star-many-dirs"),
        pytest.param("a?.txt", "ab.txt", True, id="question-mark"),
        pytest.param("[!a]*.txt", "b.txt", True, id="negated-class"),
        pytest.param("a.yaml", "axyaml", False, id="dot-is-literal"),
    ],
)
def test_glob_regex(pattern: str, path: str, matches: bool) -> None:
    assert bool(glob_regex(pattern).match(path)) is matches


@pytest.mark.parametrize(
    ("base", "overlay", "expected"),
    [
        pytest.param({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}, {"a": {"b": 1, "c": 3}},
                     id="deep-maps"),
        pytest.param({"l": [1, 2]}, {"l": [3]}, {"l": [3]}, id="lists-replaced"),
        pytest.param({"a": 1}, {"b": 2}, {"a": 1, "b": 2}, id="new-keys"),
        pytest.param({"a": {"b": 1}}, {"a": None}, {"a": None}, id="null-replaces"),
        pytest.param("scalar", {"a": 1}, {"a": 1}, id="map-over-scalar"),
    ],
)
def test_merge_values(base: object, overlay: object, expected: object) -> None:
    assert merge_values(base, overlay) == expected


def test_content_digest_ignores_order_and_sees_paths_and_content() -> None:
    one = content_digest([("a", b"1"), ("b", b"2")])
    assert one == content_digest([("b", b"2"), ("a", b"1")])
    assert one != content_digest([("a", b"1"), ("c", b"2")])
    assert one != content_digest([("a", b"1"), ("b", b"3")])
    assert one.startswith("sha256:") and len(one) == 7 + 64


def _gen(namespace: str, name: str, *sources: dict[str, str]) -> dict[str, object]:
    return {"metadata": {"namespace": namespace, "name": name},
            "spec": {"sources": list(sources)}}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(("GitRepository", "apps", "repo"), [("apps", "one")], id="same-namespace"),
        pytest.param(("GitRepository", "infra", "repo"), [("apps", "two")],
                     id="cross-namespace-source"),
        pytest.param(("OCIRepository", "apps", "repo"), [], id="other-kind"),
        pytest.param(("GitRepository", "apps", "other"), [], id="other-name"),
    ],
)
def test_generators_using(source: tuple[str, str, str], expected: list[tuple[str, str]]) -> None:
    from afflux.controllers.source._reconcile_artifactgen import generators_using

    generators = [
        _gen("apps", "one", {"alias": "a", "kind": "GitRepository", "name": "repo"}),
        _gen("apps", "two", {"alias": "a", "kind": "GitRepository", "name": "repo",
                             "namespace": "infra"}),
    ]
    assert generators_using(generators, *source) == expected
