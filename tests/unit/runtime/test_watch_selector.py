"""`--watch-label-selector`: the selector is checked at start (a bad one is a usage error
naming the term), kept as given for the API server, and gives each shard its own Lease."""

from __future__ import annotations

import pytest

from afflux.controllers.runtime import check_selector, lease_name, parse_options, selector_matches

SHARD = "sharding.fluxcd.io/key"


@pytest.mark.parametrize("selector", [
    pytest.param("", id="empty"),
    pytest.param(f"!{SHARD}", id="main-instance"),
    pytest.param(f"{SHARD} in (shard1)", id="shard"),
    pytest.param(f"{SHARD} notin (shard1, shard2)", id="notin-with-spaces"),
    pytest.param("app=web,tier!=db", id="equality"),
    pytest.param("app==web", id="double-equals"),
    pytest.param("team", id="exists"),
    pytest.param("env=", id="empty-value"),
])
def test_valid_selectors_are_kept_as_given(selector: str) -> None:
    assert check_selector(selector) == selector


@pytest.mark.parametrize(("selector", "complaint"), [
    pytest.param(f"{SHARD} in shard1", "is not a valid label key", id="in-without-parens"),
    pytest.param(f"{SHARD} in (shard1", "unbalanced parentheses", id="unbalanced"),
    pytest.param("app=we b", "is not a valid label key", id="space-in-value"),
    pytest.param("app=-web", "is not a valid label value", id="value-starts-with-dash"),
    pytest.param("Bad_Prefix.io/key", "is not a valid label key", id="uppercase-prefix"),
    pytest.param("a" * 64, "is not a valid label key", id="name-too-long"),
    pytest.param(f"{SHARD} in (x y)", "is not a valid label value", id="set-value"),
])
def test_invalid_selectors_name_the_term(selector: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        check_selector(selector)


@pytest.mark.parametrize(("selector", "labels", "selected"), [
    pytest.param(f"!{SHARD}", {}, True, id="main-takes-unlabelled"),
    pytest.param(f"!{SHARD}", {SHARD: "shard1"}, False, id="main-leaves-sharded"),
    pytest.param(f"{SHARD} in (shard1)", {SHARD: "shard1"}, True, id="shard-takes-its-own"),
    pytest.param(f"{SHARD} in (shard1)", {SHARD: "shard2"}, False, id="shard-leaves-others"),
    pytest.param(f"{SHARD} in (shard1)", {}, False, id="shard-leaves-unlabelled"),
])
def test_the_shards_partition_the_objects(selector: str, labels: dict[str, str],
                                          selected: bool) -> None:
    assert selector_matches(selector, labels) is selected


def test_the_flag_is_parsed_and_a_bad_selector_is_a_usage_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    options = parse_options("kustomize-controller", [f"--watch-label-selector={SHARD} in (a)"])
    assert options.watch_label_selector == f"{SHARD} in (a)"
    assert options.notes == ()
    assert parse_options("kustomize-controller", []).watch_label_selector == ""
    with pytest.raises(SystemExit):
        parse_options("kustomize-controller", ["--watch-label-selector=a in b"])
    assert "--watch-label-selector" in capsys.readouterr().err


@pytest.mark.parametrize(("selector", "expected"), [
    pytest.param("", "kustomize-controller-leader-election", id="unsharded-is-fluxs-name"),
    pytest.param(f"!{SHARD}", "kustomize-controller-leader-election-", id="main-instance"),
    pytest.param(f"{SHARD} in (shard1)", "kustomize-controller-leader-election-",
                 id="shard"),
])
def test_lease_names(selector: str, expected: str) -> None:
    name = lease_name("kustomize-controller", selector)
    assert name.startswith(expected)
    assert len(name) <= 63


def test_each_selector_has_its_own_lease() -> None:
    names = {lease_name("helm-controller", s)
             for s in ("", f"!{SHARD}", f"{SHARD} in (shard1)", f"{SHARD} in (shard2)")}
    assert len(names) == 4
