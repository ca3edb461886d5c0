"""Installing auth into the app: enforcement middleware, routes, first-start operator key, auth-off guard."""

from __future__ import annotations

import logging
import sys

from freshgate.auth import sessions
from freshgate.auth.deps import is_loopback
from freshgate.config import Settings

log = logging.getLogger(__name__)


def check_mode(settings: Settings) -> None:
    """Refuse auth.mode = off on a non-loopback bind; say loudly that it is off."""
    if settings.auth.mode != "off":
        return
    if not is_loopback(settings.server.host):
        raise RuntimeError(f"auth.mode = off is refused when binding to {settings.server.host!r}: anyone who "
                           "reaches the port could change every document. Bind to 127.0.0.1 or use keys.")
    log.warning("AUTH IS OFF (auth.mode = off): every request acts as an operator. Local experiments only.")


def install(app, settings: Settings) -> None:
    """Enforce the policy table on every route and mount the key routes (call once in create_app)."""
    from freshgate.auth.api import include
    from freshgate.auth.deps import AuthMiddleware

    check_mode(settings)
    sessions.configure(settings.auth.session_secret)
    include(app, on_start=first_start)
    app.add_middleware(AuthMiddleware, fastapi_app=app, settings=settings.auth, bind_host=settings.server.host)


def first_start(rt) -> str | None:
    """With no usable operator key: create one, print it once and write it to auth.key_file (0600)."""
    from freshgate import db
    from freshgate.auth.keyfile import write_key_file
    from freshgate.auth.service import KeyService

    settings = rt.settings
    if settings.auth.mode == "off":
        return None
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with db.session_scope(rt.engine) as session:
            svc = KeyService(session)
            if svc.has_active_operator_key():
                return None
            _, raw = svc.create("first-start operator key", "operator", created_by="freshgate serve")
    except SQLAlchemyError as exc:  # the server still starts; /healthz says the database is down
        log.error("could not check for an operator key (database unavailable): %s", exc)
        return None
    path = write_key_file(settings.auth.key_file, raw)
    print(f"\nFreshgate created an operator API key (shown once; also written to {path}, mode 0600):\n"
          f"  {raw}\nSend it as `Authorization: Bearer <key>`; the CLI and Python client read the file.\n",
          file=sys.stderr, flush=True)
    log.warning("created the first operator key; written to %s", path)
    return raw


def document_security(schema: dict) -> dict:
    """Declare the API key scheme in the OpenAPI document (every route but the public ones needs it)."""
    from freshgate.auth.policy import PUBLIC, permission

    schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["bearer"] = {"type": "http", "scheme": "bearer", "description": "An API key: fg_<id>_<secret>"}
    schemes["apiKey"] = {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            declared = path
            if isinstance(op, dict) and permission(method.upper(), declared) != PUBLIC:
                op.setdefault("security", [{"bearer": []}, {"apiKey": []}])
    return schema
