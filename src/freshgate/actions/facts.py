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

from sqlalchemy import bindparam, text

from freshgate.actions.cache import DocFacts
from freshgate.freshness.rules import Facts, Freshness, SourceFacts, evaluate
from freshgate.registry.views import RulesConfig

_DOCS = ("SELECT 'd' AS k, d.id AS id, d.fetch_failures AS n, NULL AS active, NULL AS contact, {conflicts} AS c"
         " FROM document d WHERE d.id IN :docs")
_COUNT = ('(SELECT COUNT(*) FROM "conflict" x WHERE x.status IN :active_statuses AND (x.doc_a = d.id OR '
          'x.doc_b = d.id))')
_OWNERS = "SELECT 'o', o.id, 0, o.active, o.contact, 0 FROM owner o WHERE o.id IN :owners"


def _statement(with_conflicts: bool):
    sql = _DOCS.format(conflicts=_COUNT if with_conflicts else "0") + " UNION ALL " + _OWNERS
    params = [bindparam("docs", expanding=True), bindparam("owners", expanding=True)]
    if with_conflicts:
        params.append(bindparam("active_statuses", expanding=True))
    return text(sql).bindparams(*params)


_STATEMENTS = {True: _statement(True), False: _statement(False)}


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
    params = {"docs": docs, "owners": owners}
    if with_conflicts:
        from freshgate.conflicts.models import ACTIVE_STATUSES

        params["active_statuses"] = list(ACTIVE_STATUSES)
    for kind, key, n, active, contact, c in session.connection().execute(_STATEMENTS[with_conflicts], params):
        if kind == "d":
            out.fetch_failures[key] = int(n or 0)
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
