"""Boolean flags take `--flag=true|false` as flux's (pflag) do, in every command."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from afflux.cli import main
from afflux.cli._argparse import FluxArgumentParser, parse_bool, rewrite_bool_flags
from afflux.cli._main import build_parser, parse_args


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("True", True), ("TRUE", True), ("t", True), ("1", True),
    ("false", False), ("False", False), ("f", False), ("0", False), ("F", False),
])
def test_parse_bool_takes_what_go_takes(text: str, value: bool) -> None:
    assert parse_bool(text) is value


@pytest.mark.parametrize("text", ["", "yes", "no", "on", "2", "tru"])
def test_parse_bool_refuses_the_rest(text: str) -> None:
    with pytest.raises(ValueError, match="not a boolean"):
        parse_bool(text)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("--prune", action="store_true")
    p.add_argument("--keep", action="store_false")
    p.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--path")
    return p


@pytest.mark.parametrize(("args", "out", "forced"), [
    (["--prune=true"], ["--prune"], {}),
    (["--prune=false"], [], {"prune": False}),
    (["--prune=false", "--prune"], ["--prune"], {}),  # the last one wins
    (["--prune", "--prune=false"], ["--prune"], {"prune": False}),
    (["--keep=false"], [], {"keep": True}),
    (["--keep=true"], ["--keep"], {}),
    (["--wait=false"], [], {"wait": False}),
    (["--no-wait=true"], ["--no-wait"], {}),
    (["--no-wait=false"], [], {"wait": True}),
    (["--path=--prune=x"], ["--path=--prune=x"], {}),  # not a boolean flag: untouched
    (["--", "--prune=true"], ["--", "--prune=true"], {}),
    (["--prune", "true"], ["--prune", "true"], {}),  # a space: `true` is a positional
])
def test_rewrite_bool_flags(args: list[str], out: list[str], forced: dict[str, bool]) -> None:
    assert rewrite_bool_flags(_parser(), args) == (out, forced)


def test_rewrite_refuses_a_value_that_is_not_a_boolean() -> None:
    with pytest.raises(ValueError, match="invalid argument for --prune: 'yes'"):
        rewrite_bool_flags(_parser(), ["--prune=yes"])


def _all_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                yield from _all_parsers(child)


def test_every_parser_of_the_cli_takes_bool_values() -> None:
    parsers = list(_all_parsers(build_parser()))
    assert len(parsers) > 100
    assert all(isinstance(p, FluxArgumentParser) for p in parsers)


@pytest.mark.parametrize(("argv", "field", "value"), [
    (["create", "ks", "apps", "--source=repo", "--prune=true"], "prune", True),
    (["create", "ks", "apps", "--source=repo", "--prune=false"], "prune", False),
    (["create", "ks", "apps", "--source=repo", "--wait=true", "--export"], "wait", True),
    (["create", "source", "git", "x", "--url=https://h/r", "--export=true"], "export", True),
    (["resume", "ks", "apps", "--wait=false"], "wait", False),
    (["get", "ks", "-A", "--watch=false"], "watch", False),
    (["delete", "ks", "apps", "--silent=true"], "silent", True),
    (["reconcile", "ks", "apps", "--with-source=true"], "with_source", True),
])
def test_flux_style_bool_values_on_the_command_line(argv: list[str], field: str,
                                                    value: bool) -> None:
    assert getattr(parse_args(argv), field) is value


def test_a_bad_bool_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["create", "ks", "apps", "--source=repo", "--prune=maybe"]) == 2
    assert "invalid argument for --prune: 'maybe' is not a boolean" in capsys.readouterr().err
