"""The local cluster's kwok configuration: which Pod Stage plays which part."""

from __future__ import annotations

import pytest
import yaml

from afflux.cli.devenv._kwok_stages import POD_STAGES, kwok_configuration


def _stages() -> dict[str, dict]:
    docs = list(yaml.safe_load_all(kwok_configuration()))
    assert docs[0]["kind"] == "KwokConfiguration"
    return {d["metadata"]["name"]: d for d in docs[1:]}


def _selector(stage: dict) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {e["key"]: (e["operator"], tuple(e.get("values") or ()))
            for e in stage["spec"]["selector"]["matchExpressions"]}


def test_every_stage_is_a_pod_stage_and_the_configuration_holds_them_all() -> None:
    stages = _stages()
    assert len(stages) == len(POD_STAGES)
    assert {s["spec"]["resourceRef"]["kind"] for s in stages.values()} == {"Pod"}


@pytest.mark.parametrize(("stage", "phase", "selects"), [
    pytest.param("afflux-pod-ready", "Running",
                 {'.metadata.annotations["afflux.dev/ready"]': ("NotIn", ("false",))},
                 id="scheduled-pod-runs-ready-unless-annotated"),
    pytest.param("afflux-pod-not-ready", "Running",
                 {'.metadata.annotations["afflux.dev/ready"]': ("In", ("false",))},
                 id="annotated-ready-false-runs-unready"),
    pytest.param("afflux-pod-succeed", "Succeeded",
                 {'.metadata.annotations["afflux.dev/exit"]': ("In", ("0",))},
                 id="exit-0-succeeds"),
    pytest.param("afflux-pod-fail", "Failed",
                 {'.metadata.annotations["afflux.dev/exit"]': ("NotIn", ("0",))},
                 id="other-exit-fails"),
    pytest.param("afflux-job-pod-complete", "Succeeded",
                 {'.metadata.annotations["afflux.dev/exit"]': ("DoesNotExist", ()),
                  ".metadata.ownerReferences.[].kind": ("In", ("Job",))},
                 id="unannotated-job-pod-completes"),
])
def test_stage_selects_and_sets_phase(stage: str, phase: str,
                                      selects: dict[str, tuple[str, tuple[str, ...]]]) -> None:
    spec = _stages()[stage]
    selector = _selector(spec)
    for key, want in selects.items():
        assert selector[key] == want
    assert f"phase: {phase}" in spec["spec"]["next"]["statusTemplate"]


def test_the_exit_delay_comes_from_the_annotation() -> None:
    for name in ("afflux-pod-succeed", "afflux-pod-fail"):
        delay = _stages()[name]["spec"]["delay"]
        assert delay["durationFrom"]["expressionFrom"] == '.metadata.annotations["afflux.dev/delay"]'
        assert delay["durationMilliseconds"] == 1000


def test_the_failed_exit_code_is_the_annotation_s() -> None:
    template = _stages()["afflux-pod-fail"]["spec"]["next"]["statusTemplate"]
    assert 'exitCode: {{ index $.metadata.annotations "afflux.dev/exit" }}' in template
