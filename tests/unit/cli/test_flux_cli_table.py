"""The CLI table of docs/flux-compatibility.md against afflux's parser: the table's *has* and
*missing flags* columns and the global "Missing:" list must be what `hack/flux_cli_table.py`
computes from the flag list (`hack/flux-cli-flags.txt`, of the pinned flux) and
`build_parser()`; and the generator's pure parts (help pages, the flag list, rows, the
rewrite that keeps the notes)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from afflux.cli._fluxtable import (
    FluxCommand,
    HelpPage,
    Row,
    dump_flag_list,
    expected_cells,
    global_missing,
    global_sentence,
    load_flag_list,
    parse_help,
    parse_table,
    rows,
    update_document,
)
from afflux.cli._main import build_parser

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "flux-compatibility.md"
FLAGS = ROOT / "hack" / "flux-cli-flags.txt"
REGENERATE = "run `.venv/bin/python hack/flux_cli_table.py` and commit docs/flux-compatibility.md"


def test_the_table_says_what_the_parser_has() -> None:
    commands = load_flag_list(FLAGS.read_text())
    parser = build_parser()
    written = parse_table(DOC.read_text())
    expected = expected_cells(rows(commands, parser))
    assert sorted(written) == sorted(expected), f"the table's commands differ: {REGENERATE}"
    wrong = {cmd: (written[cmd][:2], cells) for cmd, cells in expected.items()
             if written[cmd][:2] != cells}
    assert not wrong, f"(written, parser) differ: {wrong}; {REGENERATE}"
    sentence = global_sentence(global_missing(commands, parser))
    assert f"Missing: {sentence}." in DOC.read_text(), f"global flags: {REGENERATE}"


def test_the_flag_list_is_of_the_pinned_flux() -> None:
    pinned = re.search(r"^FLUX_VERSION=(\S+)", (ROOT / "hack/versions.env").read_text(), re.M)
    assert pinned is not None
    assert f"(flux: {pinned.group(1)})" in FLAGS.read_text().splitlines()[0], (
        "run `.venv/bin/python hack/flux_cli_table.py --refresh-flags` after `make tools`")


HELP = """Long text.

Usage:
  flux get sources [command]

Aliases:
  sources, source

Available Commands:
  all         Get all source statuses
  git         Get GitRepository source statuses
  help        Help about any command

Flags:
  -h, --help              help for sources
  -w, --watch             watch
      --status-selector string   filter

Global Flags:
  -A, --all-namespaces   list across all namespaces
      --timeout duration   timeout
"""


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(HELP, HelpPage(("source",), ("all", "git"), ("--watch", "--status-selector"),
                                ("--all-namespaces", "--timeout")), id="group-page"),
    pytest.param("Usage:\n  flux version\n\nFlags:\n      --client   client only\n",
                 HelpPage((), (), ("--client",), ()), id="leaf-without-aliases"),
])
def test_parse_help(text: str, expected: HelpPage) -> None:
    assert parse_help(text) == expected


FLUX = [
    FluxCommand((), (), ("--timeout", "--version"), (), False),
    FluxCommand(("get",), (), ("--watch",), (), False),
    FluxCommand(("get", "sources"), ("source",), (), ("--watch",), False),
    FluxCommand(("get", "sources", "git"), (), ("--status-selector",), ("--watch",), True),
    FluxCommand(("plugin", "list"), (), (), (), True),
]


def test_flag_list_round_trip() -> None:
    assert load_flag_list(dump_flag_list(FLUX, "header")) == FLUX


def _afflux() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser()
    root.add_argument("--timeout")
    get = root.add_subparsers().add_parser("get")
    source = get.add_subparsers().add_parser("source")  # the alias flux also takes
    git = source.add_subparsers().add_parser("git")
    git.add_argument("--watch", action="store_true")
    return root


def test_rows_match_words_or_aliases_and_list_missing_flags() -> None:
    assert rows(FLUX, _afflux()) == [
        Row("flux get sources git", True, ("--status-selector",)),
        Row("flux plugin list", False, ()),
    ]
    assert global_missing(FLUX, _afflux()) == ("--version",)


DOC_TEXT = """# x

Global flags: ... Missing: `--old`. As with pflag.

| flux command | has | missing flags | notes |
| --- | --- | --- | --- |
| `flux get sources git` | no | (all) | a note |
| `flux gone` | no | (all) |  |

After.
"""


def test_update_document_keeps_notes_and_the_rest() -> None:
    table = rows(FLUX, _afflux())
    out = update_document(DOC_TEXT, table, ("--version",))
    assert out == DOC_TEXT.replace("`--old`", "`--version`").replace(
        "| `flux get sources git` | no | (all) | a note |\n| `flux gone` | no | (all) |  |",
        "| `flux get sources git` | yes | `--status-selector` | a note |\n"
        "| `flux plugin list` | no | (all) |  |")
    assert parse_table(out)["flux get sources git"] == ("yes", "`--status-selector`", "a note")
