"""Ignore rules: gitignore syntax as Flux matches it, defaults, domains, precedence."""

from __future__ import annotations

import pytest

from afflux.controllers.source._ignore import (
    DEFAULT_PATTERNS,
    Matcher,
    default_matcher,
    parse_pattern,
    parse_patterns,
    source_matcher,
    split_path,
)

# (id, ignore file text, path, is_dir, excluded)
SYNTAX = [
    # names at any depth
    ("name-at-root", "foo.yaml", "foo.yaml", False, True),
    ("name-deep", "foo.yaml", "a/b/foo.yaml", False, True),
    ("name-other", "foo.yaml", "bar.yaml", False, False),
    ("name-matches-dir-and-contents", "build", "x/build/out.txt", False, True),
    ("star-glob", "*.txt", "docs/readme.txt", False, True),
    ("star-glob-other-ext", "*.txt", "docs/readme.md", False, False),
    ("star-not-across-slash", "a*b", "a/b", False, False),
    ("question-mark", "file?.txt", "file1.txt", False, True),
    ("question-mark-one-char", "file?.txt", "file12.txt", False, False),
    ("class-range", "v[0-9].yaml", "v7.yaml", False, True),
    ("class-range-miss", "v[0-9].yaml", "vx.yaml", False, False),
    ("class-negated-bang", "v[!0-9].yaml", "vx.yaml", False, True),
    ("class-negated-caret", "v[^0-9].yaml", "v1.yaml", False, False),
    ("malformed-class-matches-nothing", "v[0-9.yaml", "v[0-9.yaml", False, False),
    # anchoring
    ("leading-slash-anchors", "/foo", "foo", False, True),
    ("leading-slash-not-deep", "/foo", "a/foo", False, False),
    ("inner-slash-anchors", "a/foo", "a/foo", False, True),
    ("inner-slash-not-deep", "a/foo", "x/a/foo", False, False),
    ("anchored-dir-covers-contents", "/deploy", "deploy/prod/app.yaml", False, True),
    ("anchored-glob-component", "apps/*.yaml", "apps/web.yaml", False, True),
    ("anchored-glob-deeper", "apps/*.yaml", "apps/web/x.yaml", False, False),
    # directory-only
    ("dir-only-matches-dir", "tmp/", "tmp", True, True),
    ("dir-only-not-file", "tmp/", "tmp", False, False),
    ("dir-only-contents", "tmp/", "a/tmp/x.yaml", False, True),
    ("dir-only-anchored", "/tmp/", "tmp/x", False, True),
    ("dir-only-anchored-file", "/tmp/", "tmp", False, False),
    # double star
    ("double-star-prefix", "**/secret.yaml", "a/b/secret.yaml", False, True),
    ("double-star-prefix-root", "**/secret.yaml", "secret.yaml", False, True),
    ("double-star-middle", "a/**/z.yaml", "a/b/c/z.yaml", False, True),
    ("double-star-middle-zero", "a/**/z.yaml", "a/z.yaml", False, True),
    ("double-star-middle-miss", "a/**/z.yaml", "b/c/z.yaml", False, False),
    ("double-star-suffix", "a/**", "a/b/c", False, True),
    ("double-star-in-component-matches-nothing", "a/x**/b", "a/xy/b", False, False),
    # negation and order
    ("negation-reincludes", "*.yaml\n!keep.yaml", "keep.yaml", False, False),
    ("negation-others-still-out", "*.yaml\n!keep.yaml", "drop.yaml", False, True),
    ("last-match-wins", "!keep.yaml\n*.yaml", "keep.yaml", False, True),
    ("negation-inside-excluded-dir", "dir/\n!dir/keep.yaml", "dir/keep.yaml", False, False),
    # comments, blanks, escapes, spaces
    ("comment-skipped", "# foo.yaml\n", "# foo.yaml", False, False),
    ("escaped-hash", "\\#notes", "#notes", False, True),
    ("escaped-bang", "\\!important", "!important", False, True),
    ("trailing-spaces-dropped", "foo.yaml   ", "foo.yaml", False, True),
    ("escaped-trailing-space-kept", "foo\\ ", "foo ", False, True),
    ("escaped-trailing-space-exact", "foo\\ ", "foo", False, False),
    ("crlf-line-endings", "foo.yaml\r\nbar.yaml\r\n", "bar.yaml", False, True),
    ("escaped-star-literal", "\\*.yaml", "x.yaml", False, False),
    ("escaped-star-matches-star", "\\*.yaml", "*.yaml", False, True),
    ("no-patterns", "", "anything", False, False),
]


@pytest.mark.parametrize(
    ("text", "path", "is_dir", "excluded"),
    [row[1:] for row in SYNTAX],
    ids=[row[0] for row in SYNTAX],
)
def test_gitignore_syntax(text: str, path: str, is_dir: bool, excluded: bool) -> None:
    assert Matcher(parse_patterns(text)).excluded(path, is_dir) is excluded


# (id, patterns, domain, path, excluded)
DOMAINS = [
    ("applies-below-its-dir", "*.yaml", ("apps",), "apps/x.yaml", True),
    ("not-above-its-dir", "*.yaml", ("apps",), "x.yaml", False),
    ("not-in-sibling-dir", "*.yaml", ("apps",), "infra/x.yaml", False),
    ("anchored-relative-to-its-dir", "/prod", ("apps",), "apps/prod/a.yaml", True),
    ("anchored-not-at-root", "/prod", ("apps",), "prod/a.yaml", False),
    ("not-the-dir-itself", "apps", ("apps",), "apps", False),
]


@pytest.mark.parametrize(
    ("text", "domain", "path", "excluded"),
    [row[1:] for row in DOMAINS],
    ids=[row[0] for row in DOMAINS],
)
def test_domains(text: str, domain: tuple[str, ...], path: str, excluded: bool) -> None:
    assert Matcher(parse_patterns(text, domain)).excluded(path) is excluded


# (id, user patterns, path, excluded) for source_matcher (Git, OCI)
SOURCE = [
    ("defaults-exclude-git-dir", "", ".git/config", True),
    ("defaults-exclude-gitignore", "", "sub/.gitignore", True),
    ("defaults-exclude-images", "", "docs/logo.png", True),
    ("defaults-exclude-archives", "", "dist/app.tar.gz", True),
    ("defaults-exclude-ci", "", ".github/workflows/ci.yaml", True),
    ("defaults-exclude-travis", "", ".travis.yml", True),
    ("defaults-exclude-sops-anywhere", "", "clusters/prod/.sops.yaml", True),
    ("defaults-exclude-flux-yaml", "", ".flux.yaml", True),
    ("defaults-keep-manifests", "", "apps/deploy.yaml", False),
    ("user-patterns-replace-defaults", "*.txt", "docs/logo.png", False),
    ("user-patterns-apply", "*.txt", "notes.txt", True),
    ("vcs-stays-with-user-patterns", "*.txt", ".git/HEAD", True),
    ("user-can-reinclude-vcs-file", "!.gitignore", ".gitignore", False),
]


@pytest.mark.parametrize(
    ("text", "path", "excluded"), [row[1:] for row in SOURCE], ids=[row[0] for row in SOURCE]
)
def test_source_matcher(text: str, path: str, excluded: bool) -> None:
    assert source_matcher(parse_patterns(text)).excluded(path) is excluded


def test_spec_ignore_overrides_sourceignore() -> None:
    from_file = parse_patterns("*.yaml", ("apps",))
    from_spec = parse_patterns("!apps/keep.yaml")
    matcher = source_matcher([*from_file, *from_spec])
    assert not matcher.excluded("apps/keep.yaml")
    assert matcher.excluded("apps/drop.yaml")


# (id, user patterns, path, excluded) for default_matcher (Bucket)
BUCKET = [
    ("defaults-kept-with-user-patterns", "*.txt", "logo.png", True),
    ("user-patterns-apply", "*.txt", "a.txt", True),
    ("user-can-reinclude-default", "!*.png", "logo.png", False),
    ("nothing-else-excluded", "", "apps/x.yaml", False),
]


@pytest.mark.parametrize(
    ("text", "path", "excluded"), [row[1:] for row in BUCKET], ids=[row[0] for row in BUCKET]
)
def test_default_matcher(text: str, path: str, excluded: bool) -> None:
    assert default_matcher(parse_patterns(text)).excluded(path) is excluded


REINCLUDE = [
    ("no-negations", "dir/", "dir", False),
    ("negation-in-root-domain", "dir/\n!dir/x", "dir", True),
]


@pytest.mark.parametrize(
    ("text", "directory", "want"), [row[1:] for row in REINCLUDE], ids=[row[0] for row in REINCLUDE]
)
def test_may_reinclude_below(text: str, directory: str, want: bool) -> None:
    assert Matcher(parse_patterns(text)).may_reinclude_below(directory) is want


def test_may_reinclude_below_respects_domains() -> None:
    matcher = Matcher(parse_patterns("!x", ("apps", "web")))
    assert matcher.may_reinclude_below("apps")  # the negation's domain is below it
    assert matcher.may_reinclude_below("apps/web/static")
    assert not matcher.may_reinclude_below("infra")


def test_pattern_fields() -> None:
    p = parse_pattern("!/build/", ("a",))
    assert (p.negate, p.dir_only, p.anchored, p.domain) == (True, True, True, ("a",))
    assert p.match(("a", "build", "x"), False) is False  # re-included
    assert p.match(("b", "build", "x"), False) is None


def test_default_list_is_flux_list() -> None:
    assert "*.tar.gz" in DEFAULT_PATTERNS and ".github/" in DEFAULT_PATTERNS
    assert "**/.sops.yaml" in DEFAULT_PATTERNS


def test_split_path() -> None:
    assert split_path("./a//b/") == ("a", "b")
    assert split_path(["a", "b"]) == ("a", "b")


BUCKET_FILES = [
    ("defaults-only", None, None, "logo.png", True),
    ("sourceignore-applies", "*.txt", None, "a.txt", True),
    ("spec-overrides-sourceignore", "*.txt", "!keep.txt", "keep.txt", False),
    ("spec-reincludes-default", None, "!*.png", "logo.png", False),
]


@pytest.mark.parametrize(
    ("sourceignore", "spec", "path", "excluded"),
    [row[1:] for row in BUCKET_FILES],
    ids=[row[0] for row in BUCKET_FILES],
)
def test_bucket_matcher(
    sourceignore: str | None, spec: str | None, path: str, excluded: bool
) -> None:
    from afflux.controllers.source._ignore import bucket_matcher

    assert bucket_matcher(sourceignore, spec).excluded(path) is excluded
