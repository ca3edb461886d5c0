"""Read-side helpers: freshness of documents computed in bulk from a few queries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, and_, select

from freshgate.freshness.rules import Facts, Freshness, SourceFacts, evaluate
from freshgate.registry.models import Dependency, Document, DocumentVersion, Owner


# Prebuilt statements of the per-lookup reads (plain rows; the id lists expand per call).
_DEPS = (sa.select(Dependency.sop_id, Dependency.source_id)
         .where(Dependency.sop_id.in_(sa.bindparam("ids", expanding=True)))
         .order_by(Dependency.sop_id, Dependency.source_id))
_OWNER_FACTS = sa.select(Owner.id, Owner.active, Owner.contact)
_OWNER_FACTS_IN = _OWNER_FACTS.where(Owner.id.in_(sa.bindparam("ids", expanding=True)))


@dataclass(frozen=True)
class RulesConfig:
    """The knobs of the freshness rules."""

    warning_days: int = 14
    unreachable_after: int = 3
    owner_contact_required: bool = True  # an owner without a contact is unknown: its documents are orphaned


def owner_known(owner: Owner | None, contact_required: bool = True) -> bool:
    """An owner someone can be asked: declared with a contact (when the rule asks for one)."""
    return owner is not None and (bool(owner.contact) or not contact_required)


def facts_of(doc: Document, owner: Owner | None, contact_required: bool = True) -> Facts:
    """The rule inputs of one document row."""
    return Facts(
        id=doc.id, kind=doc.kind, status=doc.status, successor=doc.successor,
        has_owner=doc.owner_id is not None, owner_active=bool(owner and owner.active),
        owner_known=owner_known(owner, contact_required),
        review_every_days=doc.review_every_days, last_verified=doc.last_verified,
        expires=doc.expires, changed_at=doc.changed_at, fetch_failures=doc.fetch_failures,
    )


def content_changed_at(session: Session, docs: list[Document]) -> dict[str, datetime]:
    """When each document's content last changed after registration: its newest version's time
    (kept after re-verification, unlike `changed_at`), or the `updated` date its file declared."""
    out: dict[str, datetime] = {d.id: d.changed_at for d in docs if d.changed_at is not None}
    later = [d.id for d in docs if d.version > 1]
    for i in range(0, len(later), 500):
        q = (select(DocumentVersion.document_id, DocumentVersion.created_at)
             .join(Document, and_(Document.id == DocumentVersion.document_id, Document.version == DocumentVersion.version))
             .where(Document.id.in_(later[i:i + 500])))
        for doc_id, at in session.exec(q).all():
            out[doc_id] = max(at, out.get(doc_id, at))
    return out


def freshness_map(session: Session, docs: list[Document], now: datetime, cfg: RulesConfig) -> dict[str, Freshness]:
    """Freshness of `docs` (and of the sources their SOP cards rely on)."""
    sop_ids = [d.id for d in docs if d.kind == "sop"]
    deps: dict[str, list[str]] = defaultdict(list)
    if sop_ids:
        for sop_id, source_id in session.execute(_DEPS, {"ids": sop_ids}).all():
            deps[sop_id].append(source_id)
    known = {d.id: d for d in docs}
    missing = {s for lst in deps.values() for s in lst if s not in known}
    if missing:
        for d in session.exec(select(Document).where(Document.id.in_(missing))).all():
            known[d.id] = d
    owners = _owners_of(session, known.values())
    cited = [known[s] for s in {s for lst in deps.values() for s in lst} if s in known]
    changed_at = content_changed_at(session, cited) if cited else {}
    out: dict[str, Freshness] = {}
    kw = {"warning_days": cfg.warning_days, "unreachable_after": cfg.unreachable_after}
    for d in known.values():
        if d.kind != "sop":
            out[d.id] = evaluate(facts_of(d, owners.get(d.owner_id or ""), cfg.owner_contact_required), now, **kw)
    for d in docs:
        if d.kind == "sop":
            srcs = [
                SourceFacts(s, out[s].state if s in out else None, changed_at.get(s))
                for s in deps.get(d.id, [])
            ]
            out[d.id] = evaluate(facts_of(d, owners.get(d.owner_id or ""), cfg.owner_contact_required), now,
                                 sources=srcs, **kw)
    return out


def _owners_of(session: Session, docs) -> dict[str, Any]:
    """The owners of these documents only: a lookup judges a handful, not the whole registry."""
    ids = {d.owner_id for d in docs if d.owner_id}
    if not ids:
        return {}
    # plain rows (id, active, contact): all the rules read of an owner; session.execute keeps autoflush
    rows = session.execute(_OWNER_FACTS) if len(ids) > 500 else session.execute(_OWNER_FACTS_IN, {"ids": list(ids)})
    return {o.id: o for o in rows.all()}
