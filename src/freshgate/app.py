"""The FastAPI application around a runtime (`freshgate.runtime`)."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from freshgate import __version__, db
from freshgate.config import Settings
from freshgate.deps import BadHeader
from freshgate.errors import FreshgateError
from freshgate.auth.setup import document_security, install as install_auth
from freshgate.problems import PROBLEM_RESPONSES, from_exception, problem_media_types, problem_response
from freshgate.runtime import Runtime, build_runtime, run_sync  # noqa: F401 - re-exported for callers of freshgate.app

log = logging.getLogger(__name__)


def _include_domain_routers(app: FastAPI) -> None:
    """Mount each domain's router."""
    from freshgate.actions.api import router as actions_router
    from freshgate.conflicts.api import include as include_conflicts
    from freshgate.lookup.api import include as include_lookup
    from freshgate.mcp.server import include as include_mcp
    from freshgate.registry.api import router as registry_router
    from freshgate.reports.api import router as reports_router

    app.include_router(registry_router)
    include_lookup(app)
    include_mcp(app)
    include_conflicts(app)
    app.include_router(reports_router)
    app.include_router(actions_router)


def _field(loc) -> str:
    """`body.scope.ids` -> `scope.ids`; `query.status` -> `status`."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _message(e: dict) -> str:
    """The validation message, naming an unknown field and capped in length."""
    if e.get("type") == "extra_forbidden":
        return f"unknown field {str(e['loc'][-1])[:100]!r}"
    return str(e["msg"])[:500]


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FreshgateError)
    async def _ours(request: Request, exc: FreshgateError):
        return from_exception(exc, instance=request.url.path)

    @app.exception_handler(BadHeader)
    async def _bad_header(request: Request, exc: BadHeader):
        return problem_response(400, "bad_header", str(exc), instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errs = [{"field": _field(e["loc"]), "message": _message(e)} for e in exc.errors()]
        return problem_response(422, "invalid", "the request is not valid; see errors", title="Invalid input",
                                errors_=errs, instance=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
                413: "body_too_large"}.get(exc.status_code, "http_error")
        return problem_response(exc.status_code, code, str(exc.detail), instance=request.url.path,
                                headers=getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError):
        log.error("database error on %s: %s", request.url.path, exc)
        return problem_response(503, "database_unavailable", "the database is not reachable; retry shortly",
                                instance=request.url.path, headers={"Retry-After": "5"})

    @app.exception_handler(SQLAlchemyError)
    async def _db_error(request: Request, exc: SQLAlchemyError):
        log.exception("database error on %s", request.url.path)
        return problem_response(500, "database_error", "a database error occurred; nothing was changed",
                                instance=request.url.path)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """The Freshgate HTTP application (nothing is built until start-up)."""
    settings = settings or (runtime.settings if runtime else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        rt = runtime or build_runtime(settings)
        app.state.runtime = rt
        app.state.engine = rt.engine
        app.state.registry_ctx = rt.registry_ctx
        app.state.settings = settings
        if settings.server.sync_dirs:
            report = run_sync(rt, [Path(d) for d in settings.server.sync_dirs], actor="startup-sync")
            log.info("start-up sync: %d added, %d updated, %d unchanged, %d failed", len(report.added),
                     len(report.updated), len(report.unchanged), len(report.failed))
            for path, reason in report.failed:
                log.warning("sync skipped %s: %s", path, reason)
            for item, message in report.warnings:
                log.warning("sync: %s: %s", item, message)
        from freshgate.scheduler.runner import start_for_app

        stop_scheduler = start_for_app(rt)
        from freshgate import heap

        stop_settling = heap.after_start(rt)  # full GCs out of requests once the index is ready
        try:
            yield
        finally:
            stop_settling()
            stop_scheduler()
            if runtime is None:
                rt.close()

    app = FastAPI(title="Freshgate", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Knowledge-freshness and SOP registry: proceed, caution or stop and ask.")
    _install_error_handlers(app)
    _include_domain_routers(app)
    install_auth(app, settings)  # policy table enforced on every route, key routes, first-start key
    base_openapi = app.openapi
    app.openapi = lambda: document_security(problem_media_types(base_openapi()))  # problem+json errors, keys
    from freshgate.web.views import include as include_console

    include_console(app)  # console pages, /static, offline /docs and /redoc, HTML error pages for browsers

    from freshgate.observability.api import include as include_health

    include_health(app, settings)  # /livez /readyz /healthz /metrics, tracing

    return app
