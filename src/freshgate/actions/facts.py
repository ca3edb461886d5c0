"""What an action check reads at request time, and the freshness it computes from it.

Dates, status, versions and rules come from the permission table in memory (actions/cache.py);
the facts that change without a change-feed entry are read live in one statement: each document's
fetch failures and open conflicts, and each owner's active flag and contact. The state is then
computed now, with the same pure rules as every other freshness (`freshness.rules.evaluate`),
never taken from a cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Mapping

from sqlalchemy import TextClause, text

from freshgate.actions.cache import DocFacts
from freshgate.freshness.rules import Facts, Freshness, SourceFacts, evaluate
from freshgate.registry.views import RulesConfig

# One statement, as lean as it can be: a Core text statement built once per shape (how many documents
# and owners, conflicts or not) with one plain parameter per id (no expanding IN to render per check:
# the compiled form is reused). Only documents with fetch failures or open conflicts come back (the
# rest count 0), and of owners only the active flag and the contact.
# Open conflicts of a document, each side through its own index (an OR of both sides, or the status
# first, would walk every open conflict per document); a conflict between two sections of the same
# document counts once.
_CONFLICTS = ('(SELECT COUNT(*) FROM "conflict" x WHERE x.doc_a = d.id AND x.status IN ({s}))'
              ' + (SELECT COUNT(*) FROM "conflict" x WHERE x.doc_b = d.id AND x.doc_a <> d.id AND x.status IN ({s}))')
_NO_OWNER = "CAST(NULL AS BOOLEAN) AS a, CAST(NULL AS TEXT) AS b"  # typed: PostgreSQL unions them with owner rows
_SHAPES: dict[tuple[int, int, bool], TextClause] = {}


def _statement(n_docs: int, n_owners: int, with_conflicts: bool) -> TextClause:
    key = (n_docs, n_owners, with_conflicts)
    stmt = _SHAPES.get(key)
    if stmt is None:
        parts = []
        if n_docs:
            ids = ", ".join(f":d{i}" for i in range(n_docs))
            if with_conflicts:
                from freshgate.conflicts.models import ACTIVE_STATUSES

                count = _CONFLICTS.format(s=", ".join(f"'{s}'" for s in ACTIVE_STATUSES))  # code constants
                parts.append(f"SELECT * FROM (SELECT 'd' AS k, d.id, d.fetch_failures AS n, {_NO_OWNER}, {count} AS c"
                             f" FROM document d WHERE d.id IN ({ids})) f WHERE f.n > 0 OR f.c > 0")
            else:
                parts.append(f"SELECT 'd', d.id, d.fetch_failures, {_NO_OWNER}, 0 FROM document d"
                             f" WHERE d.id IN ({ids}) AND d.fetch_failures > 0")
        if n_owners:
            parts.append("SELECT 'o', o.id, NULL, o.active, o.contact, NULL FROM owner o"
                         f" WHERE o.id IN ({', '.join(f':o{i}' for i in range(n_owners))})")
        stmt = text(" UNION ALL ".join(parts))
        if len(_SHAPES) < 4096:  # a handful of shapes in practice; never unbounded
            _SHAPES[key] = stmt
    return stmt


@dataclass
class Live:
    """Facts read at request time."""

    fetch_failures: dict[str, int] = field(default_factory=dict)
    conflicts: dict[str, int] = field(default_factory=dict)  # open or confirmed conflicts per document
    owners: dict[str, tuple[bool, str]] = field(default_factory=dict)  # owner -> (active, contact)

    def contact(self, owner: str | None) -> str | None:
        """An owner's contact, if known."""
        return (self.owners.get(owner or "") or (False, ""))[1] or None


def read_live(session, doc_ids: Iterable[str], owner_ids: Iterable[str], with_conflicts: bool) -> Live:
    """One statement: fetch failures and open conflicts of these documents, active flag and contact of these owners."""
    docs, owners = sorted(set(doc_ids)), sorted(set(o for o in owner_ids if o))
    out = Live()
    if not docs and not owners:
        return out
    params = {**{f"d{i}": d for i, d in enumerate(docs)}, **{f"o{i}": o for i, o in enumerate(owners)}}
    stmt = _statement(len(docs), len(owners), with_conflicts)
    for kind, key, n, active, contact, c in session.connection().execute(stmt, params):
        if kind == "d":
            if n:
                out.fetch_failures[key] = int(n)
            if c:
                out.conflicts[key] = int(c)
        else:
            out.owners[key] = (bool(active), contact or "")
    return out


def _facts(d: DocFacts, live: Live, cfg: RulesConfig) -> Facts:
    owner = live.owners.get(d.owner_id or "")
    return Facts(id=d.id, kind=d.kind, status=d.status, successor=d.successor, has_owner=d.owner_id is not None,
                 owner_active=bool(owner and owner[0]),
                 owner_known=owner is not None and (bool(owner[1]) or not cfg.owner_contact_required),
                 review_every_days=d.review_every_days, last_verified=d.last_verified, expires=d.expires,
                 changed_at=d.changed_at, fetch_failures=live.fetch_failures.get(d.id, 0))


def freshness_of(ids: Iterable[str], docs: Mapping[str, DocFacts], deps: Mapping[str, tuple[str, ...]], live: Live,
                 now: datetime, cfg: RulesConfig) -> dict[str, Freshness]:
    """Freshness of these documents at `now` (as `registry.views.freshness_map` computes it from the database)."""
    kw = {"warning_days": cfg.warning_days, "unreachable_after": cfg.unreachable_after}
    wanted = [docs[i] for i in dict.fromkeys(ids) if i in docs]
    cited = {s for d in wanted if d.kind == "sop" for s in deps.get(d.id, ())}
    out: dict[str, Freshness] = {}
    for d in [*wanted, *(docs[s] for s in cited if s in docs)]:
        if d.kind != "sop" and d.id not in out:
            out[d.id] = evaluate(_facts(d, live, cfg), now, **kw)
    for d in wanted:
        if d.kind == "sop":
            srcs = [SourceFacts(s, out[s].state if s in out else None,
                                docs[s].content_changed_at if s in docs else None) for s in deps.get(d.id, ())]
            out[d.id] = evaluate(_facts(d, live, cfg), now, sources=srcs, **kw)
    return out
