"""The generated CRDs against a real API server.

All CRDs install and become Established; `kubectl explain` shows our descriptions; short
names, categories and printer columns work; every sample in config/samples is accepted and
comes back with exactly the defaults our models apply; the status subresource takes valid
conditions and refuses invalid ones; and every object in the invalid-object table is refused
with a message naming the field.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from afflux.api import KINDS, Resource, kind_of
from harness.fixtures_controllers import apply_crds

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BASES = REPO / "config" / "crd" / "bases"
SAMPLES = REPO / "config" / "samples"
INVALID = yaml.safe_load((REPO / "tests" / "unit" / "api" / "invalid_objects.yaml").read_text())
CRD_NAMES = [f"{k.PLURAL}.{k.GROUP}" for k in KINDS]
WITH_STATUS = [k for k in KINDS if k.HAS_STATUS]


def _samples() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(SAMPLES.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append(
                    (f"{path.relative_to(SAMPLES)}:{doc['kind']}/{doc['metadata']['name']}", doc)
                )
    return out


SAMPLE_DOCS = _samples()


@pytest.fixture(scope="module")
def crds(cluster: Any) -> Any:
    """The CRDs, applied (server-side, so re-running updates them) and Established: the
    harness's way, with the conversion webhooks pointed at this session's loopback ports
    (the checked-in files name in-cluster Services; applied over a cluster whose CRDs name
    a URL, they would name both, which the API server refuses)."""
    apply_crds(cluster)
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=120s", *[f"crd/{n}" for n in CRD_NAMES]
    )
    return cluster


@pytest.fixture(scope="module")
def ns(crds: Any) -> Iterator[str]:
    """One namespace for the objects of this module."""
    name = f"t-crds-{uuid.uuid4().hex[:6]}"
    crds.kubectl("create", "namespace", name)
    yield name
    crds.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.mark.parametrize("crd", CRD_NAMES)
def test_crd_is_established_and_names_accepted(crds: Any, crd: str) -> None:
    out = crds.kubectl("get", f"crd/{crd}", "-o", "json").stdout
    conditions = {c["type"]: c["status"] for c in json.loads(out)["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"


def test_explain_shows_our_descriptions(crds: Any) -> None:
    out = crds.kubectl("explain", "gitrepositories.spec.url").stdout
    assert "Address of the repository" in out
    out = crds.kubectl("explain", "kustomizations.spec").stdout
    prune = [line for line in out.splitlines() if line.strip().startswith("prune")]
    assert prune and "<boolean>" in prune[0] and "-required-" in prune[0], out


@pytest.mark.parametrize("kind", KINDS, ids=[k.KIND for k in KINDS])
def test_explain_every_kind(crds: Any, kind: type[Resource]) -> None:
    out = crds.kubectl("explain", f"{kind.PLURAL}.{kind.GROUP}").stdout
    assert kind.DESCRIPTION.split()[1] in out


@pytest.mark.parametrize(
    "name",
    [
        "gitrepo",
        "ocirepo",
        "helmrepo",
        "hc",
        "ks",
        "hr",
        "imagerepo",
        "imagepol",
        "iua",
        "fluxcd",
        "flux",
    ],
)
def test_short_names_and_categories_resolve(crds: Any, ns: str, name: str) -> None:
    crds.kubectl("get", name, "-n", ns)


@pytest.mark.parametrize("doc", [d for _, d in SAMPLE_DOCS], ids=[i for i, _ in SAMPLE_DOCS])
def test_sample_is_accepted_with_our_defaults(crds: Any, ns: str, doc: dict[str, Any]) -> None:
    crds.kubectl("create", "-n", ns, "-f", "-", input=yaml.safe_dump(doc))
    cls = kind_of(doc["apiVersion"], doc["kind"])
    out = crds.kubectl(
        "get", f"{cls.PLURAL}.{cls.GROUP}/{doc['metadata']['name']}", "-n", ns, "-o", "json"
    ).stdout
    stored = json.loads(out)
    assert stored["apiVersion"] == cls.API_VERSION
    assert stored["spec"] == cls.from_dict(doc).to_dict()["spec"], (
        "server defaults differ from the model's"
    )
    if cls.HAS_STATUS:
        assert stored["status"] == {"observedGeneration": -1}
    else:
        assert "status" not in stored


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _minimal(cls: type[Resource]) -> dict[str, Any]:
    for _, doc in SAMPLE_DOCS:
        if doc["kind"] == cls.KIND and doc["apiVersion"] == cls.API_VERSION:
            return doc
    raise AssertionError(f"no sample of {cls.KIND}")


@pytest.mark.parametrize("kind", WITH_STATUS, ids=[k.KIND for k in WITH_STATUS])
def test_status_subresource_and_printer_columns(crds: Any, kind: type[Resource]) -> None:
    ns = f"t-status-{uuid.uuid4().hex[:6]}"
    crds.kubectl("create", "namespace", ns)
    try:
        doc = _minimal(kind)
        name = doc["metadata"]["name"]
        ref = f"{kind.PLURAL}.{kind.GROUP}/{name}"
        crds.kubectl("create", "-n", ns, "-f", "-", input=yaml.safe_dump(doc))
        ready = {
            "type": "Ready",
            "status": "True",
            "reason": "Succeeded",
            "message": "all good here",
            "lastTransitionTime": _now(),
        }
        patch = json.dumps({"status": {"observedGeneration": 1, "conditions": [ready]}})
        crds.kubectl("patch", ref, "-n", ns, "--subresource=status", "--type=merge", "-p", patch)
        table = crds.kubectl("get", ref, "-n", ns).stdout.splitlines()
        assert "READY" in table[0] and "STATUS" in table[0]
        assert "True" in table[1] and "all good here" in table[1]
        wide = crds.kubectl("get", ref, "-n", ns, "-o", "wide").stdout.splitlines()[0]
        for column in kind.PRINTER_COLUMNS:
            assert column.name.upper() in wide
        # the main resource ignores status, the subresource validates it
        bad = {**ready, "reason": "not a CamelCase reason", "status": "Maybe"}
        proc = crds.kubectl(
            "patch",
            ref,
            "-n",
            ns,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": {"conditions": [bad]}}),
            check=False,
        )
        assert proc.returncode != 0
        assert "status.conditions[0].status" in proc.stderr
        assert "status.conditions[0].reason" in proc.stderr
    finally:
        crds.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_v1beta2_image_objects_are_served_as_v1(crds: Any, ns: str) -> None:
    doc = {
        "apiVersion": "image.toolkit.fluxcd.io/v1beta2",
        "kind": "ImagePolicy",
        "metadata": {"name": "beta-policy"},
        "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": "1.x"}}},
    }
    crds.kubectl("create", "-n", ns, "-f", "-", input=yaml.safe_dump(doc))
    as_v1 = json.loads(
        crds.kubectl(
            "get", "imagepolicies.v1.image.toolkit.fluxcd.io/beta-policy", "-n", ns, "-o", "json"
        ).stdout
    )
    as_beta = json.loads(
        crds.kubectl(
            "get",
            "imagepolicies.v1beta2.image.toolkit.fluxcd.io/beta-policy",
            "-n",
            ns,
            "-o",
            "json",
        ).stdout
    )
    assert as_v1["apiVersion"] == "image.toolkit.fluxcd.io/v1"
    assert as_beta["apiVersion"] == "image.toolkit.fluxcd.io/v1beta2"
    assert as_v1["spec"] == as_beta["spec"]


@pytest.mark.parametrize("case", INVALID, ids=[c["id"] for c in INVALID])
def test_invalid_object_is_rejected_naming_the_field(
    crds: Any, ns: str, case: dict[str, Any]
) -> None:
    proc = crds.kubectl(
        "create",
        "--dry-run=server",
        "-n",
        ns,
        "-f",
        "-",
        input=yaml.safe_dump(case["object"]),
        check=False,
    )
    assert proc.returncode != 0, f"the API server accepted {case['id']}"
    assert case["expect"] in proc.stderr, proc.stderr
