"""image-reflector-controller's default `--storage-path`: the container's /data, else the
user's state directory, never the working directory (a checkout)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from afflux.controllers.image_reflector.handlers import default_storage_path

STATE = "afflux/image-reflector-controller"


@pytest.mark.parametrize(("data", "env", "want"), [
    ("writable", {"HOME": "{tmp}/home"}, "{tmp}/data"),
    ("missing", {"XDG_STATE_HOME": "{tmp}/xdg", "HOME": "{tmp}/home"}, f"{{tmp}}/xdg/{STATE}"),
    ("missing", {"HOME": "{tmp}/home"}, f"{{tmp}}/home/.local/state/{STATE}"),
    ("missing", {"XDG_STATE_HOME": "relative/dir", "HOME": "{tmp}/home"},
     f"{{tmp}}/home/.local/state/{STATE}"),
    ("missing", {}, f"{tempfile.gettempdir()}/image-reflector-controller"),
], ids=["container-volume", "xdg-state-home", "home-local-state",
        "relative-xdg-ignored-for-home", "no-home-temp-dir"])
def test_default_storage_path(tmp_path: Path, data: str, env: dict[str, str], want: str,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "home").mkdir()
    if data == "writable":
        (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)  # a writable working directory must not be chosen
    environ = {k: v.replace("{tmp}", str(tmp_path)) for k, v in env.items()}
    got = default_storage_path(environ, data=tmp_path / "data")
    assert got == Path(want.replace("{tmp}", str(tmp_path)))
    if data != "writable":
        assert not str(got).startswith(os.getcwd() + "/data")
