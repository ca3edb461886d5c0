"""Read-side helpers: freshness of documents computed in bulk from a few queries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from freshgate.freshness.rules import Facts, Freshness, SourceFacts, evaluate
from freshgate.registry.models import Dependency, Document, Owner


@dataclass(frozen=True)
class RulesConfig:
    """The knobs of the freshness rules."""

    warning_days: int = 14
    unreachable_after: int = 3


def facts_of(doc: Document, owner: Owner | None) -> Facts:
    """The rule inputs of one document row."""
    return Facts(
        id=doc.id, kind=doc.kind, status=doc.status, successor=doc.successor,
        has_owner=doc.owner_id is not None, owner_active=bool(owner and owner.active),
        review_every_days=doc.review_every_days, last_verified=doc.last_verified,
        expires=doc.expires, changed_at=doc.changed_at, fetch_failures=doc.fetch_failures,
    )


def freshness_map(session: Session, docs: list[Document], now: datetime, cfg: RulesConfig) -> dict[str, Freshness]:
    """Freshness of `docs` (and of the sources their SOP cards rely on)."""
    owners = {o.id: o for o in session.exec(select(Owner)).all()}
    sop_ids = [d.id for d in docs if d.kind == "sop"]
    deps: dict[str, list[str]] = defaultdict(list)
    if sop_ids:
        for dep in session.exec(select(Dependency).where(Dependency.sop_id.in_(sop_ids))).all():
            deps[dep.sop_id].append(dep.source_id)
    known = {d.id: d for d in docs}
    missing = {s for lst in deps.values() for s in lst if s not in known}
    if missing:
        for d in session.exec(select(Document).where(Document.id.in_(missing))).all():
            known[d.id] = d
    out: dict[str, Freshness] = {}
    kw = {"warning_days": cfg.warning_days, "unreachable_after": cfg.unreachable_after}
    for d in known.values():
        if d.kind != "sop":
            out[d.id] = evaluate(facts_of(d, owners.get(d.owner_id or "")), now, **kw)
    for d in docs:
        if d.kind == "sop":
            srcs = [
                SourceFacts(s, out[s].state if s in out else None, known[s].changed_at if s in known else None)
                for s in deps.get(d.id, [])
            ]
            out[d.id] = evaluate(facts_of(d, owners.get(d.owner_id or "")), now, sources=srcs, **kw)
    return out
