"""The conversion webhooks on loopback: where the API server reaches them, and their certificate.

Out of cluster, each operator that owns a kind with old API versions (source-controller:
GitRepository, kustomize-controller: Kustomization, helm-controller: HelmRelease) serves
`/convert` on its own loopback port; the CRDs are applied with
`spec.conversion.webhook.clientConfig.url = https://127.0.0.1:<port>/convert` and the CA
that signed the certificate as `caBundle`. `ConversionEndpoints` holds the ports, the
certificate directory and the CA, and gives the CRDs to apply and the operators' flags.
The dev environment keeps them in `dev.json` (ports stay the same across `up`), with a
certificate from the dev CA; the test harness makes a fresh set per session.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from afflux.api._legacy import CONVERSION_PATH, CONVERSION_SERVICE, point_conversion
from afflux.api._servingcert import self_signed

from ._procs import free_port

__all__ = ["CONVERTING_CONTROLLERS", "ConversionEndpoints"]

#: controller name -> the kind whose old versions it converts
CONVERTING_CONTROLLERS: dict[str, str] = {ctrl: kind for kind, ctrl in CONVERSION_SERVICE.items()}

HOSTS = ("127.0.0.1", "localhost")


@dataclass
class ConversionEndpoints:
    """Loopback conversion webhooks: a port per converting controller, one certificate."""

    cert_dir: Path
    ca_pem: str
    ports: dict[str, int] = field(default_factory=dict)

    @classmethod
    def create(cls, cert_dir: Path, *, ca_pem: str | None = None,
               cert_pem: str | None = None, key_pem: str | None = None,
               ports: Mapping[str, int] | None = None) -> ConversionEndpoints:
        """Write the certificate (`cert_pem`/`key_pem` signed by `ca_pem`, or a fresh
        self-signed set) to `cert_dir` as tls.crt / tls.key / ca.crt, and pick a free port
        for each converting controller that `ports` does not give."""
        if cert_pem is None or key_pem is None or ca_pem is None:
            made = self_signed(HOSTS)
            ca_pem, cert_pem, key_pem = made.ca, made.cert, made.key
        cert_dir.mkdir(parents=True, exist_ok=True)
        (cert_dir / "tls.crt").write_text(cert_pem)
        key = cert_dir / "tls.key"
        key.write_text(key_pem)
        key.chmod(0o600)
        (cert_dir / "ca.crt").write_text(ca_pem)
        chosen = {c: int((ports or {}).get(c) or 0) or free_port()
                  for c in CONVERTING_CONTROLLERS}
        return cls(cert_dir=cert_dir, ca_pem=ca_pem, ports=chosen)

    def url(self, controller: str) -> str:
        return f"https://127.0.0.1:{self.ports[controller]}{CONVERSION_PATH}"

    @property
    def ca_bundle(self) -> str:
        return base64.b64encode(self.ca_pem.encode()).decode()

    def crds(self, docs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """`docs` (CRDs) with the conversion webhooks pointed at the loopback ports."""
        url_for = {kind: self.url(ctrl) for ctrl, kind in CONVERTING_CONTROLLERS.items()
                   if ctrl in self.ports}
        return point_conversion([copy.deepcopy(dict(d)) for d in docs], url_for=url_for,
                                ca_bundle=self.ca_bundle)

    def args(self, controller: str) -> list[str]:
        """The flags that make `controller` serve its webhook (none for the others)."""
        port = self.ports.get(controller)
        if port is None:
            return []
        return [f"--conversion-addr=127.0.0.1:{port}", f"--conversion-cert-dir={self.cert_dir}"]

    def record(self) -> dict[str, Any]:
        """What `dev.json` keeps."""
        return {"cert_dir": str(self.cert_dir), "ports": dict(self.ports)}
