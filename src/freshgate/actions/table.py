"""The permission table in the database: rebuilt from SOP cards when they change, read per tool."""

from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import or_
from sqlmodel import Session, select

from freshgate.actions.models import ToolRuleRow
from freshgate.actions.rules import ToolRule
from freshgate.registry.models import Document

CHUNK = 500


def rule_rows(doc: Document) -> list[dict[str, Any]]:
    """The `tool_rule` rows of one SOP card's `tools:` entries (names take the card's lane)."""
    if doc.kind != "sop":
        return []
    card_lane = doc.lane or "approval"
    rows = []
    for pos, entry in enumerate(doc.tools or []):
        if isinstance(entry, str):
            entry = {"tool": entry}
        if not isinstance(entry, dict) or not entry.get("tool"):
            continue
        pattern = str(entry["tool"]).strip().casefold()
        rows.append({"card_id": doc.id, "card_version": doc.version, "position": pos, "pattern": pattern,
                     "is_glob": any(c in pattern for c in "*?["), "conditions": list(entry.get("when") or []),
                     "lane": entry.get("lane") or card_lane, "lane_from_card": entry.get("lane") is None,
                     "owner": entry.get("owner"), "log_location": entry.get("log"), "rollback": entry.get("rollback")})
    return rows


def rebuild(session: Session, card_ids: Iterable[str]) -> int:
    """Replace the rules of these documents by those of their current rows; returns rules written."""
    ids = list(dict.fromkeys(card_ids))
    written = 0
    session.flush()
    conn = session.connection()  # plain statements: a sync rebuilds thousands of rules at once
    t, d = ToolRuleRow.__table__, Document.__table__.c
    for i in range(0, len(ids), CHUNK):
        part = ids[i:i + CHUNK]
        conn.execute(t.delete().where(t.c.card_id.in_(part)))
        q = select(d.id, d.kind, d.lane, d.tools, d.version).where(d.id.in_(part), d.kind == "sop")
        rows = [r for doc in conn.execute(q).all() for r in rule_rows(doc)]
        if rows:
            conn.execute(t.insert(), rows)
            written += len(rows)
    return written


def as_rule(row: ToolRuleRow) -> ToolRule:
    """The pure rule of a row."""
    return ToolRule(row.pattern, tuple(row.conditions or ()), row.lane, row.card_id, row.position)


def rows_for_tool(session: Session, tool: str) -> list[ToolRuleRow]:
    """Rules naming this tool exactly, and every glob rule (the caller matches the globs)."""
    q = select(ToolRuleRow).where(or_(ToolRuleRow.pattern == tool.casefold(), ToolRuleRow.is_glob.is_(True)))
    return list(session.exec(q.order_by(ToolRuleRow.card_id, ToolRuleRow.position)).all())


def active_rules(session: Session) -> list[ToolRule]:
    """The pure rules of active cards (plain columns: the overlap check after a sync reads them all)."""
    t, d = ToolRuleRow.__table__.c, Document.__table__.c
    q = (select(t.pattern, t.conditions, t.lane, t.card_id, t.position).join_from(ToolRuleRow.__table__, Document.__table__,
                                                                                d.id == t.card_id)
         .where(d.status == "active").order_by(t.pattern, t.card_id, t.position))
    return [ToolRule(p, tuple(c or ()), lane, card, pos) for p, c, lane, card, pos in session.connection().execute(q)]


def all_rows(session: Session, *, active_only: bool = False) -> list[ToolRuleRow]:
    """The whole permission table (of active cards only, if asked), by tool then card."""
    q = select(ToolRuleRow)
    if active_only:
        q = q.join(Document, Document.id == ToolRuleRow.card_id).where(Document.status == "active")
    q = q.order_by(ToolRuleRow.pattern, ToolRuleRow.card_id, ToolRuleRow.position)
    return list(session.exec(q).all())
