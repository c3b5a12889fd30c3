"""The conversion webhook: an HTTPS `/convert` endpoint inside the operator that owns a kind.

Why here: each kind with old versions (Kustomization, GitRepository, HelmRelease) is
converted by its own operator (kustomize-, source-, helm-controller), with the pure
functions of `afflux.api.conversion`. No seventh process to install, run and keep alive;
the operators stay independent (a stopped helm-controller only makes HelmRelease
v2beta1/v2beta2 requests fail, with the API server's "conversion webhook ... failed"
message); and the stored versions never need it, since the API server calls a
conversion webhook only when the version asked for differs from the stored one.

`--conversion-addr` (off by default; `:9443` in-cluster) turns it on. The certificate:
- in-cluster, `--conversion-cert-secret=<name>`: the operator keeps the CA and the serving
  certificate in that Secret and the CA in its CRDs' caBundle (`_convcert`); the webhook
  starts once it has them (retrying with backoff while the API server does not answer),
  checks them every `RENEW_CHECK` seconds, and serves a renewed certificate from the next
  TLS handshake on;
- `tls.crt` / `tls.key` in `--conversion-cert-dir` (the dev environment's and the tests'
  CA issued them; the CRDs name a loopback URL with that CA); given, it wins over
  `--conversion-cert-secret` (an operator launched locally with its Deployment's args plus
  a loopback address and certificate serves those);
- neither: a self-signed certificate made at start (the API server trusts it only if
  whoever installed the CRDs put that CA in their caBundle, so this is for tests).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from afflux.api._legacy import CONVERSION_PATH
from afflux.api._servingcert import ServingCert, self_signed
from afflux.api.conversion import CONVERTIBLE, review_response

from ._convcert import CertificateKeeper
from ._duration import backoff
from ._options import parse_addr

__all__ = ["ConversionServer", "ServingCert", "self_signed"]

_log = logging.getLogger("afflux.runtime.conversion")

#: Seconds between two checks of the in-cluster certificate (Secret and caBundle).
RENEW_CHECK = 300.0


def _load(ctx: ssl.SSLContext, made: ServingCert) -> None:
    """Serve `made` from the next handshake on (the key only touches a private temp dir)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "tls.crt").write_text(made.cert)
        (Path(tmp) / "tls.key").write_text(made.key)
        ctx.load_cert_chain(Path(tmp) / "tls.crt", Path(tmp) / "tls.key")


def _ssl_context(cert_dir: str | None, made: ServingCert | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if made is not None:
        _load(ctx, made)
        return ctx
    if cert_dir and (Path(cert_dir) / "tls.crt").is_file():
        ctx.load_cert_chain(Path(cert_dir) / "tls.crt", Path(cert_dir) / "tls.key")
        return ctx
    _log.warning("no tls.crt in --conversion-cert-dir=%s: serving a self-signed certificate "
                 "the API server will not trust unless its CA is in the CRDs' caBundle",
                 cert_dir or "")
    _load(ctx, self_signed(["localhost", "127.0.0.1"]))
    return ctx


class ConversionServer:
    """POST `/convert` (ConversionReview v1) for `kinds`, on `addr` over TLS."""

    def __init__(self, kinds: Iterable[tuple[str, str]], addr: str,
                 cert_dir: str | None = None, keeper: CertificateKeeper | None = None) -> None:
        self.kinds = sorted(set(kinds) & set(CONVERTIBLE))
        self._addr = parse_addr(addr)
        self._cert_dir = cert_dir
        self._keeper = keeper
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task[None] | None = None
        self.port: int | None = None

    async def _convert(self, request: web.Request) -> web.Response:
        try:
            review: Any = await request.json()
        except ValueError:
            return web.json_response({"error": "the body is not a JSON ConversionReview"},
                                     status=400)
        if not isinstance(review, dict):
            return web.json_response({"error": "the body is not a ConversionReview"},
                                     status=400)
        answer = await asyncio.to_thread(review_response, review, self.kinds)
        result = answer["response"]["result"]
        if result["status"] != "Success":
            _log.warning("conversion refused: %s", result.get("message"))
        return web.json_response(answer)

    async def start(self) -> None:
        """Serve now; with a certificate keeper, in the background once it has one."""
        if self._addr is None or not self.kinds:
            return
        if self._keeper is None:
            await self._serve(_ssl_context(self._cert_dir))
            return
        self._task = asyncio.create_task(self._keep(self._keeper), name="conversion webhook")

    async def _keep(self, keeper: CertificateKeeper) -> None:
        """Get the certificate (retrying), serve, then check it every RENEW_CHECK seconds."""
        ctx: ssl.SSLContext | None = None
        current: ServingCert | None = None
        failures = 0
        while True:
            try:
                made = await keeper.ensure()
            except Exception as err:  # noqa: BLE001 - any failure is retried, logged
                failures += 1
                delay = backoff(failures, base=2.0, cap=RENEW_CHECK)
                _log.error("conversion webhook certificate: %s (retrying in %.0fs)", err, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            if ctx is None:
                ctx = _ssl_context(None, made)
                await self._serve(ctx)
            elif made != current:
                _load(ctx, made)
                _log.info("conversion webhook serving a renewed certificate")
            current = made
            await asyncio.sleep(RENEW_CHECK)

    async def _serve(self, ctx: ssl.SSLContext) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(CONVERSION_PATH, self._convert)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, port = self._addr
        site = web.TCPSite(runner, host, port, ssl_context=ctx)
        try:
            await site.start()
        except OSError as err:
            # e.g. a second instance on one machine: the other one answers
            await runner.cleanup()
            _log.error("conversion webhook not started on %s:%s: %s", host, port, err)
            return
        self._runner = runner
        for address in runner.addresses:
            if isinstance(address, tuple) and len(address) >= 2:
                self.port = int(address[1])
        _log.info("conversion webhook serving", extra={
            "kinds": [k for _, k in self.kinds], "port": self.port})

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
