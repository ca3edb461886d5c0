"""/docs and /redoc from assets shipped in the package (no CDN: they render offline)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

VENDOR = "/static/vendor"


def install(app: FastAPI) -> None:
    """Serve Swagger UI at /docs and ReDoc at /redoc from /static/vendor."""

    @app.get("/docs", include_in_schema=False)
    def swagger_ui():
        """Swagger UI for the OpenAPI document."""
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} — API",
                                   swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{VENDOR}/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg",
                                   swagger_ui_parameters={"validatorUrl": None})

    @app.get("/redoc", include_in_schema=False)
    def redoc():
        """ReDoc for the OpenAPI document."""
        return get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} — API reference",
                              redoc_js_url=f"{VENDOR}/redoc.standalone.js",
                              redoc_favicon_url="/static/favicon.svg", with_google_fonts=False)
