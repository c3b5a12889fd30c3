"""The series selectors the monitoring test finds in a PromQL expression."""

from __future__ import annotations

import pytest

from harness.promql import selectors, substitute

CASES = {
    "bare name": ("up", ["up"]),
    "name with matchers": ('up{job="x"} == 0', ['up{job="x"}']),
    "aggregation with by": (
        'sum by (kind) (rate(gotk_reconcile_duration_seconds_sum{kind=~"A|B"}[5m]))',
        ['gotk_reconcile_duration_seconds_sum{kind=~"A|B"}']),
    "by after the call": ("sum(rate(a_total[1m])) by (controller, name) / b",
                          ["a_total", "b"]),
    "division of two sums": (
        "sum(rate(x_sum[5m])) by (kind)\n/\nsum(rate(x_count[5m])) by (kind)",
        ["x_sum", "x_count"]),
    "or vector fallback": ('count(gotk_resource_info{ready="False"}) or vector(0)',
                           ['gotk_resource_info{ready="False"}']),
    "histogram quantile": (
        'histogram_quantile(0.99, sum by (le) (rate(h_bucket{controller="helmrelease"}[5m])))',
        ['h_bucket{controller="helmrelease"}']),
    "braces inside matcher values": ('m{legend="{{kind}}", a="b"}', ['m{legend="{{kind}}", a="b"}']),
    "nameless selector": ('count({__name__=~"gotk_.*"})', ['{__name__=~"gotk_.*"}']),
    "keywords are not metrics": ("a and on (x) b unless c offset 5m", ["a", "b", "c"]),
    "numbers and comparison": ("max(m) > 60", ["m"]),
}


@pytest.mark.parametrize(("expr", "expected"), CASES.values(), ids=CASES.keys())
def test_selectors(expr: str, expected: list[str]) -> None:
    assert selectors(expr) == expected


def test_substitute_longest_variable_first() -> None:
    expr = 'm{namespace=~"$namespace", op=~"${operator_namespace}", x="$namespace_x"}'
    assert substitute(expr, {"namespace": ".*", "operator_namespace": "flux",
                             "namespace_x": "y"}) == (
        'm{namespace=~".*", op=~"flux", x="y"}')
