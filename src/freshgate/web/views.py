"""The operator console: every page and form, mounted by `include(app)`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def include(app: FastAPI) -> None:
    """Mount the console's routers, its static files, the offline API docs and the HTML error pages."""
    from freshgate.web import actions, activity, admin, apidocs, conflicts, documents, errors, overview, review, tools

    for module in (overview, review, conflicts, documents, actions, activity, admin, tools):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    apidocs.install(app)
    errors.install(app)
    _warm_up_at_start(app)


def _warm_up_at_start(app: FastAPI) -> None:
    """Run the app's start-up, then build the console's review list in the background (`memo.warm_up`); at
    shut-down wait for that build before the runtime closes."""
    from contextlib import asynccontextmanager

    from starlette.concurrency import run_in_threadpool

    from freshgate.web.memo import warm_up

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a):
        async with inner(a) as state:
            a.state.console_warm_up = warm_up(a)
            try:
                yield state
            finally:
                thread = getattr(a.state, "console_warm_up", None)
                if thread is not None:
                    await run_in_threadpool(thread.join)

    app.router.lifespan_context = lifespan
