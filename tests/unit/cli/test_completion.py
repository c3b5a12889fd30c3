"""`afflux completion`: the scripts come from the parser; bash really completes with them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from afflux.cli import main
from afflux.cli._completionfmt import (
    command_tree,
    fish_script,
    powershell_script,
    zsh_script,
)
from afflux.cli._main import build_parser


def test_command_tree_has_every_command_and_alias() -> None:
    tree = command_tree(build_parser())
    assert {"get", "reconcile", "diff", "completion", "tree"} <= set(tree[""].subcommands)
    assert {"kustomizations", "ks", "helmreleases", "hr", "sources"} <= set(
        tree["get"].subcommands)
    assert tree["get ks"].options == tree["get kustomizations"].options
    assert "--status-selector" in tree["get ks"].options
    assert "--server" in tree[""].options and "--as-group" in tree["get ks"].options
    assert {"bash", "zsh", "fish", "powershell"} == set(tree["completion"].subcommands)


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("completion") / "afflux.bash"
    done = subprocess.run([sys.executable, "-m", "afflux.cli",
                           "completion", "bash"], capture_output=True, text=True, check=True)
    path.write_text(done.stdout)
    return path


def _complete(script: Path, *words: str) -> list[str]:
    """What bash offers for `words` (the last one is the word being completed)."""
    array = " ".join(f"'{w}'" for w in ("afflux", *words))
    done = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c",
         f'source "{script}"; COMP_WORDS=({array}); COMP_CWORD={len(words)}; _afflux; '
         'printf "%s\\n" "${COMPREPLY[@]}"'],
        capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_bash_completes_the_nouns_of_get(bash_script: Path) -> None:
    offered = _complete(bash_script, "get", "")
    assert {"kustomizations", "ks", "helmreleases", "hr", "sources", "alerts",
            "receivers", "all"} <= set(offered)
    assert _complete(bash_script, "get", "he") == ["helmreleases", "helmrelease"]
    assert set(_complete(bash_script, "-n", "apps", "get", "sources", "")) >= {
        "git", "oci", "helm", "chart", "bucket", "external", "all"}
    assert _complete(bash_script, "get", "ks", "--status") == ["--status-selector"]
    assert "completion" in _complete(bash_script, "")


def test_zsh_and_fish_scripts(capsys: pytest.CaptureFixture[str]) -> None:
    tree = command_tree(build_parser())
    assert zsh_script(tree).startswith("#compdef afflux\n")
    assert "bashcompinit" in zsh_script(tree)
    fish = fish_script(tree)
    assert "complete -c afflux -n \"test \"(__afflux_path)\" = 'get'\" -a '" in fish
    assert "'get:ks'" in fish
    assert main(["completion", "fish"]) == 0
    assert capsys.readouterr().out == fish
    if shutil.which("fish"):  # syntax check where fish is installed
        subprocess.run(["fish", "-n", "-c", fish], check=True)


def _ps_table(script: str, name: str) -> dict[str, list[str]]:
    """The `@{ 'path' = @('a', 'b') }` hashtable `$global:__afflux<name>`, parsed."""
    head = f"$global:__afflux{name} = @{{\n"
    start = script.index(head) + len(head)
    body = script[start:script.index("\n}\n", start)]
    table: dict[str, list[str]] = {}
    for line in body.splitlines():
        key, _, values = line.strip().partition(" = ")
        inner = values.removeprefix("@(").removesuffix(")")
        table[key.strip("'")] = [v.strip().strip("'") for v in inner.split(",") if v.strip()]
    return table


def test_powershell_script_names_every_command_and_long_option(
        capsys: pytest.CaptureFixture[str]) -> None:
    tree = command_tree(build_parser())
    script = powershell_script(tree)
    assert main(["completion", "powershell"]) == 0
    assert capsys.readouterr().out == script
    assert script.count("{") == script.count("}")
    assert script.count("(") == script.count(")")
    assert "Register-ArgumentCompleter -Native -CommandName 'afflux' -ScriptBlock {" in script
    subs, opts = _ps_table(script, "Subcommands"), _ps_table(script, "Options")
    assert subs == {path: node.subcommands for path, node in tree.items()}
    assert opts == {path: node.options for path, node in tree.items()}
    assert {"get", "completion", "create"} <= set(subs[""])
    assert "powershell" in subs["completion"]
    assert "--ssh-key-algorithm" in opts["create secret git"]
    assert "--kube-api-qps" in opts["get ks"] and "--version" in opts[""]
    if shutil.which("pwsh"):  # run it where PowerShell is installed
        subprocess.run(["pwsh", "-NoProfile", "-Command", script], check=True)
