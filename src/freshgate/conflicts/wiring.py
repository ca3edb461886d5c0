"""Attach conflict detection to a runtime: `rt.extras["conflicts"]` and a registry listener.

The listener only notes which documents changed. After the writing transaction commits
(and after the lookup indexer embedded the new sections just before that commit), the
changed documents are checked in a session of their own: a failed check never undoes the
registry change, and the next full scan catches up with anything missed.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from freshgate.conflicts import checks
from freshgate.feed import owed
from freshgate.conflicts.service import ConflictContext, ConflictService, summary_line
from freshgate.registry.service import Change

log = logging.getLogger(__name__)
_PENDING = "freshgate.conflicts.pending"
_HOOKED = "freshgate.conflicts.hooked"
SEARCH_ACTIONS = frozenset({"registered", "content", "unretired"})


class ConflictHub:
    """The process-wide part of conflict detection: judge, index access, checks and hooks."""

    def __init__(self, rt) -> None:
        self.rt = rt
        self.settings = rt.settings.conflicts
        self.ctx = ConflictContext(self.settings, rt.registry_ctx, index=self._index, judge_factory=self._make_judge)
        self.last_error: str | None = None
        self.last_report: dict | None = None
        self._scan_lock = threading.Lock()  # one full scan at a time in this process

    # ---- parts ---------------------------------------------------------------
    def _lookup(self):
        return self.rt.extras.get("lookup")

    def _index(self):
        lk = self._lookup()
        return lk.index if lk is not None and lk.index.ready else None

    def _make_judge(self):
        from freshgate.conflicts.judge import make_judge

        lk = self._lookup()
        return make_judge(self.settings, lk.embedder if lk is not None else None)

    def service(self, session: Session) -> ConflictService:
        """The conflict service bound to a session."""
        return ConflictService(session, self.ctx)

    # ---- hooks other domains call ------------------------------------------------
    def open_conflicts_for(self, session: Session, cited: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Lookup hook: open/confirmed conflicts touching the cited sections, each with a `summary` sentence."""
        svc = self.service(session)
        out = svc.describe(svc.for_sections(cited))
        cited_docs = [d for d, _ in cited]
        for d in out:
            mine = next((x for x in cited_docs if x in (d["a_document"], d["b_document"])), None)
            d["summary"] = summary_line(d, mine)
        return out

    def opened_since(self, session: Session, last_id: int) -> list[dict[str, Any]]:
        """Notify hook: conflicts opened after `last_id`, described (both sides, owners, explanation)."""
        svc = self.service(session)
        return svc.describe(svc.opened_since(last_id))

    def open_counts(self, session: Session) -> dict[str, int]:
        """Reports hook: {document id: open or confirmed conflicts}."""
        return self.service(session).open_counts()

    def health(self) -> dict[str, Any]:
        """Readiness for /healthz."""
        return {"judge": self.settings.judge, "last_check_error": self.last_error}

    # ---- registry listener -----------------------------------------------------------
    def listener(self, session: Session, change: Change) -> None:
        """Remember the change; the check runs after the commit."""
        if not self.settings.check_on_change:
            return
        pending: dict[str, bool] = session.info.setdefault(_PENDING, {})
        pending[change.document_id] = pending.get(change.document_id, False) or change.action in SEARCH_ACTIONS
        if not session.info.get(_HOOKED):
            session.info[_HOOKED] = True
            event.listen(session, "after_commit", self._after_commit)
            event.listen(session, "after_rollback", self._after_rollback)

    @staticmethod
    def _after_rollback(session: Session) -> None:
        if not session.in_nested_transaction():  # a savepoint rollback keeps the other files' changes
            session.info.pop(_PENDING, None)

    def _after_commit(self, session: Session) -> None:
        if session.in_nested_transaction():
            return  # a released savepoint (sync, one file): wait for the real commit
        pending: dict[str, bool] = session.info.pop(_PENDING, {})
        if pending:
            self.check(list(pending), [d for d, search in pending.items() if search])

    # ---- runs ------------------------------------------------------------------------
    def check(self, doc_ids: list[str], search_ids: list[str] | None = None) -> dict | None:
        """Incremental check of changed documents in a session of its own; errors are logged, not raised.

        The owed checks of these documents (feed.owed), read before checking, are settled in the
        same transaction when the check was complete: the index was there to search, and a
        document's sections had their embeddings (else it stays owed for a process that has them)."""
        try:
            with Session(self.rt.engine, expire_on_commit=False) as session:
                owed_rows = owed.read(session, [owed.CHECK, owed.SEARCH], doc_ids)
                report = checks.check_documents(self.service(session), doc_ids, search_ids)
                if self._index() is not None:
                    unembedded = _unembedded(session, {r.document_id for r in owed_rows if r.kind == owed.SEARCH})
                    owed.settle(session, [r for r in owed_rows if r.kind == owed.CHECK or
                                          r.document_id not in unembedded])
                session.commit()
            self.last_error, self.last_report = None, report.as_dict()
            return self.last_report
        except Exception as exc:  # noqa: BLE001 - the registry change is committed; the scan catches up
            self.last_error = f"conflict check failed: {exc}"
            log.exception("conflict check of %s failed", ", ".join(doc_ids))
            return None

    def scan(self, *, build_index: bool = True) -> dict:
        """Full scan: build the index if needed, reconcile every open conflict, judge new candidate pairs."""
        lk = self._lookup()
        if build_index and lk is not None and not lk.index.ready:
            lk.warm_up()
        t0 = time.perf_counter()
        with self._scan_lock, Session(self.rt.engine, expire_on_commit=False) as session:
            owed_rows = owed.read(session, [owed.CHECK, owed.SEARCH])  # a full scan does all of them
            report = checks.full_scan(self.service(session))
            unembedded = _unembedded(session, {r.document_id for r in owed_rows if r.kind == owed.SEARCH})
            owed.settle(session, [r for r in owed_rows if r.kind == owed.CHECK or r.document_id not in unembedded])
            session.commit()
        out = report.as_dict() | {"seconds": round(time.perf_counter() - t0, 3)}
        self.last_report = out
        log.info("conflict scan: %d sections, %d candidate pairs, %d judged, %d new, %d resolved", report.sections,
                 report.candidates, report.judged, len(report.detected), len(report.resolved))
        return out

    def scan_when_ready(self, timeout: float = 600.0) -> None:
        """Wait (in a thread) for the lookup index, then run one full scan."""
        def run() -> None:
            lk = self._lookup()
            deadline = time.monotonic() + timeout
            while lk is not None and not lk.index.ready and lk.index_error is None and time.monotonic() < deadline:
                time.sleep(0.2)
            if lk is None or not lk.index.ready:
                log.warning("start-up conflict scan skipped: the index is not ready")
                return
            try:
                self.scan(build_index=False)
            except Exception as exc:  # noqa: BLE001 - reported through health
                self.last_error = f"start-up conflict scan failed: {exc}"
                log.exception("start-up conflict scan failed")

        threading.Thread(target=run, name="freshgate-conflict-scan", daemon=True).start()


def _unembedded(session: Session, doc_ids: set[str]) -> set[str]:
    """Those of the documents with a section still waiting for its embedding (not searchable yet)."""
    from sqlmodel import select

    from freshgate.registry.models import Section

    ids = list(doc_ids)
    out: set[str] = set()
    for start in range(0, len(ids), 500):
        q = select(Section.document_id).where(Section.document_id.in_(ids[start:start + 500]),
                                              Section.embedding.is_(None)).distinct()
        out.update(session.exec(q))
    return out


def wire(rt) -> ConflictHub:
    """Create the hub (nothing loads yet) and listen to registry changes."""
    hub = ConflictHub(rt)
    rt.extras["conflicts"] = hub
    rt.registry_ctx.listeners.append(hub.listener)
    return hub
