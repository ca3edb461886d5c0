"""What agents were told and where knowledge is missing: receipts and unanswered topics."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import String, cast, func, or_
from sqlmodel import select
from sqlmodel import Session

from freshgate.deps import get_session, registry
from freshgate.lookup.models import LookupReceipt, ReceiptDocument
from freshgate.lookup.receipts import get_receipt, unanswered
from freshgate.registry.models import Document, Owner
from freshgate.reports import handoff
from freshgate.errors import NotFound
from freshgate.web import identity
from freshgate.web.identity import principal_for
from freshgate.web.pages import done, query_with, receipt_scope, render

router = APIRouter(include_in_schema=False)
SessionDep = Annotated[Session, Depends(get_session)]
PAGE = 50
_WORD = re.compile(r"[a-z][a-z0-9-]{3,}")
_STOP = {"what", "when", "where", "which", "with", "that", "this", "there", "their", "about", "does", "have", "should",
         "could", "would", "from", "into", "your", "they", "them", "than", "then", "here", "many", "much", "long"}


@router.get("/receipts", response_class=HTMLResponse)
def receipts(request: Request, session: SessionDep, decision: str = "", reason: str = "", document: str = "",
             agent: str = "", page: int = Query(1, ge=1, le=100_000)):
    """Recent decisions, filterable by outcome, reason code, document relied on and agent."""
    q = select(LookupReceipt)
    if decision:
        q = q.where(LookupReceipt.decision == decision)
    if reason:
        q = q.where(cast(LookupReceipt.reasons, String).like(f'%"code": "{reason}"%'))
    if document:
        q = q.where(LookupReceipt.id.in_(select(ReceiptDocument.receipt_id).where(ReceiptDocument.document_id == document)))
    agent_col = getattr(LookupReceipt, "principal", None)
    if agent and agent_col is not None:
        q = q.where(agent_col == agent)
    scope = receipt_scope(principal_for(request))
    if scope is not None:  # as the API: owners and agents read their own receipts only
        q = q.where(LookupReceipt.principal == scope)
    rows = session.exec(q.order_by(LookupReceipt.at.desc()).offset((page - 1) * PAGE).limit(PAGE + 1)).all()
    return render(request, "receipts.html", {
        "rows": rows[:PAGE], "more": len(rows) > PAGE, "page": page, "decision": decision, "reason": reason,
        "document": document, "agent": agent, "has_agent": agent_col is not None,
        "qs": lambda **kw: query_with(request, **kw)})


@router.get("/receipts/{receipt_id}", response_class=HTMLResponse)
def receipt_page(receipt_id: str, request: Request, session: SessionDep):
    """One decision: the question, the outcome, the reasons and the exact versions relied on."""
    r = get_receipt(session, receipt_id)
    if receipt_scope(principal_for(request)) not in (None, r.principal):
        raise NotFound(f"no receipt with id {receipt_id!r}")
    return render(request, "receipt.html", {"r": r})


def suggest_owners(session: Session, text: str, limit: int = 2) -> list[tuple[str, int]]:
    """Owners of the documents whose titles share the question's words: who should write the missing source."""
    words = [w for w in dict.fromkeys(_WORD.findall(text.lower())) if w not in _STOP][:5]
    if not words:
        return []
    q = (select(Document.owner_id, func.count()).where(Document.owner_id.is_not(None), Document.status == "active",
                                                        or_(*[func.lower(Document.title).like(f"%{w}%") for w in words]))
         .group_by(Document.owner_id).order_by(func.count().desc()).limit(limit))
    return [(o, int(n)) for o, n in session.exec(q).all()]


@router.get("/unanswered", response_class=HTMLResponse)
def unanswered_topics(request: Request, session: SessionDep):
    """Questions nothing registered answers, most asked first, with who should write the source and who has it."""
    topics = unanswered(session, 100)
    owners = session.exec(select(Owner.id, Owner.name).where(Owner.active.is_(True)).order_by(Owner.id)).all()
    return render(request, "unanswered.html", {
        "topics": [(t, suggest_owners(session, t.query + " " + t.last_query)) for t in topics],
        "assigned": handoff.assignments(session, [t.id for t in topics]), "owners_all": owners,
        "total": sum(t.count for t in topics)})


@router.post("/unanswered/{topic_id}/assign")
def assign_topic(topic_id: int, request: Request, session: SessionDep,
                 owner: Annotated[str, Form(min_length=1, max_length=200)], csrf: Annotated[str, Form()] = ""):
    """Hand an unanswered topic to an owner to write the missing source (operators); it shows in their items."""
    identity.check_csrf(request, csrf)
    who = principal_for(request)
    handoff.assign(registry(request, session), topic_id, owner.strip(), actor=who.actor)
    session.commit()
    return done("/unanswered", "assigned", owner.strip(), anchor=f"#topic-{topic_id}")
