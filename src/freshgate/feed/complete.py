"""Complete the work that committed changes still owe and that no live process will do
(its writer was killed, or it waited longer than `feed.owed_grace`): embeddings first, then the
conflict checks, which need them. Run by the next sync, and by the worker's `owed_work` job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from types import SimpleNamespace

from sqlmodel import Session

from freshgate.feed import owed

log = logging.getLogger(__name__)


@dataclass
class Completed:
    """What one completion did: documents embedded and checked, and what stays owed (and why)."""

    embedded: int = 0
    checked: int = 0
    waiting: dict[str, int] = field(default_factory=dict)  # kind -> documents still owed
    why: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-able summary."""
        return {"embedded": self.embedded, "checked": self.checked, "still_owed": self.waiting, "why": self.why}

    def lines(self) -> list[str]:
        """Sentences for a sync report."""
        out = []
        if self.embedded:
            out.append(f"completed the embeddings of {self.embedded} document(s) left owed by an interrupted run")
        if self.checked:
            out.append(f"completed {self.checked} owed conflict check(s) left by an interrupted run")
        return out


def complete(rt, *, grace: float | None = None, limit: int = 5000) -> Completed:
    """Do the orphaned owed work this process can do (it needs the embedder, and the index for checks)."""
    done = Completed()
    grace = rt.settings.feed.owed_grace if grace is None else grace
    with Session(rt.engine) as session:
        rows = owed.orphaned(owed.read(session, [owed.EMBED, owed.CHECK, owed.SEARCH], limit=limit), grace)
    embed = list(dict.fromkeys(r.document_id for r in rows if r.kind == owed.EMBED))
    lk = rt.extras.get("lookup")
    if embed:
        if lk is None or not lk.indexer.embed or not lk.indexer.active:
            done.why.append("embeddings: this process does not embed (the server or `freshgate sync` will)")
        else:
            _embed(rt, lk, embed)
            done.embedded = len(embed) - _still(rt, [owed.EMBED], embed)
    checks = list(dict.fromkeys(r.document_id for r in rows if r.kind in (owed.CHECK, owed.SEARCH)))
    hub = rt.extras.get("conflicts")
    if checks:
        if hub is None or lk is None or not lk.index.ready:
            done.why.append("conflict checks: this process has no index to search")
        else:
            search = list(dict.fromkeys(r.document_id for r in rows if r.kind == owed.SEARCH))
            for start in range(0, len(checks), 200):
                chunk = checks[start:start + 200]
                hub.check(chunk, [d for d in search if d in set(chunk)])
            done.checked = len(checks) - _still(rt, [owed.CHECK, owed.SEARCH], checks)
    with rt.engine.connect() as conn:
        done.waiting = owed.counts(conn)
    if done.embedded or done.checked:
        log.info("completed owed work: %d document(s) embedded, %d checked for conflicts", done.embedded,
                 done.checked)
    return done


def _still(rt, kinds: list[str], doc_ids: list[str]) -> int:
    """How many of the documents still owe work of these kinds."""
    with Session(rt.engine) as session:
        return len({r.document_id for r in owed.read(session, kinds, doc_ids)})


def _embed(rt, lk, doc_ids: list[str]) -> None:
    """Embed (and settle) in this process; a ready index takes the new vectors at once."""
    if lk.index.ready:  # the feed's path: embeds what is missing, settles, announces, refreshes the index
        lk.indexer.apply_feed(rt.engine, [SimpleNamespace(document_id=d) for d in doc_ids])
        return
    from freshgate.feed import service as feed
    from freshgate.lookup.indexing import embed_pending

    for start in range(0, len(doc_ids), 500):
        chunk = doc_ids[start:start + 500]
        with Session(rt.engine, expire_on_commit=False) as session:
            if embed_pending(session, lk.embedder, chunk, lk.indexer.batch_size):
                for d in chunk:
                    feed.record(session, d, "embedded")  # followers load the new vectors
            session.commit()
