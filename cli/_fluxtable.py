"""The CLI table of docs/flux-compatibility.md, computed: every `flux` command against
`afflux`'s argparse tree. Pure; `hack/flux_cli_table.py` does the reading and writing, and
`tests/unit/cli/test_flux_cli_table.py` fails when the document and the parser disagree.

The flux side is a flag list (`hack/flux-cli-flags.txt`), written by
`hack/flux_cli_table.py --refresh-flags` from the pinned `flux` binary's `--help` pages
(`parse_help`): one line per command that help lists (hidden ones are not), tab-separated:

    <command path>  <aliases, comma-separated>  <own flags>  <flags inherited from groups>

Flags are long names (`--export`), space-separated, `--help` left out; "inherited" are the
flags of the parent groups (`flux create --export`), not the root's, which are the global
flags (the line of the command `flux` itself).

A flux command *has* an afflux counterpart when each word of its path (or one of that
command's aliases) names a sub-command in afflux's parser; its *missing flags* are its own
and inherited flags that the afflux parser's command does not take. Leaf commands are the
table's rows; the root's flags that afflux lacks are the "Missing:" sentence of the global
flags paragraph.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "FluxCommand",
    "HelpPage",
    "Row",
    "afflux_parser_for",
    "command_of",
    "dump_flag_list",
    "expected_cells",
    "global_missing",
    "global_sentence",
    "load_flag_list",
    "parse_help",
    "parse_table",
    "rows",
    "update_document",
]

#: Flags every command has and no table lists.
_IGNORED = frozenset({"--help"})
_TABLE_HEADER = "| flux command | has | missing flags | notes |"
_GLOBAL_MISSING = re.compile(r"(Missing: )([^.]*)(\.)")


@dataclass(frozen=True)
class HelpPage:
    """What one `flux ... --help` page says."""

    aliases: tuple[str, ...]
    subcommands: tuple[str, ...]
    flags: tuple[str, ...]
    global_flags: tuple[str, ...]


@dataclass(frozen=True)
class FluxCommand:
    """One flux command: its path (`("create", "source", "git")`; `()` is `flux`)."""

    path: tuple[str, ...]
    aliases: tuple[str, ...]
    flags: tuple[str, ...]
    inherited: tuple[str, ...]
    leaf: bool

    @property
    def name(self) -> str:
        return " ".join(("flux", *self.path))


@dataclass(frozen=True)
class Row:
    """One row of the table: the command, whether afflux has it, what it lacks."""

    command: str
    has: bool
    missing: tuple[str, ...]


_FLAG = re.compile(r"^\s+(?:-\w, )?(--[\w-]+)")
_SUB = re.compile(r"^\s+([\w-]+)\s")


def parse_help(text: str) -> HelpPage:
    """The sections of a cobra help page: Aliases, Available Commands, Flags, Global Flags."""
    section = ""
    aliases: list[str] = []
    subs: list[str] = []
    flags: list[str] = []
    global_flags: list[str] = []
    for line in text.splitlines():
        if line and not line.startswith(" "):
            section = line.rstrip(":") if line.endswith(":") else ""
            continue
        if section == "Aliases":
            aliases += [a.strip() for a in line.split(",") if a.strip()]
        elif section in ("Available Commands", "Additional Commands") and (m := _SUB.match(line)):
            subs.append(m.group(1))
        elif section in ("Flags", "Global Flags") and (m := _FLAG.match(line)):
            if m.group(1) not in _IGNORED:
                (flags if section == "Flags" else global_flags).append(m.group(1))
    return HelpPage(tuple(aliases[1:]), tuple(s for s in subs if s != "help"), tuple(flags),
                    tuple(global_flags))


def command_of(path: Sequence[str], page: HelpPage, root_flags: Iterable[str]) -> FluxCommand:
    """The flag-list entry of the command at `path` from its help page."""
    root = set(root_flags)
    inherited = tuple(sorted(f for f in page.global_flags if f not in root))
    return FluxCommand(tuple(path), page.aliases, tuple(sorted(page.flags)), inherited,
                       not page.subcommands)


def dump_flag_list(commands: Iterable[FluxCommand], header: str) -> str:
    """The flag list file (module docstring), commands sorted by path."""
    lines = [f"# {line}" for line in header.splitlines()]
    for c in sorted(commands, key=lambda c: c.path):
        kind = "" if c.leaf else "/"
        lines.append("\t".join((c.name + kind, ",".join(c.aliases), " ".join(c.flags),
                                " ".join(c.inherited))))
    return "\n".join(lines) + "\n"


def load_flag_list(text: str) -> list[FluxCommand]:
    """The commands of a flag list file."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, aliases, flags, inherited = (line.split("\t") + ["", "", ""])[:4]
        leaf = not name.endswith("/")
        path = tuple(name.rstrip("/").split()[1:])
        out.append(FluxCommand(path, tuple(a for a in aliases.split(",") if a),
                               tuple(flags.split()), tuple(inherited.split()), leaf))
    return out


def _subparsers(parser: argparse.ArgumentParser) -> Mapping[str, argparse.ArgumentParser]:
    for action in parser._actions:  # noqa: SLF001 - argparse keeps its tree there
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return action.choices
    return {}


def afflux_parser_for(root: argparse.ArgumentParser, command: FluxCommand,
                      by_path: Mapping[tuple[str, ...], FluxCommand]
                      ) -> argparse.ArgumentParser | None:
    """afflux's parser of the flux command, each word matched by its name or an alias of the
    flux command at that depth; None when afflux has no such command."""
    parser = root
    for depth in range(1, len(command.path) + 1):
        at = by_path.get(command.path[:depth])
        names = (command.path[depth - 1], *(at.aliases if at else ()))
        choices = _subparsers(parser)
        found = next((choices[n] for n in names if n in choices), None)
        if found is None:
            return None
        parser = found
    return parser


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return set(parser._option_string_actions)  # noqa: SLF001


def rows(commands: Sequence[FluxCommand], root: argparse.ArgumentParser) -> list[Row]:
    """The table's rows: each leaf flux command, sorted by name."""
    by_path = {c.path: c for c in commands}
    out = []
    for c in sorted((c for c in commands if c.leaf and c.path), key=lambda c: c.name):
        parser = afflux_parser_for(root, c, by_path)
        if parser is None:
            out.append(Row(c.name, False, ()))
            continue
        taken = _options(parser)
        wanted = sorted(set(c.flags) | set(c.inherited))
        out.append(Row(c.name, True, tuple(f for f in wanted if f not in taken)))
    return out


def global_missing(commands: Sequence[FluxCommand], root: argparse.ArgumentParser
                   ) -> tuple[str, ...]:
    """flux's global flags (the root's) that afflux does not take."""
    flux_root = next((c for c in commands if not c.path), None)
    if flux_root is None:
        return ()
    taken = _options(root)
    return tuple(sorted(f for f in flux_root.flags if f not in taken))


def _missing_cell(row: Row) -> str:
    if not row.has:
        return "(all)"
    return ", ".join(f"`{f}`" for f in row.missing) or "none"


def parse_table(document: str) -> dict[str, tuple[str, str, str]]:
    """command -> (has, missing flags, notes) of the CLI table's rows, as written."""
    out: dict[str, tuple[str, str, str]] = {}
    lines = document.splitlines()
    try:
        start = lines.index(_TABLE_HEADER) + 2
    except ValueError:
        return out
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        cells += [""] * (4 - len(cells))
        out[cells[0].strip("`")] = (cells[1], cells[2], cells[3])
    return out


def _global_sentence(flags: Sequence[str]) -> str:
    return ", ".join(f"`{f}`" for f in flags) or "none"


def update_document(document: str, table_rows: Sequence[Row], missing_globals: Sequence[str]
                    ) -> str:
    """`document` with the CLI table's rows (has, missing flags) recomputed, notes kept, and
    the global flags paragraph's "Missing:" sentence rewritten."""
    notes = {k: v[2] for k, v in parse_table(document).items()}
    lines = document.splitlines()
    start = lines.index(_TABLE_HEADER) + 2
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    body = [f"| `{r.command}` | {'yes' if r.has else 'no'} | {_missing_cell(r)} | "
            f"{notes.get(r.command, '')} |" for r in table_rows]
    head = "\n".join(lines[:start])
    head = _GLOBAL_MISSING.sub(lambda m: m.group(1) + _global_sentence(missing_globals)
                               + m.group(3), head, count=1)
    tail = "\n".join(lines[end:])
    return head + "\n" + "\n".join(body) + "\n" + tail + ("\n" if document.endswith("\n") else "")


def expected_cells(table_rows: Sequence[Row]) -> dict[str, tuple[str, str]]:
    """command -> (has, missing flags) as the table must say them."""
    return {r.command: ("yes" if r.has else "no", _missing_cell(r)) for r in table_rows}


def global_sentence(flags: Sequence[str]) -> str:
    """The "Missing: ..." list of the global flags paragraph."""
    return _global_sentence(flags)
