"""Go (RE2) regular expressions on Python's `re`, for the patterns users write in Flux specs.

Pure logic, no I/O. `ImageRepository.spec.exclusionList` and `ImagePolicy.spec.filterTags`
hold Go `regexp` patterns; Go and Python agree on most syntax, and this module closes the
gaps that matter, so a pattern means the same thing here as in Flux:

- accepted as in Go and rewritten for `re`: `(?<name>...)` (-> `(?P<name>...)`), `\\z`
  (-> `\\Z`), `\\Q...\\E` literal text, `\\x{10FFFF}`, octal escapes, POSIX classes inside
  brackets (`[[:alpha:]]`), a literal `{` that does not start a repetition;
- classes are ASCII as in Go (`\\d`, `\\w`, `\\s`, `\\b`): compiled with `re.ASCII`;
- rejected as Go rejects them, with Go's wording where it helps: backreferences,
  look-around, `(?P=name)`, nested repetition (`a**`, which Python would read as
  possessive), `\\Z`, `\\C`;
- rejected because Python cannot express them (the message says so): Unicode classes
  `\\pL`/`\\p{Greek}`, the ungreedy flag `U`, flags set in the middle of a pattern
  (`a(?i)b`; write `a(?i:b)` instead).

`expand(match, template)` implements Go's `Regexp.Expand`: `$name`, `${name}`, `$1`,
`$$`; a name is the longest run of letters, digits and `_`; an unknown or unmatched group
expands to the empty string; a malformed `$` stays literal.
"""

from __future__ import annotations

import functools
import re

__all__ = ["GoRegexError", "compile_go_regex", "expand", "translate"]

_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_GROUP_NAME = re.compile(r"[A-Za-z0-9_]+")
_FLAGS = re.compile(r"\(\?(-?[imsU]+|[imsU]+-[imsU]*)(\)|:)")
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
_SPECIAL_IN_CLASS = set("&~|")


class GoRegexError(ValueError):
    """The pattern is not a valid Go regular expression (or uses a part Python lacks)."""

    def __init__(self, pattern: str, detail: str) -> None:
        super().__init__(f"invalid regular expression '{pattern}': {detail}")
        self.pattern = pattern
        self.detail = detail


def compile_go_regex(pattern: str) -> re.Pattern[str]:
    """Compile a Go regexp pattern; raise `GoRegexError` with a readable reason."""
    translated = translate(pattern)
    try:
        return re.compile(translated, re.ASCII)
    except re.error as err:
        raise GoRegexError(pattern, str(err)) from err
    except (OverflowError, RecursionError) as err:  # pragma: no cover - pathological input
        raise GoRegexError(pattern, "expression too large") from err


def _escape_literal(text: str, in_class: bool) -> str:
    if not in_class:
        return re.escape(text)
    return "".join("\\" + ch if ch in "\\]^-[&~|" else ch for ch in text)


def translate(pattern: str) -> str:  # noqa: C901 - one scanner, kept in one place
    """The Python `re` form of a Go regexp pattern (see the module docstring)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    class_open = False  # just after '[' or '[^': a ']' here is a literal
    can_repeat = False  # the previous item can take a repetition operator
    repeated = False  # the previous item already has one
    at_start = True  # only global flags seen so far

    def fail(detail: str) -> GoRegexError:
        return GoRegexError(pattern, detail)

    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise fail("trailing backslash at end of expression")
            d = pattern[i + 1]
            if d == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
                out.append(_escape_literal(literal, in_class))
                i = n if end < 0 else end + 2
                can_repeat, repeated, at_start = bool(literal), False, False
                class_open = False
                continue
            if d in "pP":
                raise fail(f"Unicode classes like '\\{d}...' are not supported by afflux")
            if d in "CZ":
                raise fail(f"invalid escape sequence: '\\{d}'")
            if d == "z":
                if in_class:
                    raise fail("invalid escape sequence: '\\z'")
                out.append("\\Z")
                i += 2
                can_repeat, repeated, at_start = False, False, False
                continue
            if d == "x" and i + 2 < n and pattern[i + 2] == "{":
                end = pattern.find("}", i + 3)
                digits = pattern[i + 3 : end] if end > 0 else ""
                if (
                    not digits
                    or not re.fullmatch(r"[0-9A-Fa-f]+", digits)
                    or int(digits, 16) > 0x10FFFF
                ):
                    raise fail(
                        f"invalid escape sequence: '{pattern[i : (end + 1 if end > 0 else n)]}'"
                    )
                out.append(f"\\U{int(digits, 16):08x}")
                i = end + 1
            elif d.isdigit():
                m = re.match(r"[0-7]{1,3}", pattern[i + 1 :])
                if d in "89" or m is None or (d != "0" and len(m.group()) == 1):
                    raise fail(
                        f"invalid escape sequence: '\\{d}' (backreferences are not supported)"
                    )
                out.append(f"\\U{int(m.group(), 8):08x}")
                i += 1 + len(m.group())
            else:
                out.append("\\" + d)
                i += 2
            if not in_class:
                can_repeat = d not in "bBA"
                repeated = False
                at_start = False
            class_open = False
            continue

        if in_class:
            if c == "[" and pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                name = pattern[i + 2 : end] if end > 0 else ""
                if name.startswith("^"):
                    raise fail(f"negated POSIX class '[:{name}:]' is not supported by afflux")
                if name not in _POSIX:
                    raise fail(f"invalid character class range: '[:{name}:]'")
                out.append(_POSIX[name])
                i = end + 2
            elif c == "]" and not class_open:
                out.append("]")
                in_class = False
                i += 1
                can_repeat, repeated = True, False
                continue
            elif c == "[" or c in _SPECIAL_IN_CLASS:
                out.append("\\" + c)
                i += 1
            else:
                out.append(c)
                i += 1
            class_open = False
            continue

        if c == "[":
            in_class, class_open, at_start = True, True, False
            out.append("[")
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            continue

        if c == "(":
            if pattern.startswith("(?", i):
                rest = pattern[i:]
                m = _FLAGS.match(rest)
                if m:
                    flags = m.group(1)
                    if "U" in flags:
                        raise fail("the ungreedy flag 'U' is not supported by afflux")
                    if m.group(2) == ")":
                        if not at_start or "-" in flags:
                            raise fail(
                                f"flags '{m.group(0)}' in the middle of a pattern are not "
                                "supported by afflux: use a group like '(?i:...)'"
                            )
                        out.append(m.group(0))
                        i += len(m.group(0))
                        continue
                    out.append(m.group(0))
                    i += len(m.group(0))
                    can_repeat, repeated, at_start = False, False, False
                    continue
                named = re.match(r"\(\?P?<([^>]*)>", rest)
                if named and not rest.startswith("(?<=") and not rest.startswith("(?<!"):
                    name = named.group(1)
                    if not _GROUP_NAME.fullmatch(name):
                        raise fail(f"invalid named capture: '{named.group(0)}'")
                    if name[0].isdigit():
                        raise fail(
                            f"capture group names starting with a digit are not supported: '{name}'"
                        )
                    out.append(f"(?P<{name}>")
                    i += len(named.group(0))
                    can_repeat, repeated, at_start = False, False, False
                    continue
                if rest.startswith("(?:"):
                    out.append("(?:")
                    i += 3
                    can_repeat, repeated, at_start = False, False, False
                    continue
                raise fail(f"invalid or unsupported Perl syntax: '{rest[:3]}'")
            out.append("(")
            i += 1
            can_repeat, repeated, at_start = False, False, False
            continue

        if c == ")":
            out.append(")")
            i += 1
            can_repeat, repeated, at_start = True, False, False
            continue

        if c in "*+?{":
            m = _REPEAT.match(pattern, i) if c == "{" else None
            if c == "{" and m is None:
                out.append("\\{")  # Go reads a '{' that starts no repetition as a literal
                i += 1
                can_repeat, repeated, at_start = True, False, False
                continue
            op = m.group(0) if m else c
            if m:
                low, high = int(m.group(1)), m.group(3)
                if low > 1000 or (high and (int(high) > 1000 or int(high) < low)):
                    raise fail(f"invalid repeat count: '{op}'")
            if repeated:
                raise fail(f"invalid nested repetition operator: '{op}'")
            if not can_repeat:
                raise fail(f"missing argument to repetition operator: '{op}'")
            i += len(op)
            if i < n and pattern[i] == "?":  # lazy form
                op += "?"
                i += 1
            out.append(op)
            repeated, at_start = True, False
            continue

        out.append(c)
        i += 1
        can_repeat = c not in "^$|"
        repeated = False
        at_start = at_start and c == "^"

    if in_class:
        raise fail("missing closing ]")
    return "".join(out)


def expand(match: re.Match[str], template: str) -> str:
    """Go's `Regexp.Expand` of `template` with `match` (see the module docstring)."""
    parts = _template_parts(template, match.re)
    return "".join(p if isinstance(p, str) else (match.group(p) or "") for p in parts)


@functools.lru_cache(maxsize=512)
def _template_parts(template: str, regex: re.Pattern[str]) -> tuple[str | int, ...]:
    """`template` read once for `regex`: literal text, and group numbers to fill in (a
    policy expands the same template for every tag of a repository)."""
    groups = regex.groupindex
    out: list[str | int] = []
    rest = template
    while True:
        before, sep, after = rest.partition("$")
        out.append(before)
        if not sep:
            break
        rest = after
        if rest.startswith("$"):
            out.append("$")
            rest = rest[1:]
            continue
        brace = rest.startswith("{")
        body = rest[1:] if brace else rest
        m = re.match(r"[^\W]+", body)  # letters, digits, '_' (Unicode letters too, as Go)
        if m is None or (brace and not body[m.end() :].startswith("}")):
            out.append("$")  # malformed: the '$' stays as it is
            continue
        name = m.group()
        rest = body[m.end() + (1 if brace else 0) :]
        if name.isdigit() and name.isascii():
            num = int(name)
            if num <= regex.groups:
                out.append(num)
        elif name in groups:
            out.append(groups[name])
    return tuple(p for p in out if p != "")
