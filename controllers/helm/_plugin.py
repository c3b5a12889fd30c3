"""Helm 4's post-renderer: afflux's post-render program as a Helm plugin, and Flux's
post-render strategies.

Helm 4's `--post-renderer` takes the name of a plugin of type `postrenderer/v1` found in
`$HELM_PLUGINS`, no longer a program path. `plugin_args` installs one, `afflux-postrender`,
into the action's private workspace (`<workspace>/plugins`, 0700, removed with it; helm
gets `HELM_PLUGINS` pointing there and nowhere else, so no plugin of a user's, of a chart or
of a HelmRelease is ever found): its `plugin.yaml` (runtime `subprocess`) runs a script of
the workspace that calls this module's `main` with the strategy and the program
`_postrender.post_renderer_args` wrote (kustomize patches and images, commonMetadata).

The strategy (`spec.postRenderStrategy`, `_engine.post_render_strategy`): the helm4 program
always hands the post-renderer hooks and templates as one stream (Helm 4's `combined`; its
other strategies are an SDK option only), so `main` does what Helm's SDK does for each:

- `combined`: the whole stream through the program once;
- `separate`: the hooks (documents annotated `helm.sh/hook`) and the other objects through
  the program in two runs, then together again;
- `nohooks`: only the other objects through the program; the hooks go back as they came.

Helm 4 keeps a failing plugin's stderr to itself, so `main` also writes the program's error
to `ERROR_FILE` in the workspace, which `_helm.HelmRunner.run` adds to helm's message.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from ._engine import HOOK_ANNOTATION
from ._helm import POST_RENDER_ERROR, Workspace

__all__ = ["ERROR_FILE", "PLUGIN_NAME", "by_strategy", "main", "partition", "plugin_args",
           "split_documents"]

PLUGIN_NAME = "afflux-postrender"
ERROR_FILE = POST_RENDER_ERROR
STRATEGIES = ("combined", "separate", "nohooks")
_ENTRY = "from afflux.controllers.helm._plugin import main; main()"
_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)
_TIMEOUT = 300.0


def plugin_args(ws: Workspace, post_renderer: Sequence[str], strategy: str) -> list[str]:
    """Helm 4's arguments for the post-render program that `post_renderer` (Helm 3's
    `--post-renderer <program>`, or nothing) names: the plugin installed in the workspace
    (module docstring) and `--post-renderer <its name>`; [] when there is no program."""
    if not post_renderer:
        return []
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown post-render strategy {strategy!r}")
    program = post_renderer[-1]
    plugins = ws.root / "plugins"
    home = plugins / PLUGIN_NAME
    home.mkdir(parents=True, mode=0o700)
    os.chmod(plugins, 0o700)
    script = ws.write("post-render-plugin", "#!/bin/sh\nexec " + " ".join(shlex.quote(a) for a in (
        sys.executable, "-c", _ENTRY, strategy, program, str(ws.root / ERROR_FILE))) + "\n")
    os.chmod(script, 0o700)
    manifest = {"apiVersion": "v1", "name": PLUGIN_NAME, "version": "1.0.0",
                "type": "postrenderer/v1", "runtime": "subprocess",
                "runtimeConfig": {"platformCommand": [{"command": str(script)}]}}
    path = home / "plugin.yaml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(manifest, f, sort_keys=False)
    ws.env["HELM_PLUGINS"] = str(plugins)
    return ["--post-renderer", PLUGIN_NAME]


def split_documents(stream: str) -> list[str]:
    """The YAML documents of a stream, as text, without the empty ones (pure)."""
    return [doc.strip("\n") + "\n" for doc in _SEPARATOR.split(stream) if doc.strip()]


def _is_hook(doc: str) -> bool:
    try:
        obj = yaml.safe_load(doc)
    except yaml.YAMLError:
        return False
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    return isinstance(annotations, dict) and HOOK_ANNOTATION in annotations


def partition(stream: str) -> tuple[str, str]:
    """(the hooks, the other documents) of a stream, each a stream again (pure)."""
    hooks, others = [], []
    for doc in split_documents(stream):
        (hooks if _is_hook(doc) else others).append(doc)
    return _join(hooks), _join(others)


def _join(docs: Sequence[str]) -> str:
    return "".join(f"---\n{doc}" for doc in docs)


def _run(program: str, stream: str) -> str:
    if not stream:
        return ""
    done = subprocess.run([program], input=stream, capture_output=True, text=True,
                          timeout=_TIMEOUT)
    if done.returncode != 0:
        raise SystemExit(done.stderr.strip() or f"the post-renderer exited {done.returncode}")
    return done.stdout


def render(strategy: str, program: str, stream: str) -> str:
    """The post-rendered stream (module docstring)."""
    return by_strategy(strategy, functools.partial(_run, program), stream)


def by_strategy(strategy: str, run: Callable[[str], str], stream: str) -> str:
    """`stream` post-rendered by `run` (a stream in, a stream out; never called with an
    empty one) as `strategy` says (module docstring). The CLI's `diff helmrelease` renders
    with it too, `run` being the post-render program's functions."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown post-render strategy {strategy!r}")
    if strategy == "combined":
        return run(stream) if stream.strip() else ""
    hooks, others = partition(stream)
    rendered = run(others) if others else ""
    hooks = run(hooks) if strategy == "separate" and hooks else hooks
    parts = [p if p.endswith("\n") else p + "\n" for p in (rendered, hooks) if p.strip()]
    return "---\n".join(p.removeprefix("---\n") for p in parts)


def main(argv: list[str] | None = None) -> None:
    strategy, program, error_file = sys.argv[1:4] if argv is None else argv[:3]
    try:
        sys.stdout.write(render(strategy, program, sys.stdin.read()))
    except (SystemExit, OSError, subprocess.SubprocessError) as err:
        message = str(err.code if isinstance(err, SystemExit) else err)
        Path(error_file).write_text(message[:4000])
        sys.stderr.write(message + "\n")
        raise SystemExit(1) from None
