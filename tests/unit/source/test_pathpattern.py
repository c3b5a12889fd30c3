"""ArtifactGenerator `spec.pathPattern`: parsing the pattern, matching a tree's directories,
rendering the artifact templates, and the terminal errors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from afflux.api import ArtifactGeneratorError
from afflux.api._source_extensions_v1beta1 import OutputArtifact
from afflux.controllers.source._pathpattern import (
    MAX_GENERATED_ARTIFACTS,
    expand_artifacts,
    parse_path_pattern,
    render_template,
)
from afflux.controllers.source._reconcile_artifactgen import _directories_of

# the directories of a monorepo, in walk order (depth first, names sorted)
TREE = [
    "README.d",
    "apps",
    "apps/Auth",
    "apps/Auth/envs",
    "apps/Auth/envs/prod",
    "apps/Auth/envs/staging",
    "apps/web",
    "apps/web/envs",
    "apps/web/envs/prod",
    "apps/web/src",
    "infra",
    "infra/app-db",
    "infra/app-db/base",
    "infra/cache",
]


def _artifact(name: str, *copies: tuple[str, str], **extra: Any) -> OutputArtifact:
    return OutputArtifact.from_dict({
        "name": name, **extra,
        "copy": [{"from": src, "to": dst, "exclude": ["*.md"]} for src, dst in copies]})


@pytest.mark.parametrize(
    ("text", "alias", "captures", "depth"),
    [
        pytest.param("@mono/apps/{app}", "mono", ("app",), 2, id="one-capture"),
        pytest.param("@mono/apps/{app}/envs/{env}", "mono", ("app", "env"), 4,
                     id="two-captures-with-a-literal-between"),
        pytest.param("@repo-1/infra/app-{name}", "repo-1", ("name",), 2,
                     id="capture-is-part-of-a-segment"),
        pytest.param("@mono/{Team_1}", "mono", ("Team_1",), 1, id="capture-name-case-kept"),
        pytest.param("@mono/apps/web", "mono", (), 2, id="no-capture-one-literal-directory"),
    ],
)
def test_parse_path_pattern(text: str, alias: str, captures: tuple[str, ...],
                            depth: int) -> None:
    pattern = parse_path_pattern(text)
    assert (pattern.alias, pattern.captures, pattern.depth) == (alias, captures, depth)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("mono/apps/{app}", "want @<alias>/<directory pattern>", id="no-alias"),
        pytest.param("@mono/apps/{app", "'{' at offset 5 has no closing brace",
                     id="unclosed-brace"),
        pytest.param("@mono/apps/app}", "'}' at offset 8 has no opening brace",
                     id="closing-brace-alone"),
        pytest.param("@mono/apps/{}", "empty capture name", id="empty-capture"),
        pytest.param("@mono/apps/{1app}", "capture name '1app' must match",
                     id="capture-name-starts-with-a-digit"),
        pytest.param("@mono/apps/{a-b}", "capture name 'a-b' must match",
                     id="capture-name-with-a-dash"),
        pytest.param("@mono/{app}/x/{app}", "duplicate capture name(s) app",
                     id="duplicate-capture"),
        pytest.param("@mono/apps/{_app}", "capture name '_app' is not a valid label key",
                     id="capture-name-not-a-label-key"),
        pytest.param("@mono/{" + "a" * 64 + "}", "is not a valid label key",
                     id="capture-name-too-long-for-a-label"),
    ],
)
def test_parse_path_pattern_refuses(text: str, message: str) -> None:
    with pytest.raises(ArtifactGeneratorError) as err:
        parse_path_pattern(text)
    assert err.value.reason == "BuildFailed"
    assert message in err.value.message
    assert err.value.message.startswith(f"pathPattern '{text}': ")


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        pytest.param("{app}-{env}", {"app": "auth", "env": "prod"}, "auth-prod",
                     id="two-captures"),
        pytest.param("@mono/apps/{app}/**", {"app": "Auth"}, "@mono/apps/Auth/**",
                     id="in-a-copy-source"),
        pytest.param("static", {"app": "x"}, "static", id="no-placeholder"),
        pytest.param("{app}{app}", {"app": "x"}, "xx", id="repeated-placeholder"),
    ],
)
def test_render_template(template: str, values: dict[str, str], expected: str) -> None:
    assert render_template(template, values) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        pytest.param("{env}", "'{env}' is not a capture of the pathPattern",
                     id="unknown-capture"),
        pytest.param("{app", "has no closing brace", id="unclosed"),
    ],
)
def test_render_template_refuses(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_template(template, {"app": "x"})


@pytest.mark.parametrize(
    ("pattern", "artifacts", "expected"),
    [
        pytest.param(
            "@mono/apps/{app}",
            [_artifact("{app}", ("@mono/apps/{app}/**", "@artifact/"))],
            [("auth", ["@mono/apps/Auth/**"], ["@artifact/"], {"app": "auth"}, "apps/Auth"),
             ("web", ["@mono/apps/web/**"], ["@artifact/"], {"app": "web"}, "apps/web")],
            id="one-artifact-per-directory-name-lowercased-path-as-captured"),
        pytest.param(
            "@mono/apps/{app}/envs/{env}",
            [_artifact("{app}-{env}", ("@mono/apps/{app}/envs/{env}/**", "@artifact/{env}/"))],
            [("auth-prod", ["@mono/apps/Auth/envs/prod/**"], ["@artifact/prod/"],
              {"app": "auth", "env": "prod"}, "apps/Auth/envs/prod"),
             ("auth-staging", ["@mono/apps/Auth/envs/staging/**"], ["@artifact/staging/"],
              {"app": "auth", "env": "staging"}, "apps/Auth/envs/staging"),
             ("web-prod", ["@mono/apps/web/envs/prod/**"], ["@artifact/prod/"],
              {"app": "web", "env": "prod"}, "apps/web/envs/prod")],
            id="two-captures-only-whole-paths-match"),
        pytest.param(
            "@mono/infra/app-{name}",
            [_artifact("db-{name}", ("@mono/infra/app-{name}/", "@artifact/")),
             _artifact("cfg-{name}", ("@mono/README.d/**", "@artifact/"))],
            [("db-db", ["@mono/infra/app-db/"], ["@artifact/"], {"name": "db"}, "infra/app-db"),
             ("cfg-db", ["@mono/README.d/**"], ["@artifact/"], {"name": "db"},
              "infra/app-db")],
            id="partial-segment-and-every-template-per-match"),
        pytest.param(
            "@mono/apps/web",
            [_artifact("web", ("@mono/apps/web/**", "@artifact/"))],
            [("web", ["@mono/apps/web/**"], ["@artifact/"], {}, "apps/web")],
            id="no-capture-matches-the-literal-directory"),
        pytest.param(
            "@mono/charts/{chart}", [_artifact("{chart}", ("@mono/charts/{chart}/", "@artifact/"))],
            [], id="no-match-no-artifacts"),
        pytest.param(
            "@mono/apps/{app}/",
            [_artifact("{app}", ("@mono/apps/{app}/", "@artifact/"))],
            [], id="trailing-slash-matches-nothing"),
    ],
)
def test_expand_artifacts(pattern: str, artifacts: list[OutputArtifact],
                          expected: list[tuple[Any, ...]]) -> None:
    requests = expand_artifacts(parse_path_pattern(pattern), artifacts, TREE)
    assert [(r.artifact.name, [op.from_ for op in r.artifact.copy],
             [op.to for op in r.artifact.copy], dict(r.labels), r.directory)
            for r in requests] == expected
    for request in requests:  # what is not a template is kept
        assert all(op.exclude == ["*.md"] for op in request.artifact.copy)


def test_expand_keeps_revision_fields_and_leaves_the_spec_alone() -> None:
    template = _artifact("{app}", ("@mono/apps/{app}/", "@artifact/"), revision="@mono",
                         originRevision="@mono")
    (request, _) = expand_artifacts(parse_path_pattern("@mono/apps/{app}"), [template], TREE)
    assert (request.artifact.revision, request.artifact.origin_revision) == ("@mono", "@mono")
    assert template.name == "{app}" and template.copy[0].from_ == "@mono/apps/{app}/"


@pytest.mark.parametrize(
    ("pattern", "directories", "name", "message"),
    [
        pytest.param("@m/apps/{app}", ["apps/.hidden"], "{app}",
                     "directory 'apps/.hidden': the value '.hidden' of {app} is not a valid "
                     "label value", id="dot-directory-is-not-a-label-value"),
        pytest.param("@m/apps/{app}", ["apps/" + "a" * 64], "{app}",
                     "is not a valid label value", id="directory-name-over-63-characters"),
        pytest.param("@m/apps/{app}", ["apps/my app"], "{app}",
                     "the value 'my app' of {app}", id="space-in-directory-name"),
        pytest.param("@m/apps/{app}", ["apps/Auth", "apps/auth"], "{app}",
                     "directories 'apps/Auth' and 'apps/auth' both render the artifact name "
                     "'auth'", id="names-collide-after-lowercasing"),
        pytest.param("@m/apps/{app}", ["apps/a", "apps/b"], "static",
                     "directories 'apps/a' and 'apps/b' both render the artifact name "
                     "'static'", id="name-without-placeholder-collides"),
        pytest.param("@m/apps/{app}", ["apps/my_app"], "{app}",
                     "renders the artifact name 'my_app', which is not a DNS subdomain name",
                     id="label-value-but-not-a-dns-name"),
        pytest.param("@m/apps/{app}", ["apps/a"], "{app}-{env}",
                     "artifact '{app}-{env}' for directory 'apps/a': '{env}' is not a capture",
                     id="template-names-an-unknown-capture"),
    ],
)
def test_expand_artifacts_refuses(pattern: str, directories: list[str], name: str,
                                  message: str) -> None:
    template = _artifact(name, ("@m/apps/{app}/", "@artifact/"))
    with pytest.raises(ArtifactGeneratorError) as err:
        expand_artifacts(parse_path_pattern(pattern), [template], directories)
    assert err.value.reason == "BuildFailed"
    assert message in err.value.message


@pytest.mark.parametrize(
    ("count", "templates", "fails"),
    [
        pytest.param(MAX_GENERATED_ARTIFACTS, 1, False, id="at-the-limit"),
        pytest.param(MAX_GENERATED_ARTIFACTS + 1, 1, True, id="one-directory-over"),
        pytest.param(MAX_GENERATED_ARTIFACTS // 2 + 1, 2, True, id="two-templates-over"),
    ],
)
def test_expand_artifacts_is_bounded(count: int, templates: int, fails: bool) -> None:
    artifacts = [_artifact(f"t{i}-{{n}}", ("@m/d/{n}/", "@artifact/")) for i in range(templates)]
    directories = (f"d/{i}" for i in range(count))
    if not fails:
        assert len(expand_artifacts(parse_path_pattern("@m/d/{n}"), artifacts,
                                    directories)) == count * templates
        return
    with pytest.raises(ArtifactGeneratorError, match="generates more than 1000 artifacts"):
        expand_artifacts(parse_path_pattern("@m/d/{n}"), artifacts, directories)


def test_directories_walk_depth_first_sorted_bounded_and_without_symlinks(tmp_path: Path
                                                                         ) -> None:
    for directory in ("b/x/deep/deeper", "a-b", "a/z", "a/y", "c"):
        (tmp_path / directory).mkdir(parents=True)
    (tmp_path / "file").write_text("not a directory")
    os.symlink(tmp_path / "a", tmp_path / "link")
    assert list(_directories_of(tmp_path, 2)) == [
        "a", "a/y", "a/z", "a-b", "b", "b/x", "c"]
    assert list(_directories_of(tmp_path, 1)) == ["a", "a-b", "b", "c"]
