"""Health and metrics routes: /livez, /readyz, /healthz, /metrics.

All four are `async`: they run on the event loop, never queue behind lookups for a worker
thread. The database ping runs in a thread of its own small pool, with a time limit.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import anyio
from fastapi import APIRouter, FastAPI, Request, Response

from freshgate import __version__
from freshgate.observability import health, tracing
from freshgate.problems import problem_response

PING_TIMEOUT = 3.0


async def _ping(request: Request) -> bool:
    """Database reachability, off the event loop and outside the request thread pool."""
    state = request.app.state
    if getattr(state, "health_limiter", None) is None:
        state.health_limiter = anyio.CapacityLimiter(2)
    with anyio.move_on_after(PING_TIMEOUT):
        return await anyio.to_thread.run_sync(health.ping, state.runtime, limiter=state.health_limiter,
                                              abandon_on_cancel=True)
    return False


def include(app: FastAPI, settings) -> None:
    """Mount the health routes and /metrics; with tracing on, HTTP and SQL spans."""
    configured_here = settings.tracing.enabled and tracing.provider() is None
    if configured_here:
        tracing.configure(settings)
    tracing.instrument_app(app)

    @asynccontextmanager
    async def lifespan(_app):
        tracing.instrument_engine(app.state.runtime.engine)
        try:
            yield
        finally:
            if configured_here:
                tracing.shutdown()

    app.include_router(APIRouter(lifespan=lifespan))

    @app.get("/livez", tags=["health"])
    async def livez():
        """The process is alive and its event loop answers (no database, no model, no waiting)."""
        return {"status": "alive", "version": __version__}

    @app.get("/readyz", tags=["health"])
    async def readyz(request: Request):
        """200 only when the database answers, the model is loaded and the index is ready; 503 with reasons."""
        reasons = health.not_ready_reasons(request.app.state.runtime, database_ok=await _ping(request))
        if reasons:
            return problem_response(503, "not_ready", "; ".join(reasons), title="Not ready",
                                    headers={"Retry-After": "5"}, reasons=reasons)
        return {"status": "ready", "version": __version__}

    @app.get("/healthz", tags=["health"])
    async def healthz(request: Request):
        """Detail for people: database, model, index and every part's own health."""
        ok = await _ping(request)
        body = {"status": "ok" if ok else "degraded", "database": "ok" if ok else "unreachable",
                "version": __version__}
        rt = request.app.state.runtime
        body.update({k: v.health() for k, v in rt.extras.items() if hasattr(v, "health")})
        body["ready"] = not health.not_ready_reasons(rt, database_ok=ok)
        return body if ok else problem_response(503, "unhealthy", "database unreachable", headers={"Retry-After": "5"},
                                                database="unreachable")

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def metrics(request: Request):
        """Prometheus text exposition of this process (all processes in multi-process mode)."""
        from freshgate.observability import metrics as m

        rt = request.app.state.runtime
        if not rt.settings.metrics.enabled:
            return problem_response(404, "not_found", "metrics are disabled (metrics.enabled = false)")
        state = request.app.state
        if getattr(state, "metrics_collector", None) is None:
            state.metrics_collector = m.RegistryCollector(rt)
        body, content_type = await anyio.to_thread.run_sync(m.exposition, state.metrics_collector,
                                                            limiter=_metrics_limiter(request))
        return Response(body, media_type=content_type)


def _metrics_limiter(request: Request) -> anyio.CapacityLimiter:
    state = request.app.state
    if getattr(state, "metrics_limiter", None) is None:
        state.metrics_limiter = anyio.CapacityLimiter(1)
    return state.metrics_limiter
