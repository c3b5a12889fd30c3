"""S3-compatible object storage for the Bucket tests: moto's standalone server.

Which server, and why. An S3 server had to be installable from Debian (bookworm) or PyPI:

- Debian bookworm packages no MinIO, Garage or SeaweedFS (`apt-cache policy minio garage
  seaweedfs` finds nothing); its only S3 server is `radosgw` (Ceph RGW), which needs a
  running Ceph cluster (monitors, OSDs) behind it: far too heavy for a test fixture.
- PyPI has `moto[server]` (`moto_server`), the AWS mock used by the AWS SDKs' own users.
  Run with `INITIAL_NO_AUTH_ACTION_COUNT`, it enforces IAM authentication: every request
  after the first N must carry a SigV4 signature made with an existing access key, and
  moto recomputes the signature with botocore (AWS's own implementation, independent of
  ours) and answers `SignatureDoesNotMatch` / `InvalidAccessKeyId` like S3. It serves
  ListObjectsV2 with `max-keys` pagination and continuation tokens, HEAD bucket, ETags
  (MD5 of the content), path-style addressing, and TLS with a certificate we give it.
  That makes it the most faithful server we can have here.

moto lives in its own virtualenv, not in the project's: moto needs botocore, which pins
`python-dateutil<3`, while the `kubernetes` client afflux uses requires `>=3`. Install it
once (CI does the same):

    python3 -m venv ~/.cache/afflux/moto
    ~/.cache/afflux/moto/bin/pip install 'moto[server]==5.2.5'

(`$AFFLUX_MOTO_HOME` points elsewhere.) Without it the fixture fails with that line.

Fixtures (session scope):

- `s3_server`: `S3Server` over TLS with a certificate from `test_ca`;
- `s3_plain_server`: the same over plain HTTP (for `spec.insecure`).

Each has one IAM user with full access (`access_key`, `secret_key`), made through the
first unauthenticated requests with boto3. Tests change objects with `apply(...)`, which
runs boto3 (the real AWS SDK, in moto's virtualenv) so that what the controller reads was
written by an independent client.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from afflux.cli.devenv import TestCA, free_port
from afflux.cli.devenv._procs import ManagedProcess, port_open

from .leaks import remember

__all__ = ["MOTO_INSTALL", "S3Server", "s3_plain_server", "s3_server"]

MOTO_INSTALL = ("python3 -m venv ~/.cache/afflux/moto && "
                "~/.cache/afflux/moto/bin/pip install 'moto[server]==5.2.5'")
#: requests made before authentication is enforced: create user, access key, policy
_SETUP_REQUESTS = 3

_SETUP = """
import boto3, json, sys
cfg = json.load(sys.stdin)
iam = boto3.client("iam", endpoint_url=cfg["endpoint"], region_name="us-east-1",
                   aws_access_key_id="setup", aws_secret_access_key="setup", verify=cfg["ca"])
iam.create_user(UserName="afflux")
key = iam.create_access_key(UserName="afflux")["AccessKey"]
iam.put_user_policy(UserName="afflux", PolicyName="all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17",
     "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
print(json.dumps([key["AccessKeyId"], key["SecretAccessKey"]]))
"""

_APPLY = """
import base64, boto3, json, sys
from botocore.config import Config
cfg = json.load(sys.stdin)
s3 = boto3.client("s3", endpoint_url=cfg["endpoint"], region_name="us-east-1",
                  aws_access_key_id=cfg["key"], aws_secret_access_key=cfg["secret"],
                  verify=cfg["ca"], config=Config(s3={"addressing_style": "path"}))
out = []
for op in cfg["ops"]:
    if op[0] == "bucket":
        s3.create_bucket(Bucket=op[1])
    elif op[0] == "put":
        r = s3.put_object(Bucket=op[1], Key=op[2], Body=base64.b64decode(op[3]))
        out.append(r["ETag"].strip('"'))
    elif op[0] == "delete":
        s3.delete_object(Bucket=op[1], Key=op[2])
print(json.dumps(out))
"""


def moto_home() -> Path:
    return Path(os.environ.get("AFFLUX_MOTO_HOME") or Path.home() / ".cache" / "afflux" / "moto")


class S3Server:
    """One moto_server process (see the module docstring)."""

    def __init__(self, directory: Path, ca: TestCA | None = None) -> None:
        self.directory = directory
        self.ca = ca
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.tls = ca is not None
        self.url = f"{'https' if self.tls else 'http'}://{self.host}"
        self.access_key = ""
        self.secret_key = ""
        self._proc: ManagedProcess | None = None
        self._python = moto_home() / "bin" / "python"

    def start(self) -> S3Server:
        server = moto_home() / "bin" / "moto_server"
        if not server.is_file():
            raise AssertionError(f"moto_server not found in {moto_home()}; install it with:\n"
                                 f"  {MOTO_INSTALL}")
        argv = [str(server), "-H", "127.0.0.1", "-p", str(self.port)]
        if self.ca is not None:
            cert, key = self.ca.issue_server("s3", hosts=["127.0.0.1", "localhost"],
                                             directory=self.directory / "tls")
            argv += ["-c", str(cert), "-k", str(key)]
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_SETUP_REQUESTS),
               "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
        self._proc = ManagedProcess("moto_server", argv, self.directory / "moto.log", env=env)
        self._proc.start()
        self._proc.wait_until(lambda: port_open("127.0.0.1", self.port),
                              f"listening on {self.host}", timeout=60)
        self.access_key, self.secret_key = json.loads(self._run(_SETUP, {}))
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None

    def _run(self, script: str, cfg: Mapping[str, Any]) -> str:
        payload = {"endpoint": self.url, "ca": str(self.ca.ca_cert) if self.ca else False,
                   "key": self.access_key, "secret": self.secret_key, **cfg}
        done = subprocess.run([str(self._python), "-c", script], input=json.dumps(payload),
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self._proc.log_text() if self._proc else ""
            raise AssertionError(f"boto3 against moto failed:\n{done.stderr}\n{log}")
        return done.stdout

    def apply(self, ops: Sequence[Sequence[Any]]) -> list[str]:
        """Run S3 operations with boto3: ("bucket", name) | ("put", bucket, key, bytes|str)
        | ("delete", bucket, key). Returns the ETags of the puts, in order."""
        encoded = []
        for op in ops:
            if op[0] == "put":
                body = op[3].encode() if isinstance(op[3], str) else op[3]
                encoded.append(["put", op[1], op[2], base64.b64encode(body).decode()])
            else:
                encoded.append(list(op))
        return json.loads(self._run(_APPLY, {"ops": encoded}))

    def bucket(self, name: str, objects: Mapping[str, str | bytes] | None = None) -> list[str]:
        """Create a bucket with objects; returns their ETags."""
        return self.apply([("bucket", name),
                           *(("put", name, k, v) for k, v in (objects or {}).items())])


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("s3-tls"), test_ca).start()
    remember(server.secret_key)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("s3-plain")).start()
    remember(server.secret_key)
    try:
        yield server
    finally:
        server.stop()
