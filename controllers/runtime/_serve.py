"""The operator's HTTP endpoints: `/metrics` on `--metrics-addr`, `/healthz` and `/readyz`
on `--health-addr`.

They run on the operator's event loop with aiohttp (already a dependency of kopf).
`/healthz` answers 200 while the loop answers and `healthy()` holds; `/readyz` answers
200 once `ready()` holds (kopf has started and the watches are up), 503 before. When both
flags name the same address, one server serves all three paths.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from ._metrics import CONTENT_TYPE, Metrics
from ._options import parse_addr


class Servers:
    def __init__(
        self,
        *,
        metrics: Metrics,
        metrics_addr: str,
        health_addr: str,
        ready: Callable[[], bool],
        healthy: Callable[[], bool] = lambda: True,
    ) -> None:
        self.metrics = metrics
        self._metrics_addr = parse_addr(metrics_addr)
        self._health_addr = parse_addr(health_addr)
        self._ready = ready
        self._healthy = healthy
        self._runners: list[web.AppRunner] = []
        self.metrics_port: int | None = None
        self.health_port: int | None = None

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render().encode(),
                            headers={"Content-Type": CONTENT_TYPE})

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok" if self._healthy() else "unhealthy",
                            status=200 if self._healthy() else 503)

    async def _readyz(self, _: web.Request) -> web.Response:
        ok = self._ready()
        return web.Response(text="ok" if ok else "not ready", status=200 if ok else 503)

    async def start(self) -> None:
        plan: dict[tuple[str, int], list[tuple[str, object]]] = {}
        if self._metrics_addr is not None:
            plan.setdefault(self._metrics_addr, []).append(("/metrics", self._metrics))
        if self._health_addr is not None:
            plan.setdefault(self._health_addr, []).extend(
                [("/healthz", self._healthz), ("/readyz", self._readyz)])
        for (host, port), routes in plan.items():
            app = web.Application()
            for path, handler in routes:
                app.router.add_get(path, handler)  # type: ignore[arg-type]
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, host, port)
            await site.start()
            self._runners.append(runner)
            bound = _bound_port(runner) or port
            if (host, port) == self._metrics_addr:
                self.metrics_port = bound
            if (host, port) == self._health_addr:
                self.health_port = bound

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()


def _bound_port(runner: web.AppRunner) -> int | None:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return None
