"""Go regexp patterns on Python's re: translation, rejection, and Go's Expand."""

from __future__ import annotations

import pytest

from afflux.controllers.image_reflector._goregex import GoRegexError, compile_go_regex, expand

MATCHES = [
    # (id, pattern, text, matches)
    ("default-exclusion-sig", r"^.*\.sig$", "sha256-abc.sig", True),
    ("default-exclusion-plain", r"^.*\.sig$", "1.0.0", False),
    ("search-not-fullmatch", r"rc", "1.0.0-rc.1", True),
    ("go-named-group-syntax", r"^(?<ts>\d+)$", "1700000000", True),
    ("lower-z-end-of-text", r"^1\.0\z", "1.0", True),
    ("quoted-literal", r"^\Q1.0+x\E$", "1.0+x", True),
    ("quoted-literal-no-regex", r"^\Q1.0\E$", "1x0", False),
    ("posix-class", r"^[[:digit:]]+$", "123", True),
    ("posix-class-miss", r"^[[:digit:]]+$", "12a", False),
    ("hex-escape", r"^\x{41}$", "A", True),
    ("octal-escape", r"^\101$", "A", True),
    ("digit-class-is-ascii", r"^\d$", "\u0663", False),  # ARABIC-INDIC DIGIT THREE
    ("word-class-is-ascii", r"^\w$", "\u00e9", False),
    ("case-flag-at-start", r"(?i)^main-", "MAIN-1", True),
    ("scoped-flag", r"^a(?i:b)$", "aB", True),
    ("literal-brace", r"^x{$", "x{", True),
    ("lazy-repeat", r"^a{1,3}?b$", "aab", True),
    ("bracket-first-is-literal", r"^[]a]+$", "]a", True),
    ("set-operators-are-literal", r"^[a&&b]+$", "a&b", True),
]


@pytest.mark.parametrize(
    ("pattern", "text", "matches"), [m[1:] for m in MATCHES], ids=[m[0] for m in MATCHES]
)
def test_patterns_match_as_in_go(pattern: str, text: str, matches: bool) -> None:
    assert (compile_go_regex(pattern).search(text) is not None) is matches


REJECTED = [
    ("backreference", r"(a)\1", "backreferences are not supported"),
    ("lookahead", r"a(?=b)", "invalid or unsupported Perl syntax"),
    ("lookbehind", r"(?<=a)b", "invalid or unsupported Perl syntax"),
    ("nested-repetition", r"a**", "invalid nested repetition operator"),
    ("possessive-in-python", r"a++", "invalid nested repetition operator"),
    ("missing-argument", r"*a", "missing argument to repetition operator"),
    ("unclosed-class", r"[a", "missing closing ]"),
    ("unclosed-group", r"(a", "missing )"),
    ("repeat-too-large", r"a{1001}", "invalid repeat count"),
    ("upper-z", r"a\Z", "invalid escape sequence"),
    ("unicode-class", r"\pL", "not supported by afflux"),
    ("ungreedy-flag", r"(?U)a*", "not supported by afflux"),
    ("mid-pattern-flag", r"a(?i)b", "use a group like"),
    ("bad-group-name", r"(?P<a-b>x)", "invalid named capture"),
    ("trailing-backslash", "a\\", "trailing backslash"),
]


@pytest.mark.parametrize(
    ("pattern", "detail"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED]
)
def test_invalid_patterns_are_rejected_with_the_pattern_in_the_message(
    pattern: str, detail: str
) -> None:
    with pytest.raises(GoRegexError) as info:
        compile_go_regex(pattern)
    assert detail in str(info.value)
    assert f"'{pattern}'" in str(info.value)


EXPAND = [
    ("dollar-name", "$ts", "1700000000"),
    ("braced-name", "${ts}", "1700000000"),
    ("two-names", "$sha-$ts", "abc123-1700000000"),
    ("number", "$1", "abc123"),
    ("braced-number-then-text", "${1}x", "abc123x"),
    ("longest-name-wins", "$1x", ""),
    ("unknown-name-is-empty", "$nope", ""),
    ("escaped-dollar", "$$ts", "$ts"),
    ("unterminated-brace-is-literal", "${ts", "${ts"),
    ("lone-dollar-is-literal", "a$ b", "a$ b"),
    ("out-of-range-number-is-empty", "$9", ""),
    ("no-reference", "plain", "plain"),
]


@pytest.mark.parametrize(
    ("template", "expected"), [e[1:] for e in EXPAND], ids=[e[0] for e in EXPAND]
)
def test_expand_follows_go(template: str, expected: str) -> None:
    match = compile_go_regex(r"^main-(?P<sha>[a-f0-9]+)-(?P<ts>\d+)$").search(
        "main-abc123-1700000000"
    )
    assert match is not None
    assert expand(match, template) == expected


def test_unmatched_optional_group_expands_to_empty() -> None:
    match = compile_go_regex(r"^v(?P<rc>-rc)?(?P<n>\d+)$").search("v7")
    assert match is not None
    assert expand(match, "[$rc][$n]") == "[][7]"
