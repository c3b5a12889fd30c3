"""The argument parser every `afflux` command is built with: argparse, plus boolean flags that
also take an explicit value the way flux's (Go pflag) do: `--prune=true`, `--prune=false`,
`--wait=False`, `--export=1`. A bare `--prune` stays true, and `--prune true` (a space, not
`=`) leaves `true` to be a positional argument, as pflag does.

Every parser made by `FluxArgumentParser.add_subparsers` is a `FluxArgumentParser` too, so a
flag added with `action="store_true"` (or `store_false`, or `BooleanOptionalAction`) anywhere
in the tree takes `=<bool>` without anything else to do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["FluxArgumentParser", "parse_bool", "rewrite_bool_flags"]

#: What Go's strconv.ParseBool accepts (pflag's boolean flags use it).
_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})


def parse_bool(text: str) -> bool:
    """`true`/`false` and the other spellings Go accepts; ValueError otherwise."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean: use true or false")


def _bool_meaning(action: argparse.Action, option: str) -> bool | None:
    """For a boolean flag, what its bare form sets (`--x` True, `--no-x` False); None for any
    other kind of option."""
    if isinstance(action, argparse.BooleanOptionalAction):
        return not option.startswith("--no-")
    if isinstance(action, argparse._StoreTrueAction):  # noqa: SLF001 - argparse's own types
        return True
    if isinstance(action, argparse._StoreFalseAction):  # noqa: SLF001
        return False
    return None


def rewrite_bool_flags(
    parser: argparse.ArgumentParser, args: Sequence[str]
) -> tuple[list[str], dict[str, bool]]:
    """Take `--flag=<bool>` of the parser's boolean flags out of `args`: a true value becomes
    the bare flag, a false one is removed; return the new args and {dest: value} for the
    false ones, to set after parsing. ValueError for a value that is not a boolean."""
    out: list[str] = []
    forced: dict[str, bool] = {}
    actions = parser._option_string_actions  # noqa: SLF001 - the parser's own option table
    for i, token in enumerate(args):
        if token == "--":
            out.extend(args[i:])
            break
        option, sep, value = token.partition("=")
        action = actions.get(option) if option.startswith("--") else None
        meaning = _bool_meaning(action, option) if action is not None else None
        if meaning is None:
            out.append(token)
            continue
        if not sep:  # the bare flag: it wins over an earlier `=<bool>`
            forced.pop(action.dest, None)  # type: ignore[union-attr]
            out.append(token)
            continue
        try:
            given = parse_bool(value)
        except ValueError as err:
            raise ValueError(f"invalid argument for {option}: {err}") from None
        if given:
            forced.pop(action.dest, None)  # type: ignore[union-attr]
            out.append(option)
        else:
            forced[action.dest] = not meaning  # type: ignore[union-attr]
    return out, forced


class FluxArgumentParser(argparse.ArgumentParser):
    """argparse with pflag-style `--flag=<bool>` (see the module docstring), and no
    abbreviated long options (pflag has none; `version --client` must not be taken for a
    prefix of the global `--client-certificate`/`--client-key`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        try:
            rewritten, forced = rewrite_bool_flags(self, sys.argv[1:] if args is None else args)
        except ValueError as err:
            self.error(str(err))
        parsed, extras = super().parse_known_args(rewritten, namespace)
        for dest, value in forced.items():
            setattr(parsed, dest, value)
        return parsed, extras

    def add_subparsers(self, **kwargs: Any) -> Any:
        kwargs.setdefault("parser_class", FluxArgumentParser)
        return super().add_subparsers(**kwargs)
