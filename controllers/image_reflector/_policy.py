"""ImagePolicy: pick the latest tag from an ImageRepository's scanned tags.

Pure logic, no I/O. The rules are Flux's:

- `semver.range`: every tag that is a strict semver version (an optional leading `v` is
  allowed, `1.0` is not a version) and satisfies the Masterminds-style range counts; the
  highest wins (pre-releases only where the range admits them; see `afflux.api._semver`).
  Among tags of equal precedence the first one in the list wins.
- `alphabetical.order`: tags sorted by their bytes; `asc` (the default) picks the last in
  ascending order (the greatest), `desc` picks the last in descending order (the least).
- `numerical.order`: tags read as floating-point numbers; `asc` (the default) picks the
  greatest, `desc` the least. A tag that is not a number makes the policy fail (the
  message names it): use `filterTags` to keep only numeric tags.
- `filterTags.pattern` (a Go regexp, searched anywhere in the tag) keeps the tags that
  match; `filterTags.extract` (`$name`, `${name}`, `$1`) turns each kept tag into the
  value the policy compares; the policy's choice is mapped back to the original tag.

Errors: an invalid regexp, semver range or order is an `InvalidPolicyError` (Stalled,
reason `InvalidPolicy`); no tags at all is a `NoTagsError` (waiting on the
ImageRepository, reason `DependencyNotReady`); tags that exist but none of which the
policy accepts is a `NoMatchingTagError` (Ready=False, retried).

`LatestMemo` remembers the tag a rule picked from one tag list (keyed by a digest of the
list, in its order, and the rule, `rule_key`): a policy reconciled again over the same
scan, or another policy with the same rule, gets it without running the rule over every
tag (about 15 ms of CPU for 10,000 tags; the digest costs a fraction of a millisecond).
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from afflux.api._meta import DEPENDENCY_NOT_READY
from afflux.controllers.runtime import GenericError, StallingError, WaitingError

from ._goregex import GoRegexError, compile_go_regex, expand

__all__ = [
    "INVALID_POLICY_REASON",
    "POLICY_FAILED_REASON",
    "AlphabeticalPolicy",
    "InvalidPolicyError",
    "LatestMemo",
    "NoMatchingTagError",
    "NoTagsError",
    "NumericalPolicy",
    "PolicySelector",
    "SemverPolicy",
    "TagFilter",
    "TagPolicy",
    "compile_policy",
    "digest_to_reuse",
    "ready_message",
    "rule_key",
    "select_latest_tag",
    "should_fetch_digest",
]

def rule_key(spec: Mapping[str, Any]) -> str:
    """What of an ImagePolicy's spec decides the tag it picks (`policy`, `filterTags`), as
    canonical JSON."""
    return json.dumps({"policy": spec.get("policy"), "filterTags": spec.get("filterTags")},
                      sort_keys=True, separators=(",", ":"))


class LatestMemo:
    """Tags picked by rules from tag lists: (digest of the ordered list, `rule_key`) ->
    tag, the `limit` most recently used. Only successful picks are kept (a failing rule
    raises each time); not thread-safe (the reconcilers share one event loop)."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._picks: OrderedDict[tuple[str, str], str] = OrderedDict()

    def latest(self, tags: Sequence[str], rule: str,
               choose: Callable[[Sequence[str]], str]) -> str:
        """`choose(tags)`, or what it returned for the same list and rule before."""
        key = (hashlib.sha256("\n".join(tags).encode("utf-8")).hexdigest(), rule)
        tag = self._picks.get(key)
        if tag is None:
            tag = choose(tags)
            self._picks[key] = tag
        self._picks.move_to_end(key)
        while len(self._picks) > self.limit:
            self._picks.popitem(last=False)
        return tag

    def __len__(self) -> int:
        return len(self._picks)


#: Stalled reason of an ImagePolicy whose rule cannot be used (Flux's string).
INVALID_POLICY_REASON = "InvalidPolicy"
#: Ready=False reason when the rule chose nothing (Flux uses metav1.StatusFailure).
POLICY_FAILED_REASON = "Failure"

ASC = "asc"
DESC = "desc"


class InvalidPolicyError(StallingError):
    """The policy or tag filter in the spec cannot be used; fix the spec."""

    def __init__(self, message: str) -> None:
        super().__init__(INVALID_POLICY_REASON, message)


class NoTagsError(WaitingError):
    """The ImageRepository has no tags (yet): wait for its next scan."""

    def __init__(self, message: str = "no tags found in the ImageRepository's scan result") -> None:
        super().__init__(DEPENDENCY_NOT_READY, message)


class NoMatchingTagError(GenericError):
    """There are tags, but the policy accepts none of them."""

    def __init__(self, message: str) -> None:
        super().__init__(POLICY_FAILED_REASON, message)


def _as_dict(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"expected a mapping or a model, not {type(value).__name__}")


def _order(kind: str, spec: Mapping[str, Any] | None) -> str:
    raw = (spec or {}).get("order") or ASC
    order = str(raw).lower()
    if order not in (ASC, DESC):
        raise InvalidPolicyError(
            f"invalid policy: spec.policy.{kind}.order is '{raw}'; it must be 'asc' or 'desc'"
        )
    return order


class TagPolicy(ABC):
    """A rule that picks one value out of a list."""

    @abstractmethod
    def latest(self, values: Sequence[str]) -> str:
        """The value the rule picks; `NoMatchingTagError` when it accepts none."""

    @abstractmethod
    def describe(self) -> str:
        """A short description for messages, e.g. `semver range '>=1.0'`."""


@dataclass(frozen=True)
class AlphabeticalPolicy(TagPolicy):
    order: str = ASC

    def latest(self, values: Sequence[str]) -> str:
        if not values:
            raise NoMatchingTagError("no tags to choose from")
        # Python compares code points, which orders like Go's byte-wise UTF-8 comparison.
        return max(values) if self.order == ASC else min(values)

    def describe(self) -> str:
        return f"alphabetical order '{self.order}'"


_GO_FLOAT = re.compile(
    r"[+-]?(?:(?:\d+(?:_\d+)*)?\.?\d*(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)", re.IGNORECASE
)


def parse_go_float(text: str) -> float | None:
    """`strconv.ParseFloat(text, 64)` for decimal input: None when Go would fail."""
    if not text or not _GO_FLOAT.fullmatch(text) or not any(c.isalnum() for c in text):
        return None
    if "_" in text:  # Go accepts '_' only with a base prefix
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if value in (float("inf"), float("-inf")) and "inf" not in text.lower():
        return None  # out of range: Go returns ErrRange
    return value


@dataclass(frozen=True)
class NumericalPolicy(TagPolicy):
    order: str = ASC

    def latest(self, values: Sequence[str]) -> str:
        if not values:
            raise NoMatchingTagError("no tags to choose from")
        latest: str | None = None
        best = 0.0
        for value in values:
            number = parse_go_float(value)
            if number is None:
                raise NoMatchingTagError(
                    f"failed to parse invalid numeric value '{value}': the numerical policy "
                    "needs every tag to be a number; use spec.filterTags to keep only those"
                )
            if latest is not None and (
                (self.order == ASC and number < best) or (self.order == DESC and number > best)
            ):
                continue
            latest, best = value, number
        assert latest is not None
        return latest

    def describe(self) -> str:
        return f"numerical order '{self.order}'"


class SemverPolicy(TagPolicy):
    """Highest version in a Masterminds-style range (parsing lives in `afflux.api._semver`)."""

    def __init__(self, range_: str) -> None:
        from afflux.api import _semver  # owned by the source-controller libraries

        self.range = range_
        self._semver = _semver
        try:
            self._constraint = _semver.parse_constraint(range_)
        except ValueError as err:
            raise InvalidPolicyError(
                f"invalid policy: spec.policy.semver.range '{range_}' is not a valid semver "
                f"range: {err}"
            ) from err

    def latest(self, values: Sequence[str]) -> str:
        chosen = self._semver.latest_matching(self._constraint, values, strict=True)
        if chosen is None:
            raise NoMatchingTagError(
                f"unable to determine latest version from provided list: no tag is a semver "
                f"version in range '{self.range}'"
            )
        return chosen

    def describe(self) -> str:
        return f"semver range '{self.range}'"


@dataclass(frozen=True)
class TagFilter:
    """`spec.filterTags`: keep the tags the pattern finds a match in; compare `extract`."""

    pattern: str
    extract: str = ""
    regex: re.Pattern[str] | None = None

    @classmethod
    def build(cls, pattern: str | None, extract: str | None = None) -> TagFilter:
        pattern = pattern or ""
        try:
            regex = compile_go_regex(pattern)
        except GoRegexError as err:
            raise InvalidPolicyError(f"invalid policy: spec.filterTags.pattern: {err}") from err
        return cls(pattern=pattern, extract=extract or "", regex=regex)

    def apply(self, tags: Iterable[str]) -> dict[str, str]:
        """{compared value: original tag} for the kept tags (a later tag with the same
        extracted value replaces an earlier one, as in Flux)."""
        assert self.regex is not None
        kept: dict[str, str] = {}
        for tag in tags:
            match = self.regex.search(tag)
            if match is None:
                continue
            value = expand(match, self.extract) if self.extract else tag
            kept[value] = tag
        return kept


@dataclass(frozen=True)
class PolicySelector:
    """A validated policy with its optional tag filter."""

    policy: TagPolicy
    tag_filter: TagFilter | None = None

    def latest(self, tags: Sequence[str]) -> str:
        """The tag the policy picks (the original tag when a filter extracted values)."""
        if not tags:
            raise NoTagsError()
        if self.tag_filter is None:
            return self.policy.latest(list(tags))
        kept = self.tag_filter.apply(tags)
        if not kept:
            raise NoMatchingTagError(
                f"no tag matches spec.filterTags.pattern '{self.tag_filter.pattern}' "
                f"(of {len(tags)} tags)"
            )
        try:
            value = self.policy.latest(list(kept))
        except NoMatchingTagError as err:
            raise NoMatchingTagError(
                f"{err.message} (after spec.filterTags kept {len(kept)} of {len(tags)} tags)"
            ) from err
        return kept[value]


def compile_policy(policy: Any, filter_tags: Any = None) -> PolicySelector:
    """Validate `spec.policy` (and `spec.filterTags`), as camelCase dicts or api models;
    raise `InvalidPolicyError` for anything the user must fix."""
    choice = _as_dict(policy) or {}
    kinds = [k for k in ("semver", "alphabetical", "numerical") if choice.get(k) is not None]
    if len(kinds) != 1:
        raise InvalidPolicyError(
            "invalid policy: exactly one of spec.policy.semver, spec.policy.alphabetical or "
            f"spec.policy.numerical must be set (found {len(kinds)})"
        )
    kind = kinds[0]
    rule: TagPolicy
    if kind == "semver":
        range_ = (choice["semver"] or {}).get("range")
        if not range_ or not str(range_).strip():
            raise InvalidPolicyError("invalid policy: spec.policy.semver.range is empty")
        rule = SemverPolicy(str(range_))
    elif kind == "alphabetical":
        rule = AlphabeticalPolicy(_order(kind, choice[kind]))
    else:
        rule = NumericalPolicy(_order(kind, choice[kind]))
    filt = _as_dict(filter_tags)
    tag_filter = None
    if filt and (filt.get("pattern") or filt.get("extract")):
        tag_filter = TagFilter.build(filt.get("pattern"), filt.get("extract"))
    return PolicySelector(rule, tag_filter)


def select_latest_tag(tags: Sequence[str], policy: Any, filter_tags: Any = None) -> str:
    """`compile_policy(policy, filter_tags).latest(tags)`."""
    return compile_policy(policy, filter_tags).latest(tags)


# --- digest reflection and status message ---------------------------------------------------

REFLECT_NEVER = "Never"
REFLECT_IF_NOT_PRESENT = "IfNotPresent"
REFLECT_ALWAYS = "Always"


def _ref_field(ref: Any, key: str) -> str:
    if ref is None:
        return ""
    if isinstance(ref, Mapping):
        return str(ref.get(key) or "")
    return str(getattr(ref, key, "") or "")


def should_fetch_digest(policy: str | None, previous: Any, name: str, tag: str) -> bool:
    """Whether to look up the digest of `name:tag` (`spec.digestReflectionPolicy`): never
    for Never (the default); always for Always; for IfNotPresent only when the previous
    `status.latestRef` is missing, names another image or tag, or has no digest."""
    if policy == REFLECT_ALWAYS:
        return True
    if policy != REFLECT_IF_NOT_PRESENT:
        return False
    return (
        previous is None
        or _ref_field(previous, "name") != name
        or _ref_field(previous, "tag") != tag
        or not _ref_field(previous, "digest")
    )


def digest_to_reuse(policy: str | None, previous: Any, name: str, tag: str) -> str | None:
    """The previous digest IfNotPresent keeps (same image and tag), else None."""
    if policy == REFLECT_IF_NOT_PRESENT and not should_fetch_digest(policy, previous, name, tag):
        return _ref_field(previous, "digest") or None
    return None


def ready_message(latest: Any, previous: Any = None) -> str:
    """The Ready message of an ImagePolicy, worded as Flux's: `Latest image tag for <name>
    resolved to <tag>[ with digest <d>][ (previously <name>:<tag>[@<d>])]`."""
    name, tag, digest = (_ref_field(latest, k) for k in ("name", "tag", "digest"))
    message = f"Latest image tag for {name} resolved to {tag}"
    if digest:
        message += f" with digest {digest}"
    if previous is not None and any(
        _ref_field(previous, k) != v for k, v in (("name", name), ("tag", tag), ("digest", digest))
    ):
        message += f" (previously {_ref_field(previous, 'name')}:{_ref_field(previous, 'tag')}"
        if _ref_field(previous, "digest"):
            message += f"@{_ref_field(previous, 'digest')}"
        message += ")"
    return message
