"""The lookup: find relevant sections, follow successors, judge freshness, decide, record a receipt.

Relevance: a section counts when its retrieval score (hybrid: cosine + weighted BM25 +
identifier share, `LookupEngine.retrieve`) is at least `lookup.relevance_threshold` (calibrated,
see docs/calibration.md) and within `lookup.relevance_margin` of the best section. One citation
per document (its best section), at most `top_k`. A retired document is replaced by its
(active) successor's best section only when that section itself passes the threshold for the
question; otherwise neither is cited and a `superseded` reason names the successor. When that
successor is already cited the retired one is simply dropped. The other side of a conflict is
cited only when it passes the threshold too. An SOP
card's lane (approval, forbidden) counts only for the best-matching card and near ties
(`lookup.lane_margin`): a question that merely mentions refunds does not run every refund SOP.

Fail safe: if the model, the index or the database cannot be used, the answer is
`stop_and_ask` with reason `freshness_unknown` (never `proceed`).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from freshgate.embeddings.index import Scope
from freshgate.errors import NotFound
from freshgate.lookup import receipts
from freshgate.lookup.ask import suggest
from freshgate.lookup.decide import DecisionReason, Evidence, decide
from freshgate.lookup.engine import LookupEngine, NotReady
from freshgate.lookup.schemas import AskOut, CitationOut, LookupIn, LookupOut, ReasonOut
from freshgate.observability import metrics, tracing
from freshgate.registry.models import Document, Section
from freshgate.registry.service import RegistryService

log = logging.getLogger(__name__)
MAX_SUCCESSOR_HOPS = 10
SNIPPET_CHARS = 280
# The hits' sections as stored now (prebuilt once; the id list expands per call).
_CURRENT_SECTIONS = sa.select(Section.id, Section.document_id, Section.anchor, Section.version, Section.text).where(
    Section.id.in_(sa.bindparam("ids", expanding=True)))


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The section text without its heading line, whitespace collapsed, cut at a word."""
    lines = text.strip().splitlines()
    if lines and lines[0].lstrip().startswith("#"):
        lines = lines[1:]
    flat = " ".join(" ".join(lines).split())
    return flat if len(flat) <= limit else flat[:limit].rsplit(" ", 1)[0] + "…"


class LookupService:
    """Lookups, receipts and unanswered topics within one session."""

    def __init__(self, session: Session, engine: LookupEngine, registry: RegistryService,
                 conflicts: Any = None, clock: Callable[[], datetime] | None = None) -> None:
        self.session = session
        self.engine = engine
        self.registry = registry
        self.conflicts = conflicts
        self.clock = clock or registry.ctx.clock
        self.settings = engine.settings.lookup
        self.timings: dict[str, float] = {}  # phase -> ms of the last lookup (Server-Timing header)
        self.not_ready: str | None = None  # why the last lookup could not use the model or index (Retry-After)
        self.principal: str | None = None  # who asks (auth principal id), recorded on receipts
        self._loaded: list[Document] = []  # documents this lookup prefetched (kept alive for session.get)

    # ---- the lookup ------------------------------------------------------------
    def lookup(self, req: LookupIn) -> LookupOut:
        """Decide proceed / caution / stop_and_ask for a question; records a receipt (flushes)."""
        top_k = req.top_k or self.settings.top_k
        t = time.perf_counter()
        with tracing.guardrail(req.risk, top_k) as span:
            out, decision, evidence, conflicts = self._lookup(req, top_k)
            tracing.record_decision(span, decision, out.citations, conflicts, out.receipt_id, self.not_ready)
        if self.engine.settings.metrics.enabled:
            metrics.record_lookup(decision, evidence, out.citations, self.timings, time.perf_counter() - t,
                                  out.receipt_id is not None)
        return out

    def _lookup(self, req: LookupIn, top_k: int):
        now = self.clock()
        scope = Scope.of(req.scope.ids, req.scope.tags, req.scope.kinds) if req.scope else None
        vector, hits, unknown = None, [], None
        t0 = time.perf_counter()
        with tracing.stage("retrieval", {"gen_ai.operation.name": "retrieval", "gen_ai.request.top_k": top_k,
                                         "gen_ai.data_source.id": "freshgate-registry"}):
            try:
                self.engine.wait_ready()  # never waits for a warm-up in progress unless lookup.ready_timeout > 0
                t0 = time.perf_counter()
                vector = self.engine.embed_query(req.query)
                t1 = time.perf_counter()
                _, hits = self.engine.retrieve(req.query, max(4 * top_k, 20), scope, vector=vector)
                self.timings.update(embed=1e3 * (t1 - t0), search=1e3 * (time.perf_counter() - t1))
            except NotReady as exc:
                unknown = self.not_ready = str(exc)
        t2 = time.perf_counter()
        notes: list = []
        with tracing.stage("decision"):
            try:
                citations, evidence, conflicts, notes = (([], [], [], []) if unknown
                                                         else self._gather(req, vector, hits, top_k))
            except SQLAlchemyError as exc:
                log.error("lookup could not read the registry: %s", exc)
                self.session.rollback()
                decision = decide([], req.risk, unknown="the database is unavailable")
                return self._answer(req, decision, [], [], None, now), decision, [], []
            decision = decide(evidence, req.risk, unknown=unknown, notes=notes)
        t3 = time.perf_counter()
        self.timings["decide"] = 1e3 * (t3 - t2)
        receipt_id = None
        try:
            if decision.codes and decision.codes[0] == "no_source":
                receipts.record_unanswered(self.session, req.query, vector, now, self.settings.unanswered_similarity)
            row = dict(id=receipts.new_receipt_id(), at=now, query=req.query, risk=req.risk,
                       scope=req.scope.model_dump() if req.scope else None, decision=decision.decision,
                       reasons=[{"code": r.code, "message": r.message, "item": r.item} for r in decision.reasons],
                       citations=[{"document_id": c.document_id, "version": c.version, "anchor": c.anchor,
                                   "state": c.state, "score": round(c.score, 4), "lane": c.lane,
                                   "substituted_for": c.substituted_for} for c in citations],
                       principal=self.principal)
            writer = self.engine.receipts
            if writer is not None and writer.submit({**row, "links": {c["document_id"]: c["version"]
                                                                      for c in row["citations"]}}):
                receipt_id = row["id"]  # written off the response path (lookup/receipt_queue.py)
            else:  # no queue, queue full or the writer failing: this lookup writes (and fails safe) itself
                receipt_id = receipts.record_receipt(self.session, receipt_id=row.pop("id"), **row)
        except SQLAlchemyError as exc:
            log.error("lookup receipt not recorded: %s", exc)
            self.session.rollback()
            decision = decide(evidence, req.risk, unknown="the database is unavailable (no receipt recorded)", notes=notes)
            receipt_id = None
        self.timings["receipt"] = 1e3 * (time.perf_counter() - t3)
        return self._answer(req, decision, citations, conflicts, receipt_id, now), decision, evidence, conflicts

    def _answer(self, req, decision, citations, conflicts, receipt_id, now) -> LookupOut:
        return LookupOut(
            decision=decision.decision,
            reasons=[ReasonOut(code=r.code, message=r.message, item=r.item) for r in decision.reasons],
            citations=citations, conflicts=conflicts,
            ask=self._ask(req.query, decision, citations, conflicts), receipt_id=receipt_id, evaluated_at=now)

    def _current(self, hits) -> dict[int, Any]:
        """The hits' sections as the database has them now, in one query; a hit whose section is gone
        (or whose id now names another section) is left out, so no lookup cites a removed section,
        even while this process's index lags behind another process's commit."""
        ids = list({h.section_id for h in hits})
        if not ids:
            return {}
        # Plain columns, not ORM rows: no embedding blob (1.5 KB a row) and no object construction per hit.
        rows = self.session.execute(_CURRENT_SECTIONS, {"ids": ids}).all()
        want = {h.section_id: (h.document_id, h.anchor) for h in hits}
        return {s.id: s for s in rows if want.get(s.id) == (s.document_id, s.anchor)}

    def _gather(self, req: LookupIn, vector, hits, top_k: int):
        hits = [h for h in hits if h.score >= self.settings.relevance_threshold]
        current = self._current(hits)
        above = [h for h in hits if h.section_id in current]
        relevant = above
        if relevant:
            floor = relevant[0].score - self.margin("relevance_margin")
            relevant = [h for h in relevant if h.score >= floor]
        best: dict[str, Any] = {}
        for h in relevant:
            best.setdefault(h.document_id, h)
        chosen: list[tuple[Document, Any, str | None]] = []  # (document, hit, substituted_for)
        notes: list[DecisionReason] = []  # successors that do not answer the question: named, not cited
        cited_ids: set[str] = set()
        top_docs = list(best)[:top_k]
        self._prefetch(top_docs + [h.document_id for h in above])
        for doc_id in top_docs:
            hit = best[doc_id]
            try:
                doc = self.registry.get(doc_id)
            except NotFound:
                continue  # removed since it was indexed
            substituted_for = None
            succ = self._active_successor(doc) if doc.status == "retired" and doc.successor else None
            if succ is not None:
                if succ.id in top_docs or succ.id in cited_ids:
                    continue  # its successor is cited on its own merit
                # One relevance rule: the successor is cited only when its own best section passes
                # the threshold for this question (re-scored, not inherited from the retired page).
                _, sh = self.engine.retrieve(req.query, 1, Scope.of(ids=[succ.id]), vector=vector)
                current.update(self._current(sh))
                sh = [h for h in sh if h.section_id in current]
                if not sh or sh[0].score < self.settings.relevance_threshold:
                    score = f"{sh[0].score:.3f}" if sh else "nothing"
                    notes.append(DecisionReason(
                        "superseded", f"{doc.title or doc_id} ({doc_id}) is retired; its successor "
                        f"{succ.title or succ.id} ({succ.id}) does not answer this question (best section scores "
                        f"{score}, below the relevance threshold {self.settings.relevance_threshold}), so neither "
                        "is cited", succ.id))
                    continue
                doc, hit, substituted_for = succ, sh[0], doc_id
            if doc.id in cited_ids:
                continue
            cited_ids.add(doc.id)
            chosen.append((doc, hit, substituted_for))
        conflicts = self._relevant_conflicts(chosen, cited_ids, above)
        fresh = self.registry.freshness([d for d, _, _ in chosen]) if chosen else {}
        per_doc: dict[str, int] = {}
        successor_notes, notes = notes, {}
        for c in conflicts:
            for doc_id in {c.get("a_document"), c.get("b_document"), c.get("document_id")} - {None}:
                per_doc[doc_id] = per_doc.get(doc_id, 0) + 1
                if c.get("summary"):
                    notes.setdefault(doc_id, []).append(c["summary"])
        # The agent would run one procedure: the best-matching SOP card (and any near tie).
        best_sop = max((h.score for d, h, _ in chosen if d.kind == "sop"), default=None)
        # ...and only when the card is (close to) what the question is about, not a tangent of it.
        lane_floor = max((h.score for _, h, _ in chosen), default=0.0) - self.margin("lane_reach")
        citations, evidence = [], []
        for doc, hit, substituted_for in chosen:
            lane_applies = doc.kind == "sop" and hit.score >= max(best_sop - self.margin("lane_margin"), lane_floor)
            fr = fresh[doc.id]
            sec = current.get(hit.section_id)
            detail = fr.reasons[0].message if fr.reasons else ""
            citations.append(CitationOut(
                document_id=doc.id, title=doc.title, kind=doc.kind, version=sec.version if sec else doc.version,
                anchor=hit.anchor, cite=f"{doc.id}#{hit.anchor}", snippet=snippet(sec.text) if sec else "",
                state=fr.state, owner=doc.owner_id, last_verified=doc.last_verified, next_review=fr.next_review,
                score=round(hit.score, 4), lane=doc.lane, criticality=doc.criticality,
                substituted_for=substituted_for))
            evidence.append(Evidence(doc.id, doc.title, kind=doc.kind, state=fr.state, criticality=doc.criticality,
                                     lane=doc.lane if lane_applies else None, detail=detail, substituted_for=substituted_for,
                                     open_conflicts=per_doc.get(doc.id, 0),
                                     conflict_notes=tuple(notes.get(doc.id, ()))))
        return citations, evidence, conflicts, successor_notes

    def _prefetch(self, doc_ids: list[str]) -> None:
        """Load these documents and their successor chains into the session in one query per hop, so the
        `registry.get` calls of this lookup are identity-map hits, not one SELECT each."""
        want = set(doc_ids)
        self._loaded = []
        for _ in range(MAX_SUCCESSOR_HOPS):
            if not want:
                return
            docs = self.session.exec(select(Document).where(Document.id.in_(sorted(want)))).all()
            self._loaded.extend(docs)  # held: the session's identity map keeps objects only while referenced
            have = {d.id for d in docs}
            want = {d.successor for d in docs if d.status == "retired" and d.successor} - have
            want = {i for i in want if self.session.identity_map.get(self.session.identity_key(Document, i)) is None}

    def margin(self, name: str) -> float:
        """A score gap setting (`relevance_margin`, `lane_margin`, `lane_reach`, `conflict_margin`) in the units
        of this lookup's scores: calibrated in cosine units, and a hybrid score spans cosine + the lexical and
        identifier weights, so the same gap is wider by that factor (else e.g. relevant conflicts are missed)."""
        lk = self.settings
        scale = 1.0 + (lk.lexical_weight + lk.identifier_weight if lk.retrieval == "hybrid" else 0.0)
        return getattr(lk, name) * scale

    def _relevant_conflicts(self, chosen: list, cited_ids: set[str], above: list) -> list[dict[str, Any]]:
        """Open conflicts touching a cited section, or between two sections relevant to the question.

        Relevant sources that disagree matter even when the citation margin left them out: a
        conflict whose two sections are both above the relevance threshold counts when one of
        them is within `conflict_margin` of the best section. The other side of a counted conflict is
        cited as well (beyond `top_k`), so the agent sees both passages and both owners.
        `chosen` and `cited_ids` are extended in place.
        """
        cited = [(d.id, h.anchor) for d, h, _ in chosen]
        hit_of = {(h.document_id, h.anchor): h for h in above}
        conflicts = self.open_conflicts(list(dict.fromkeys(cited + list(hit_of))))
        cited_keys = set(cited)
        floor = (above[0].score if above else 1.0) - self.margin("conflict_margin")
        kept = []
        for c in conflicts:
            sides = [(c[w]["document_id"], c[w]["anchor"]) for w in ("a", "b") if isinstance(c.get(w), dict)]
            both_relevant = len(sides) == 2 and all(k in hit_of for k in sides) and \
                max(hit_of[k].score for k in sides) >= floor
            if any(k in cited_keys for k in sides) or both_relevant:
                kept.append(c)
                for key in sides:
                    if key[0] in cited_ids or key not in hit_of:
                        continue
                    try:
                        doc = self.registry.get(key[0])
                    except NotFound:
                        continue
                    if doc.status == "retired":
                        continue  # a retired side resolves its conflicts; nothing to show
                    cited_ids.add(doc.id)
                    chosen.append((doc, hit_of[key], None))
        return kept

    def _active_successor(self, doc: Document) -> Document | None:
        cur, seen = doc, {doc.id}
        for _ in range(MAX_SUCCESSOR_HOPS):
            if cur.status != "retired":
                return cur
            if not cur.successor or cur.successor in seen:
                return None
            seen.add(cur.successor)
            try:
                cur = self.registry.get(cur.successor)
            except NotFound:
                return None
        return None

    def open_conflicts(self, cited: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Open conflicts touching the cited (document, anchor) sections; [] until conflict detection exists.

        Hook for the conflicts domain: its service (`rt.extras["conflicts"]`) may offer
        `open_conflicts_for(session, cited) -> list[dict]`, each dict naming the documents
        involved as `a_document`/`b_document` (or `document_id` for a self-contradiction).
        """
        fn = getattr(self.conflicts, "open_conflicts_for", None)
        if fn is None or not cited:
            return []
        try:
            return list(fn(self.session, cited))
        except SQLAlchemyError:
            raise
        except Exception:  # noqa: BLE001 - a broken detector must not break lookups
            log.exception("conflict hook failed; answering without conflicts")
            return []

    def _ask(self, query: str, decision, citations: list[CitationOut], conflicts=()) -> AskOut:
        by_id = {c.document_id: c for c in citations}
        target = next((by_id[r.item] for r in decision.reasons if r.item in by_id), None)
        target = target or (citations[0] if citations else None)
        newer = None
        if decision.reasons and decision.reasons[0].code == "conflict":
            # A dated disagreement: the older side's owner is the one to update it.
            dated = next((c for c in conflicts if c.get("older_document") in by_id), None)
            if dated:
                target, newer = by_id[dated["older_document"]], dated[dated["newer"]]["cite"]
        owner_id, contact, note = (target.owner if target else None), None, None
        if owner_id:
            try:
                owner = self.registry.owner(owner_id)
                contact = owner.contact or None
                if not owner.active:
                    note = f"the owner {owner_id} is deactivated"
                elif not contact:
                    note = f"the owner {owner_id} is unknown (no contact)"
            except NotFound:
                note = f"the owner {owner_id} is not registered"
            except SQLAlchemyError:
                note = "the owner could not be looked up"
        question = suggest(query, decision, target, newer)
        if note is not None:
            # Never point an agent at someone who cannot answer: the operators can.
            owner_id, contact = "operators", self.operators_contact()
            note += "; ask the operators instead"
        return AskOut(owner=owner_id, contact=contact, question=question, note=note)

    def operators_contact(self) -> str | None:
        """The operators' contact: `lookup.operators_contact`, else the operators' e-mail addresses."""
        s = self.engine.settings
        return s.lookup.operators_contact or (", ".join(s.notify.operator_emails) or None)

    # ---- reads ------------------------------------------------------------------
    def receipts_for(self, document_id: str, limit: int = 100, principal: str | None = None):
        """Receipts that relied on a document (NotFound if the document does not exist)."""
        self.registry.get(document_id)
        return receipts.receipts_for(self.session, document_id, limit, principal=principal)

    def receipt(self, receipt_id: str):
        """One receipt."""
        return receipts.get_receipt(self.session, receipt_id)

    def unanswered(self, limit: int = 100):
        """Unanswered topics, most asked first."""
        return receipts.unanswered(self.session, limit)
