"""Operator dashboard: server-rendered pages over the registry (no JavaScript, no network)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from freshgate.deps import get_session, registry
from freshgate.freshness.rules import PRECEDENCE
from freshgate.registry import queries

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, state: str | None = None, kind: str | None = None, owner: str | None = None,
              session: Session = Depends(get_session)):
    """Every document with its state, filterable; counts per state on top."""
    svc = registry(request, session)
    every = queries.list_documents(svc)
    counts = Counter(d.state for d in every)
    rows = queries.list_documents(svc, state=state, kind=kind, owner=owner) if (state or kind or owner) else every
    return templates.TemplateResponse(request, "dashboard.html", {
        "rows": rows, "counts": [(s, counts.get(s, 0)) for s in PRECEDENCE], "total": len(every),
        "state": state, "kind": kind, "owner": owner,
    })


@router.get("/documents/{doc_id}", response_class=HTMLResponse)
def document_page(doc_id: str, request: Request, session: Session = Depends(get_session)):
    """One document: state, reasons, owner, sections, versions, audit trail."""
    svc = registry(request, session)
    d = queries.document_detail(svc, doc_id)
    return templates.TemplateResponse(request, "document.html", {"d": d, "audit": svc.audit(doc_id, 50)})
