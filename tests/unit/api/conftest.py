"""Shared data for the api tests: the samples in config/samples and the invalid-object table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "config" / "samples"
INVALID = Path(__file__).with_name("invalid_objects.yaml")


def sample_documents() -> list[tuple[str, dict[str, Any]]]:
    """(id, object) for every object in config/samples (kustomization.yaml files excluded)."""
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


def invalid_cases() -> list[dict[str, Any]]:
    """The table of objects the API server must reject."""
    return yaml.safe_load(INVALID.read_text())
