"""The permission table in memory: compiled tool rules and the card/source facts their freshness needs.

A `Store` holds, per document, the facts that only change with a registry change (status, dates,
version, owner id, its SOP card's rules and sources); everything else a check needs at request
time (owner active and contact, fetch failures, open conflicts) is read live (actions/facts.py),
and the state is computed at request time from these dates with the pure freshness rules.

`RuleCache` keeps a full store in a serving process: built once from the database, then kept in
step by the change feed (another process's sync, verify, retire) and by this process's own commits
(read-your-writes). A one-shot process (CLI, MCP over stdio) uses `PartialStore`: the same facts,
read from the database for the one tool being checked.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable

from sqlalchemy import and_, select

from freshgate.actions.rules import ToolRule
from freshgate.actions.table import rule_rows
from freshgate.registry.models import Dependency, Document, DocumentVersion

log = logging.getLogger(__name__)
CHUNK = 500
_D = Document.__table__.c
_FACT_COLUMNS = (_D.id, _D.kind, _D.title, _D.owner_id, _D.criticality, _D.review_every_days, _D.last_verified,
                 _D.expires, _D.status, _D.successor, _D.lane, _D.tools, _D.version, _D.changed_at)


@dataclass(frozen=True)
class DocFacts:
    """What a check needs to know about one card or source that only a registry change changes."""

    id: str
    kind: str
    title: str
    owner_id: str | None
    criticality: str
    review_every_days: int
    last_verified: datetime | None
    expires: date | None
    status: str
    successor: str | None
    version: int
    changed_at: datetime | None
    content_changed_at: datetime | None  # newest version's time (or changed_at): a card's suspect rule


@dataclass(frozen=True)
class CachedRule:
    """One compiled rule of the permission table (attribute names as on `ToolRuleRow`)."""

    rule: ToolRule
    card_id: str
    card_version: int
    position: int
    pattern: str
    conditions: tuple[str, ...]
    lane: str
    lane_from_card: bool
    owner: str | None
    log_location: str | None
    rollback: str | None

    @classmethod
    def of(cls, row: Any) -> "CachedRule":
        """From a `rule_rows` dict or a `ToolRuleRow`."""
        get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
        conds = tuple(get("conditions") or ())
        return cls(ToolRule(get("pattern"), conds, get("lane"), get("card_id"), get("position")), get("card_id"),
                   get("card_version"), get("position"), get("pattern"), conds, get("lane"),
                   bool(get("lane_from_card")), get("owner"), get("log_location"), get("rollback"))


@dataclass
class Gathered:
    """Everything the permission table and the registry say about one tool call, before live facts."""

    rules: list[CachedRule]  # the rules about this tool (exact name, or a glob covering it)
    docs: dict[str, DocFacts]  # their cards, the sources those rely on, and the successors of either
    deps: dict[str, tuple[str, ...]]  # card -> sources it relies on


# ---- loading ------------------------------------------------------------------------------------
def _rows(conn, ids: list[str] | None) -> tuple[dict[str, DocFacts], dict[str, list[CachedRule]], dict[str, tuple]]:
    """Facts, compiled rules and dependencies of these documents (all when `ids` is None)."""
    docs: dict[str, DocFacts] = {}
    rules: dict[str, list[CachedRule]] = {}
    deps: dict[str, list[str]] = {}
    chunks = [None] if ids is None else [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]
    for part in chunks:
        q = select(*_FACT_COLUMNS)
        dq = select(Dependency.__table__.c.sop_id, Dependency.__table__.c.source_id)
        v = DocumentVersion.__table__.c
        vq = (select(v.document_id, v.created_at).select_from(Document.__table__.join(
            DocumentVersion.__table__, and_(v.document_id == _D.id, v.version == _D.version))).where(_D.version > 1))
        if part is not None:
            q, vq = q.where(_D.id.in_(part)), vq.where(_D.id.in_(part))
            dq = dq.where(Dependency.__table__.c.sop_id.in_(part))
        later = dict(conn.execute(vq).all())
        for r in conn.execute(q).mappings():
            changed = r["changed_at"]
            newest = later.get(r["id"])
            content = max(newest, changed) if newest is not None and changed is not None else (newest or changed)
            docs[r["id"]] = DocFacts(r["id"], r["kind"], r["title"], r["owner_id"], r["criticality"],
                                     r["review_every_days"], r["last_verified"], r["expires"], r["status"],
                                     r["successor"], r["version"], changed, content)
            if r["kind"] == "sop":
                rules[r["id"]] = [CachedRule.of(x) for x in rule_rows(_RowDoc(r))]
        for sop, src in conn.execute(dq.order_by(Dependency.__table__.c.sop_id, Dependency.__table__.c.source_id)):
            deps.setdefault(sop, []).append(src)
    return docs, rules, {k: tuple(v) for k, v in deps.items()}


class _RowDoc:
    """A result row read as the `Document` that `table.rule_rows` expects."""

    def __init__(self, row) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        return self._row[name]


# ---- the store ---------------------------------------------------------------------------------------
class Store:
    """Documents, rules and dependencies in memory, indexed for the check (exact names, then globs)."""

    def __init__(self) -> None:
        self.docs: dict[str, DocFacts] = {}
        self.deps: dict[str, tuple[str, ...]] = {}
        self.by_card: dict[str, list[CachedRule]] = {}
        self.exact: dict[str, dict[str, list[CachedRule]]] = {}  # pattern -> card -> rules
        self.globs: dict[str, list[CachedRule]] = {}  # card -> its glob rules

    def put(self, ids: Iterable[str], docs: dict[str, DocFacts], rules: dict[str, list[CachedRule]],
            deps: dict[str, tuple]) -> None:
        """Replace what is known about these documents (a document not in `docs` is gone)."""
        for doc_id in ids:
            self._drop_rules(doc_id)
            self.deps.pop(doc_id, None)
            fact = docs.get(doc_id)
            if fact is None:
                self.docs.pop(doc_id, None)
                continue
            self.docs[doc_id] = fact
            if doc_id in deps:
                self.deps[doc_id] = deps[doc_id]
            mine = rules.get(doc_id) or []
            if mine:
                self.by_card[doc_id] = mine
            for r in mine:
                if r.rule.is_glob:
                    self.globs.setdefault(doc_id, []).append(r)
                else:
                    self.exact.setdefault(r.pattern, {}).setdefault(doc_id, []).append(r)

    def _drop_rules(self, card_id: str) -> None:
        for r in self.by_card.pop(card_id, []):
            if not r.rule.is_glob:
                cards = self.exact.get(r.pattern)
                if cards is not None:
                    cards.pop(card_id, None)
                    if not cards:
                        del self.exact[r.pattern]
        self.globs.pop(card_id, None)

    def rules_for(self, tool: str) -> list[CachedRule]:
        """Rules about this tool: exact names, then globs that cover it (by card, then position)."""
        t = tool.casefold()
        found = [r for rs in self.exact.get(t, {}).values() for r in rs]
        found += [r for rs in self.globs.values() for r in rs if r.rule.covers(t)]
        return sorted(found, key=lambda r: (r.card_id, r.position))

    def gather(self, tool: str) -> Gathered:
        """The rules about a tool and the documents their freshness depends on."""
        rules = self.rules_for(tool)
        wanted = {r.card_id for r in rules}
        self._need(wanted)
        cards = [self.docs[c] for c in wanted if c in self.docs]
        deps = {c.id: self.deps.get(c.id, ()) for c in cards}
        wanted |= {s for lst in deps.values() for s in lst} | {c.successor for c in cards if c.successor}
        self._need(wanted)
        wanted |= {self.docs[s].successor for s in wanted if s in self.docs and self.docs[s].successor}
        self._need(wanted)
        return Gathered(rules, {d: self.docs[d] for d in wanted if d in self.docs}, deps)

    def _need(self, ids: set[str]) -> None:
        """Make sure these documents are loaded (the full store has them all)."""


class PartialStore(Store):
    """The facts of one check read from the database (a process that follows no feed)."""

    def __init__(self, session) -> None:
        super().__init__()
        self.session = session
        self.loaded: set[str] = set()

    def rules_for(self, tool: str) -> list[CachedRule]:
        from freshgate.actions.table import rows_for_tool

        rules = [CachedRule.of(r) for r in rows_for_tool(self.session, tool)]
        return [r for r in rules if r.rule.covers(tool)]

    def _need(self, ids: set[str]) -> None:
        missing = sorted(i for i in ids if i not in self.loaded)
        if missing:
            docs, _rules, deps = _rows(self.session.connection(), missing)
            self.loaded.update(missing)
            self.docs.update(docs)
            self.deps.update(deps)


# ---- the cache of a serving process -----------------------------------------------------------------
class RuleCache:
    """A full store kept current by the change feed; `gather` refuses (None) when it cannot be trusted."""

    def __init__(self, engine, *, max_feed_age: float = 10.0) -> None:
        self.engine = engine
        self.max_feed_age = max_feed_age
        self.store = Store()
        self.watermark: int | None = None  # newest change applied; None until built
        self.follower = None  # feed.tailer.FeedFollower, set by the hub
        self.built_at: float | None = None
        self.refreshes = 0
        self.closed = False  # set when the process stops following
        self._lock = threading.RLock()

    def build(self) -> int:
        """Load every document and rule; returns rules loaded. Changes after the watermark are replayed."""
        from freshgate.feed import service as feed

        t = time.perf_counter()
        with self.engine.connect() as conn:
            wm = feed.latest_id(conn)  # before reading: what commits meanwhile is replayed from the feed
        with self._lock, self.engine.connect() as conn:
            docs, rules, deps = _rows(conn, None)
            store = Store()
            store.put(list(docs), docs, rules, deps)
            self.store, self.watermark, self.built_at = store, wm, time.monotonic()
        n = sum(len(v) for v in rules.values())
        log.info("permission table in memory: %d rules of %d documents in %.2fs (watermark %d)", n, len(docs),
                 time.perf_counter() - t, wm)
        return n

    def refresh(self, doc_ids: Iterable[str]) -> None:
        """Reload these documents from the database (idempotent; read and applied under one lock, so an
        older read never lands after a newer one)."""
        ids = sorted(set(i for i in doc_ids if i))
        if not ids or self.watermark is None:
            return
        with self._lock, self.engine.connect() as conn:
            docs, rules, deps = _rows(conn, ids)
            self.store.put(ids, docs, rules, deps)
            self.refreshes += 1

    def apply_feed(self, changes: list) -> None:
        """Feed subscriber: reload the documents the changes name (embeddings change nothing here)."""
        self.refresh(c.document_id for c in changes if c.document_id and c.kind != "embedded")

    def set_watermark(self, wm: int) -> None:
        """Called by the follower after `apply_feed`."""
        with self._lock:
            self.watermark = wm

    def unready_reason(self) -> str | None:
        """Why the cache cannot answer now (None: it can)."""
        if self.watermark is None:
            return "the permission table is still loading"
        f = self.follower
        if f is None or not f.following:
            return "this process does not follow the change feed"
        if f.last_error:
            return f"the change feed cannot be read ({f.last_error[:200]})"
        age = None if f.last_poll_at is None else time.monotonic() - f.last_poll_at
        if age is None or age > self.max_feed_age:
            return f"the change feed was last read {'never' if age is None else f'{age:.0f}s ago'}"
        return None

    def gather(self, tool: str) -> Gathered | None:
        """The facts of one tool call from memory, or None when the cache cannot be trusted."""
        if self.unready_reason() is not None:
            return None
        with self._lock:
            return self.store.gather(tool)

    def health(self) -> dict[str, Any]:
        """For /healthz."""
        with self._lock:
            rules = sum(len(v) for v in self.store.by_card.values())
            docs = len(self.store.docs)
        f = self.follower
        return {"cache": "ready" if self.unready_reason() is None else "not_ready",
                "reason": self.unready_reason(), "watermark": self.watermark,
                "db_watermark": f.db_watermark if f else None, "rules": rules, "documents": docs,
                "refreshes": self.refreshes}
