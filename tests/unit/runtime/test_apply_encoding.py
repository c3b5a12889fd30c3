"""Apply patches go out as compact JSON bytes, encoded once (the Kubernetes client would
walk a dict and encode it again), unless JSON cannot hold them as they are."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from afflux.controllers.runtime._kube import _encoded_apply

CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
      "data": {"greeting": "grüß dich", "n": "1"}}


@pytest.mark.parametrize(("body", "encoded"), [
    pytest.param(CM, True, id="plain-object-as-json-bytes"),
    pytest.param({"data": {"list": [1, 2.5, True, None]}}, True, id="json-scalars"),
    pytest.param({"data": {"when": datetime.date(2024, 1, 2)}}, False, id="yaml-date-left-as-is"),
])
def test_apply_body_encoding(body: dict[str, Any], encoded: bool) -> None:
    out = _encoded_apply(body)
    if encoded:
        assert isinstance(out, bytes)
        assert json.loads(out) == body
        assert b" " not in out.replace("grüß dich".encode(), b"")  # compact
    else:
        assert out is body
