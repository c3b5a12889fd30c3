"""The preview report (`afflux.cli._previewfmt`): counts, exit decisions and the text,
JSON and Markdown forms."""

from __future__ import annotations

import json

import pytest

from afflux.cli._previewfmt import (
    ObjectPreview,
    Preview,
    changes,
    failed,
    held,
    render,
    summary,
)
from afflux.cli._previewhr import same_chart, uses_chart_source

DIFF = "--- live ConfigMap/apps/a\n+++ merged ConfigMap/apps/a\n@@ -1 +1 @@\n-v: 1\n+v: 2\n"


def preview(*ks: ObjectPreview) -> Preview:
    return Preview("flux-system/flux-system", "feature", "feature@sha1:abc", list(ks))


def apps(**kw: object) -> ObjectPreview:
    return ObjectPreview("flux-system", "apps", "./apps", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("report", "n", "is_failed", "line", "n_held"), [
    pytest.param(preview(apps()), 0, False, "0 created, 0 changed, 0 pruned, 0 held, 0 failed",
                 0, id="nothing"),
    pytest.param(preview(apps(created=["ConfigMap/apps/b"], changed={"ConfigMap/apps/a": DIFF},
                              pruned=["Service/apps/c"])),
                 3, False, "1 created, 1 changed, 1 pruned, 0 held, 0 failed", 0, id="all-three"),
    pytest.param(preview(apps(pruned=["ConfigMap/apps/x"] * 11, held="prune held: ...")),
                 0, False, "0 created, 0 changed, 0 pruned, 11 held, 0 failed", 11,
                 id="held-prune-changes-nothing"),
    pytest.param(preview(apps(error="build failed: no such file")), 0, True,
                 "0 created, 0 changed, 0 pruned, 0 held, 1 failed", 0, id="failed"),
    pytest.param(preview(apps(skipped="suspended")), 0, False,
                 "0 created, 0 changed, 0 pruned, 0 held, 0 failed", 0, id="suspended"),
])
def test_counts(report: Preview, n: int, is_failed: bool, line: str, n_held: int) -> None:
    assert (changes(report), failed(report), summary(report), held(report)) == \
        (n, is_failed, line, n_held)


def test_text_lists_each_change_with_its_diff() -> None:
    out = render(preview(apps(created=["ConfigMap/apps/b"], changed={"ConfigMap/apps/a": DIFF},
                              pruned=["Service/apps/c"]),
                         ObjectPreview("flux-system", "infra", "./infra")), "text")
    assert out == (
        "Preview of GitRepository flux-system/flux-system at feature@sha1:abc\n"
        "► Kustomization flux-system/apps (./apps)\n"
        "  + ConfigMap/apps/b created\n"
        "  ~ ConfigMap/apps/a changed\n"
        "    --- live ConfigMap/apps/a\n    +++ merged ConfigMap/apps/a\n    @@ -1 +1 @@\n"
        "    -v: 1\n    +v: 2\n"
        "  - Service/apps/c pruned\n"
        "► Kustomization flux-system/infra (./infra): no changes\n"
        "Summary: 1 created, 1 changed, 1 pruned, 0 held, 0 failed\n")


def test_text_of_a_held_prune_and_a_failure() -> None:
    out = render(preview(apps(pruned=["ConfigMap/apps/x"], held="prune held: 1 of 12"),
                         ObjectPreview("ns", "bad", "./bad", new=True,
                                              error="build failed: boom")), "text")
    assert "  - ConfigMap/apps/x pruned (held by the guard)\n  ⚠ prune held: 1 of 12\n" in out
    assert "► Kustomization ns/bad (./bad) [new]: failed\n  ✗ build failed: boom\n" in out


def test_json_has_the_objects_and_a_summary() -> None:
    data = json.loads(render(preview(apps(created=["ConfigMap/apps/b"])), "json"))
    assert data["revision"] == "feature@sha1:abc"
    assert data["kustomizations"][0]["created"] == ["ConfigMap/apps/b"]
    assert data["summary"] == {"created": 1, "changed": 0, "pruned": 0, "held": 0,
                               "failed": 0, "changes": 1}


def test_markdown_for_a_pull_request_comment() -> None:
    diff_with_fence = DIFF + "+```\n"
    out = render(preview(apps(changed={"ConfigMap/apps/a": diff_with_fence},
                              pruned=["Service/apps/c"], held="prune held: x")), "markdown")
    assert out.startswith("### afflux preview of `feature`\n")
    assert "| Kustomization `flux-system/apps` | 0 | 1 | 1 | prune **held** |\n" in out
    assert "- pruned `Service/apps/c` (held)\n" in out
    # the diff's own backticks cannot close the fence
    assert "<details><summary>changed <code>ConfigMap/apps/a</code></summary>\n\n````diff\n" \
        in out


def release(chart: dict[str, object] | None = None, chart_ref: object = None,
            namespace: str = "apps") -> dict[str, object]:
    spec: dict[str, object] = {}
    if chart is not None:
        spec["chart"] = {"spec": chart}
    if chart_ref is not None:
        spec["chartRef"] = chart_ref
    return {"metadata": {"name": "web", "namespace": namespace}, "spec": spec}


GIT = {"kind": "GitRepository", "name": "repo"}


@pytest.mark.parametrize(("body", "uses"), [
    pytest.param(release({"chart": "./charts/web", "sourceRef": GIT}), True,
                 id="same-namespace-by-default"),
    pytest.param(release({"chart": "./c", "sourceRef": {**GIT, "namespace": "apps"}}), True,
                 id="namespace-given"),
    pytest.param(release({"chart": "./c", "sourceRef": {**GIT, "namespace": "other"}}), False,
                 id="another-namespace"),
    pytest.param(release({"chart": "web", "sourceRef": {"kind": "HelmRepository",
                                                        "name": "repo"}}), False,
                 id="a-helm-repository"),
    pytest.param(release(chart_ref={"kind": "OCIRepository", "name": "repo"}), False,
                 id="chart-ref"),
])
def test_uses_chart_source(body: dict[str, object], uses: bool) -> None:
    assert uses_chart_source(body, ("apps", "repo")) is uses


@pytest.mark.parametrize(("live", "body", "same"), [
    pytest.param(release({"chart": "web", "version": "*", "reconcileStrategy": "ChartVersion"}),
                 release({"chart": "web"}), True, id="defaults-left-out"),
    pytest.param(release({"chart": "web", "version": "1.0.0"}),
                 release({"chart": "web", "version": "1.1.0"}), False, id="new-version"),
    pytest.param(release(chart_ref={"kind": "OCIRepository", "name": "a"}),
                 release(chart_ref={"kind": "OCIRepository", "name": "b"}), False,
                 id="new-chart-ref"),
])
def test_same_chart(live: dict[str, object], body: dict[str, object], same: bool) -> None:
    assert same_chart(live, body) is same
