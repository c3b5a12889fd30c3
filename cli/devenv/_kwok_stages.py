"""The Pod lifecycle kwok plays on the local cluster's fake nodes: its Stage resources.

kwok moves objects through `Stage`s (kwok.x-k8s.io/v1alpha1): a Stage selects objects by
expressions on their fields and, after a delay, patches their status. Given no Pod Stages
kwok uses its built-in ones (a scheduled Pod becomes Running and Ready; a Pod owned by a Job
then Succeeds at once; a deleted Pod goes away). Naming any Pod Stage replaces all of them,
so this configuration carries those three behaviours again, plus afflux's own convention,
read from the Pod's annotations (a Deployment's or Job's pod template passes them on):

| annotation                   | effect |
| ---------------------------- | ------ |
| `afflux.dev/exit: "<code>"`  | once Running, the Pod terminates: `"0"` Succeeded, any other integer Failed with that exit code (Jobs succeed or fail accordingly: kube-controller-manager's Job controller reads the Pod's phase) |
| `afflux.dev/delay: "<dur>"`  | with `exit`: how long the Pod runs first (a Go duration, `2s`, `1m`; default 1s) |
| `afflux.dev/ready: "false"`  | the Pod runs but never becomes Ready (a Deployment of it never becomes Available; `helm --wait` times out) |

A Pod without these annotations behaves as before: Running and Ready for ever, or, owned by
a Job, Succeeded at once. Helm's hooks and `helm test` Pods use the convention to pass or
fail for real.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["ANNOTATION_DELAY", "ANNOTATION_EXIT", "ANNOTATION_READY", "POD_STAGES",
           "kwok_configuration"]

ANNOTATION_EXIT = "afflux.dev/exit"
ANNOTATION_DELAY = "afflux.dev/delay"
ANNOTATION_READY = "afflux.dev/ready"

_RUNNING_STATUS = """\
{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  status: "%(ready)s"
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  status: "%(ready)s"
  type: ContainersReady
{{ range .spec.readinessGates }}
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: {{ .conditionType | Quote }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: %(ready_bool)s
  restartCount: 0
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
initContainerStatuses:
{{ range .spec.initContainers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  restartCount: 0
  state:
    terminated:
      exitCode: 0
      finishedAt: {{ $now | Quote }}
      reason: Completed
      startedAt: {{ $now | Quote }}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
phase: Running
startTime: {{ $now | Quote }}
"""

_TERMINATED_STATUS = """\
{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: PodCompleted
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: PodCompleted
  type: ContainersReady
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  started: false
  state:
    terminated:
      exitCode: %(code)s
      finishedAt: {{ $now | Quote }}
      reason: %(reason)s
      startedAt: {{ $now | Quote }}
{{ end }}
phase: %(phase)s
"""


def _stage(name: str, expressions: list[tuple[str, str, list[str]]], status: str | None,
           *, delay: bool = False) -> dict[str, Any]:
    """A Pod Stage: the Pods alive and matching `expressions` get `status` (None: the Pod
    is deleted), after the `afflux.dev/delay` annotation's delay when `delay`."""
    exprs = [{"key": ".metadata.deletionTimestamp",
              "operator": "DoesNotExist" if status is not None else "Exists"}]
    exprs += [{"key": k, "operator": op, **({"values": v} if v else {})}
              for k, op, v in expressions]
    spec: dict[str, Any] = {"resourceRef": {"apiGroup": "v1", "kind": "Pod"},
                            "selector": {"matchExpressions": exprs}}
    if delay:
        spec["delay"] = {"durationMilliseconds": 1000, "durationFrom": {
            "expressionFrom": f'.metadata.annotations["{ANNOTATION_DELAY}"]'}}
    spec["next"] = ({"statusTemplate": status} if status is not None
                    else {"finalizers": {"empty": True}, "delete": True})
    return {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage",
            "metadata": {"name": name}, "spec": spec}


def _annotation(key: str) -> str:
    return f'.metadata.annotations["{key}"]'


_RUNNING = (".status.phase", "In", ["Running"])


def _start(name: str, ready: bool) -> dict[str, Any]:
    """A scheduled Pod starts running: Ready, or (annotated not ready) never Ready."""
    status = _RUNNING_STATUS % {"ready": "True" if ready else "False",
                                "ready_bool": "true" if ready else "false"}
    return _stage(name, [(".status.podIP", "DoesNotExist", []),
                         (_annotation(ANNOTATION_READY), "NotIn" if ready else "In",
                          ["false"])], status)


def _exit(name: str, succeed: bool) -> dict[str, Any]:
    """An annotated running Pod terminates after its delay, with its exit code."""
    code = "0" if succeed else f'{{{{ index $.metadata.annotations "{ANNOTATION_EXIT}" }}}}'
    status = _TERMINATED_STATUS % {"code": code,
                                   "reason": "Completed" if succeed else "Error",
                                   "phase": "Succeeded" if succeed else "Failed"}
    return _stage(name, [_RUNNING, (_annotation(ANNOTATION_EXIT), "Exists", []),
                         (_annotation(ANNOTATION_EXIT), "In" if succeed else "NotIn", ["0"])],
                  status, delay=True)


_JOB_COMPLETE = _stage(
    "afflux-job-pod-complete",
    [_RUNNING, (".metadata.ownerReferences.[].kind", "In", ["Job"]),
     (_annotation(ANNOTATION_EXIT), "DoesNotExist", [])],
    _TERMINATED_STATUS % {"code": "0", "reason": "Completed", "phase": "Succeeded"})

#: The Pod Stages (module docstring).
POD_STAGES: tuple[dict[str, Any], ...] = (
    _start("afflux-pod-ready", ready=True),
    _start("afflux-pod-not-ready", ready=False),
    _exit("afflux-pod-succeed", succeed=True),
    _exit("afflux-pod-fail", succeed=False),
    _JOB_COMPLETE,
    _stage("afflux-pod-delete", [], None),
)


def kwok_configuration() -> str:
    """kwok's `--config` file: an empty KwokConfiguration (which keeps a user's
    ~/.kwok/kwok.yaml out of the picture; node Stages stay kwok's own) and `POD_STAGES`."""
    head = {"apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokConfiguration",
            "options": {}}
    return yaml.dump_all([head, *POD_STAGES], Dumper=_Dumper, sort_keys=False, width=200)


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (the status templates) as literal blocks."""


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str)
