"""The mass-deletion guardrail's decision and message."""

from __future__ import annotations

import pytest

from afflux.controllers.runtime._pruneguard import (
    ALLOW_PRUNE_ANNOTATION,
    GUARD_ANNOTATION,
    Guard,
    held_message,
    hold_prune,
)

REV = "main@sha1:" + "a" * 40
DEFAULT = Guard()


@pytest.mark.parametrize(("guard", "inventory", "stale", "annotations", "held"), [
    (DEFAULT, 20, 0, {}, False),
    (DEFAULT, 20, 10, {}, False),
    (DEFAULT, 20, 11, {}, True),
    (DEFAULT, 20, 20, {}, True),
    (DEFAULT, 10, 10, {}, False),
    (DEFAULT, 11, 11, {}, True),
    (DEFAULT, 20, 20, {ALLOW_PRUNE_ANNOTATION: REV}, False),
    (DEFAULT, 20, 20, {ALLOW_PRUNE_ANNOTATION: "main@sha1:" + "b" * 40}, True),
    (DEFAULT, 20, 20, {GUARD_ANNOTATION: "Disabled"}, False),
    (Guard(ratio=1.0), 20, 20, {}, False),
    (Guard(ratio=0.2, minimum=3), 5, 2, {}, True),
], ids=["nothing-stale", "exactly-half-is-allowed", "more-than-half-held", "everything-held",
        "small-inventory-never-held", "just-over-the-minimum-held", "allowed-for-this-revision",
        "allowed-for-another-revision-is-still-held", "guard-off-for-the-object",
        "ratio-one-turns-it-off", "custom-thresholds"])
def test_hold_prune(guard: Guard, inventory: int, stale: int, annotations: dict[str, str],
                    held: bool) -> None:
    assert hold_prune(guard, inventory=inventory, stale=stale, revision=REV,
                      annotations=annotations) is held


def test_held_message_counts_kinds_and_says_how_to_allow() -> None:
    message = held_message(["ConfigMap"] * 5 + ["Deployment"] * 2, 8, REV, "apps")
    assert message.startswith(f"prune held: revision {REV} would delete 7 of 8 objects "
                              "(ConfigMap x5, Deployment x2)")
    assert f"{ALLOW_PRUNE_ANNOTATION}={REV}" in message
    assert "afflux reconcile ks apps --allow-prune" in message


def test_held_uninstall_names_the_helmrelease_command() -> None:
    message = held_message(["ConfigMap"] * 12, 12, "1.0.0", "web", held="uninstall",
                           kind="HelmRelease", short="hr")
    assert message.startswith("uninstall held: revision 1.0.0 would delete 12 of 12 objects")
    assert "afflux reconcile hr web --allow-prune" in message
    assert message.endswith("for this HelmRelease")
