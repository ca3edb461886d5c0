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
