"""The delivery records on Alerts: what went where, never the address."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.controllers.notification._deliveries import delivery_message, delivery_metadata

EVENT: dict[str, Any] = {
    "involvedObject": {"kind": "Kustomization", "namespace": "apps", "name": "web"},
    "reason": "HealthCheckFailed", "severity": "error", "message": "m"}
PROVIDER = {"metadata": {"name": "chat"},
            "spec": {"type": "slack", "address": "https://hooks.slack.test/services/T/B/SECRET"}}


@pytest.mark.parametrize(("failure", "unchanged", "text"), [
    (None, False, "sent Kustomization/apps/web (HealthCheckFailed, error) to Provider 'chat' "
                  "(slack)"),
    (None, True, "Kustomization/apps/web (HealthCheckFailed, error): Provider 'chat' (slack) "
                 "already shows it, not sent again"),
    ("the service answered 503", False, "could not send Kustomization/apps/web "
     "(HealthCheckFailed, error) to Provider 'chat' (slack): the service answered 503"),
    ("x" * 1000, False, "could not send Kustomization/apps/web (HealthCheckFailed, error) to "
     "Provider 'chat' (slack): " + "x" * 297 + "..."),
], ids=["sent", "unchanged", "failed", "long-failure-cut"])
def test_delivery_message(failure: str | None, unchanged: bool, text: str) -> None:
    message = delivery_message(EVENT, PROVIDER, failure, unchanged)
    assert message == text
    assert "hooks.slack.test" not in message


def test_delivery_metadata() -> None:
    assert delivery_metadata(EVENT, PROVIDER) == {
        "provider": "chat", "object": "Kustomization/apps/web", "reason": "HealthCheckFailed"}
