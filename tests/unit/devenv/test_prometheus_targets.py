"""File-discovery targets for local operators: the labels a Pod would have."""

from __future__ import annotations

from afflux.cli.devenv import prometheus_targets


def test_one_group_per_operator_with_pod_like_labels() -> None:
    groups = prometheus_targets({"source-controller": 4001, "kustomize-controller": 4002})
    assert groups == [
        {"targets": ["127.0.0.1:4002"],
         "labels": {"namespace": "flux-system", "pod": "kustomize-controller-local",
                    "app": "kustomize-controller", "container": "manager"}},
        {"targets": ["127.0.0.1:4001"],
         "labels": {"namespace": "flux-system", "pod": "source-controller-local",
                    "app": "source-controller", "container": "manager"}},
    ]


def test_namespace_is_the_operators() -> None:
    [group] = prometheus_targets({"helm-controller": 1}, namespace="gitops")
    assert group["labels"]["namespace"] == "gitops"
