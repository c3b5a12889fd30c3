"""ImagePolicy rules: alphabetical, numerical, semver, tag filters and their errors."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.api._image_v1 import ImagePolicyChoice, TagFilter
from afflux.controllers.image_reflector._policy import (
    INVALID_POLICY_REASON,
    InvalidPolicyError,
    LatestMemo,
    NoMatchingTagError,
    NoTagsError,
    compile_policy,
    digest_to_reuse,
    ready_message,
    rule_key,
    select_latest_tag,
    should_fetch_digest,
)
from afflux.controllers.runtime._errors import GenericError, StallingError, WaitingError

TIMESTAMPED = [
    "main-abc123-1700000000",
    "main-fff000-1700000500",
    "main-0a0a0a-1699999999",
    "feature-x-1-1800000000",
    "latest",
]

CASES: list[tuple[str, list[str], dict[str, Any], dict[str, Any] | None, str]] = [
    # (id, tags, spec.policy, spec.filterTags, expected)
    ("alphabetical-default-asc-picks-greatest", ["a", "c", "b"], {"alphabetical": {}}, None, "c"),
    (
        "alphabetical-asc",
        ["2024-01-02", "2024-01-10", "2023-12-31"],
        {"alphabetical": {"order": "asc"}},
        None,
        "2024-01-10",
    ),
    (
        "alphabetical-desc-picks-least",
        ["a", "c", "b"],
        {"alphabetical": {"order": "desc"}},
        None,
        "a",
    ),
    (
        "alphabetical-order-case-insensitive",
        ["a", "c"],
        {"alphabetical": {"order": "DESC"}},
        None,
        "a",
    ),
    ("alphabetical-is-bytewise", ["Z", "a", "B"], {"alphabetical": {}}, None, "a"),
    ("alphabetical-not-numeric", ["9", "10"], {"alphabetical": {}}, None, "9"),
    ("numerical-default-asc-picks-greatest", ["9", "10", "2"], {"numerical": {}}, None, "10"),
    ("numerical-desc-picks-least", ["9", "10", "2"], {"numerical": {"order": "desc"}}, None, "2"),
    ("numerical-floats", ["1.5", "1.25", "-3"], {"numerical": {}}, None, "1.5"),
    ("numerical-exponent", ["1e3", "999"], {"numerical": {}}, None, "1e3"),
    ("numerical-tie-later-wins", ["1.0", "1"], {"numerical": {}}, None, "1"),
    (
        "filter-extract-timestamp-numerical",
        TIMESTAMPED,
        {"numerical": {"order": "asc"}},
        {"pattern": r"^main-[a-f0-9]+-(?P<ts>\d+)$", "extract": "$ts"},
        "main-fff000-1700000500",
    ),
    (
        "filter-extract-braced-desc",
        TIMESTAMPED,
        {"numerical": {"order": "desc"}},
        {"pattern": r"^main-[a-f0-9]+-(?P<ts>\d+)$", "extract": "${ts}"},
        "main-0a0a0a-1699999999",
    ),
    (
        "filter-extract-alphabetical-minio-style",
        ["RELEASE.2023-01-02T10-00-00Z", "RELEASE.2023-11-20T22-40-07Z", "latest"],
        {"alphabetical": {"order": "asc"}},
        {"pattern": r"^RELEASE\.(?P<timestamp>.*)Z$", "extract": "$timestamp"},
        "RELEASE.2023-11-20T22-40-07Z",
    ),
    (
        "filter-without-extract-keeps-whole-tag",
        ["dev-1", "prod-3", "prod-2"],
        {"alphabetical": {}},
        {"pattern": "^prod-"},
        "prod-3",
    ),
    (
        "filter-go-named-group-syntax",
        ["b-7", "b-12"],
        {"numerical": {}},
        {"pattern": r"^b-(?<n>\d+)$", "extract": "$n"},
        "b-12",
    ),
]


@pytest.mark.parametrize(
    ("tags", "policy", "filter_tags", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_latest_tag(
    tags: list[str], policy: dict[str, Any], filter_tags: dict[str, Any] | None, expected: str
) -> None:
    assert select_latest_tag(tags, policy, filter_tags) == expected


def test_api_models_are_accepted() -> None:
    choice = ImagePolicyChoice.from_dict({"numerical": {"order": "asc"}})
    filt = TagFilter.from_dict({"pattern": r"-(?P<n>\d+)$", "extract": "$n"})
    assert select_latest_tag(["x-1", "x-20", "x-3"], choice, filt) == "x-20"


INVALID = [
    ("no-rule", {}, None, "exactly one of"),
    ("two-rules", {"alphabetical": {}, "numerical": {}}, None, "exactly one of"),
    ("bad-order", {"alphabetical": {"order": "up"}}, None, "must be 'asc' or 'desc'"),
    ("bad-filter-regex", {"alphabetical": {}}, {"pattern": "(unclosed"}, "spec.filterTags.pattern"),
    (
        "go-rejects-lookahead",
        {"alphabetical": {}},
        {"pattern": "a(?=b)"},
        "unsupported Perl syntax",
    ),
    ("empty-semver-range", {"semver": {"range": " "}}, None, "semver.range is empty"),
]


@pytest.mark.parametrize(
    ("policy", "filter_tags", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_specs_stall(
    policy: dict[str, Any], filter_tags: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(InvalidPolicyError) as info:
        compile_policy(policy, filter_tags)
    assert isinstance(info.value, StallingError)
    assert info.value.reason == INVALID_POLICY_REASON
    assert message in info.value.message


NO_MATCH = [
    (
        "numerical-non-number",
        ["1", "latest"],
        {"numerical": {}},
        None,
        "failed to parse invalid numeric value 'latest'",
    ),
    (
        "filter-keeps-nothing",
        ["a", "b"],
        {"alphabetical": {}},
        {"pattern": "^z"},
        "no tag matches spec.filterTags.pattern '^z'",
    ),
    (
        "extracted-value-not-a-number",
        ["build-x"],
        {"numerical": {}},
        {"pattern": r"^build-(?P<n>.*)$", "extract": "$n"},
        "after spec.filterTags kept 1 of 1 tags",
    ),
]


@pytest.mark.parametrize(
    ("tags", "policy", "filter_tags", "message"),
    [c[1:] for c in NO_MATCH],
    ids=[c[0] for c in NO_MATCH],
)
def test_no_acceptable_tag_is_a_retried_failure(
    tags: list[str], policy: dict[str, Any], filter_tags: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(NoMatchingTagError) as info:
        select_latest_tag(tags, policy, filter_tags)
    assert isinstance(info.value, GenericError)
    assert message in info.value.message


def test_no_tags_at_all_waits_for_the_repository() -> None:
    with pytest.raises(NoTagsError) as info:
        select_latest_tag([], {"alphabetical": {}})
    assert isinstance(info.value, WaitingError)
    assert info.value.reason == "DependencyNotReady"


SEMVER_TAGS = ["1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0", "latest", "sha256-abc.sig"]

SEMVER = [
    ("highest-release", SEMVER_TAGS, ">=1.0.0", None, "2.0.0"),
    ("upper-bound-skips-prerelease", SEMVER_TAGS, "<2.0.0", None, "1.1.0"),
    ("prerelease-only-when-range-names-one", SEMVER_TAGS, ">=1.2.0-0 <2.0.0", None, "1.2.0-rc.1"),
    ("flux-doc-release-candidates", SEMVER_TAGS, "^1.x-0", {"pattern": ".*-rc.*"}, "1.2.0-rc.1"),
    ("patch-wildcard-numeric-order", ["5.1.2", "5.1.10", "5.2.0"], "5.1.x", None, "5.1.10"),
    ("v-prefix-keeps-original-tag", ["v1.2.0", "v1.3.0", "1.2.5"], "~1", None, "v1.3.0"),
    ("short-versions-are-not-tags-versions", ["1.5", "1.0.0"], ">=1.0", None, "1.0.0"),
    ("equal-versions-first-wins", ["v1.0.0", "1.0.0"], "1.0.0", None, "v1.0.0"),
    ("build-metadata-ignored-for-order", ["1.0.0+b2", "1.0.1+b1"], "*", None, "1.0.1+b1"),
    (
        "extract-version-from-tag",
        ["app-1.2.3", "app-1.10.0", "other-9.9.9"],
        ">=1.0.0",
        {"pattern": r"^app-(?P<v>.*)$", "extract": "$v"},
        "app-1.10.0",
    ),
]


@pytest.mark.parametrize(
    ("tags", "range_", "filter_tags", "expected"),
    [c[1:] for c in SEMVER],
    ids=[c[0] for c in SEMVER],
)
def test_semver_policy(
    tags: list[str], range_: str, filter_tags: dict[str, Any] | None, expected: str
) -> None:
    assert select_latest_tag(tags, {"semver": {"range": range_}}, filter_tags) == expected


def test_invalid_semver_range_stalls() -> None:
    with pytest.raises(InvalidPolicyError) as info:
        compile_policy({"semver": {"range": ">=1.0.0 <<2"}})
    assert (
        "spec.policy.semver.range '>=1.0.0 <<2' is not a valid semver range" in info.value.message
    )


def test_semver_without_a_matching_tag_fails() -> None:
    with pytest.raises(NoMatchingTagError) as info:
        select_latest_tag(SEMVER_TAGS, {"semver": {"range": ">=3.0.0"}})
    assert "no tag is a semver version in range '>=3.0.0'" in info.value.message


PREVIOUS = {"name": "ghcr.io/org/app", "tag": "1.0.0", "digest": "sha256:aaa"}

REFLECTION = [
    # (id, policy, previous, tag, fetch, reused digest)
    ("never-default", None, PREVIOUS, "1.0.0", False, None),
    ("never", "Never", None, "1.0.0", False, None),
    ("always-even-if-same", "Always", PREVIOUS, "1.0.0", True, None),
    ("if-not-present-first-time", "IfNotPresent", None, "1.0.0", True, None),
    ("if-not-present-same-tag-keeps", "IfNotPresent", PREVIOUS, "1.0.0", False, "sha256:aaa"),
    ("if-not-present-new-tag", "IfNotPresent", PREVIOUS, "1.1.0", True, None),
    (
        "if-not-present-no-digest-yet",
        "IfNotPresent",
        {**PREVIOUS, "digest": ""},
        "1.0.0",
        True,
        None,
    ),
]


@pytest.mark.parametrize(
    ("policy", "previous", "tag", "fetch", "reused"),
    [r[1:] for r in REFLECTION],
    ids=[r[0] for r in REFLECTION],
)
def test_digest_reflection(
    policy: str | None, previous: dict[str, str] | None, tag: str, fetch: bool, reused: str | None
) -> None:
    assert should_fetch_digest(policy, previous, "ghcr.io/org/app", tag) is fetch
    assert digest_to_reuse(policy, previous, "ghcr.io/org/app", tag) == reused


@pytest.mark.parametrize(
    ("latest", "previous", "expected"),
    [
        (
            {"name": "ghcr.io/o/a", "tag": "5.1.4"},
            None,
            "Latest image tag for ghcr.io/o/a resolved to 5.1.4",
        ),
        (
            {"name": "ghcr.io/o/a", "tag": "6.0.0", "digest": "sha256:b"},
            {"name": "ghcr.io/o/a", "tag": "5.1.4", "digest": "sha256:a"},
            "Latest image tag for ghcr.io/o/a resolved to 6.0.0 with digest sha256:b (previously ghcr.io/o/a:5.1.4@sha256:a)",
        ),
        (
            {"name": "a", "tag": "1"},
            {"name": "a", "tag": "1"},
            "Latest image tag for a resolved to 1",
        ),
    ],
    ids=["first", "upgrade-with-digests", "unchanged"],
)
def test_ready_message(
    latest: dict[str, str], previous: dict[str, str] | None, expected: str
) -> None:
    assert ready_message(latest, previous) == expected


# --- LatestMemo: a pick reused for the same ordered tag list and rule ---------------------

SEMVER = rule_key({"policy": {"semver": {"range": ">=1.0.0"}}})
ALPHA = rule_key({"policy": {"alphabetical": {"order": "asc"}}})


@pytest.mark.parametrize(
    ("second_tags", "second_rule", "chosen_again"),
    [
        pytest.param(["1.0.0", "1.2.0"], SEMVER, False, id="same-list-same-rule-reused"),
        pytest.param(["1.0.0", "1.2.0", "1.3.0"], SEMVER, True, id="new-tag-recomputed"),
        pytest.param(["1.2.0", "1.0.0"], SEMVER, True, id="other-order-recomputed"),
        pytest.param(["1.0.0", "1.2.0"], ALPHA, True, id="other-rule-recomputed"),
    ],
)
def test_latest_memo_reuses_a_pick_only_for_the_same_list_and_rule(
        second_tags: list[str], second_rule: str, chosen_again: bool) -> None:
    memo, calls = LatestMemo(), []

    def choose(tags: Any) -> str:
        calls.append(list(tags))
        return max(tags)

    assert memo.latest(["1.0.0", "1.2.0"], SEMVER, choose) == "1.2.0"
    assert memo.latest(second_tags, second_rule, choose) == max(second_tags)
    assert len(calls) == (2 if chosen_again else 1)


def test_latest_memo_keeps_no_failure_and_stays_bounded() -> None:
    memo = LatestMemo(limit=2)

    def fail(tags: Any) -> str:
        raise NoMatchingTagError("none")

    for _ in range(2):  # a failing rule runs (and fails) every time
        with pytest.raises(NoMatchingTagError):
            memo.latest(["a"], ALPHA, fail)
    for tag in ("a", "b", "c"):
        memo.latest([tag], ALPHA, max)
    assert len(memo) == 2


def test_rule_key_is_the_rule_and_filter_only() -> None:
    a = {"policy": {"semver": {"range": "1.x"}}, "filterTags": {"pattern": "^1", "extract": "$0"},
         "interval": "1m", "imageRepositoryRef": {"name": "a"}}
    b = {"filterTags": {"extract": "$0", "pattern": "^1"}, "policy": {"semver": {"range": "1.x"}},
         "imageRepositoryRef": {"name": "b"}}
    assert rule_key(a) == rule_key(b)
    assert rule_key(a) != rule_key({**a, "policy": {"semver": {"range": "2.x"}}})
