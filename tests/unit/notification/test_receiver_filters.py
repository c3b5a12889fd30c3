"""Receivers' CEL: spec.resourceFilter and spec.resources[].filter decide per object (both
must hold), over `res`, `req` and, for generic-oidc, `claims`; expressions that do not
compile (or use `claims` outside generic-oidc) name their field."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.api import Receiver
from afflux.controllers.notification._cel import CELError
from afflux.controllers.notification._reconcile import compile_receiver_cel
from afflux.controllers.notification._server import resource_filter


def receiver(top: str | None = None, entry: str | None = None,
             type_: str = "generic") -> Receiver:
    spec: dict[str, Any] = {"type": type_, "resources": [
        {"kind": "ImageRepository", "name": "*", **({"filter": entry} if entry else {})}]}
    if type_ == "generic-oidc":
        spec["oidcProviders"] = [{"issuerURL": "https://i.test", "validations": []}]
    else:
        spec["secretRef"] = {"name": "s"}
    if top:
        spec["resourceFilter"] = top
    return Receiver.from_dict({"apiVersion": "notification.toolkit.fluxcd.io/v1",
                               "kind": "Receiver",
                               "metadata": {"name": "r", "namespace": "apps"}, "spec": spec})


def obj(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


REQ = {"tag": "registry.test/team/hello-world:1.1"}
TOP = "req.tag.contains(res.metadata.name)"
ENTRY = "res.metadata.labels['environment'] == 'production'"


@pytest.mark.parametrize(("top", "entry", "target", "taken"), [
    (TOP, None, obj("hello-world"), True),
    (TOP, None, obj("other"), False),
    (None, ENTRY, obj("other", environment="production"), True),
    (TOP, ENTRY, obj("hello-world", environment="staging"), False),
    (TOP, ENTRY, obj("hello-world", environment="production"), True),
    ("req.tag.split('/')[1] == 'team'", None, obj("x"), True),
    ("res.metadata.annotations['x'] == 'y'", None, obj("x"), False),  # fails: left alone
], ids=["top-yes", "top-no", "entry-yes", "both-entry-no", "both-yes", "split", "error"])
def test_filters_stack(top: str | None, entry: str | None, target: dict[str, Any],
                       taken: bool) -> None:
    r = receiver(top, entry)
    accept = resource_filter(r, REQ, None)
    assert accept is not None
    assert accept(r.to_dict()["spec"]["resources"][0], target) is taken


def test_no_filters_take_everything() -> None:
    assert resource_filter(receiver(), REQ, None) is None


def test_claims_filter_for_oidc() -> None:
    r = receiver("claims.repository == res.metadata.name", type_="generic-oidc")
    accept = resource_filter(r, {}, {"repository": "web"})
    assert accept is not None
    entry = r.to_dict()["spec"]["resources"][0]
    assert accept(entry, obj("web")) and not accept(entry, obj("api"))


@pytest.mark.parametrize(("r", "field"), [
    (receiver("res.metadata.("), "spec.resourceFilter"),
    (receiver(entry="claims.sub == 'x'"), "spec.resources[0].filter"),
    (receiver("claims.sub == 'x'"), "spec.resourceFilter"),
], ids=["parse-error", "claims-in-entry-not-oidc", "claims-not-oidc"])
def test_bad_expressions_name_their_field(r: Receiver, field: str) -> None:
    with pytest.raises(CELError, match=field.replace("[", r"\[").replace("]", r"\]")):
        compile_receiver_cel(r)


def test_claims_compile_for_oidc() -> None:
    compile_receiver_cel(receiver("claims.sub == res.metadata.name", type_="generic-oidc"))
