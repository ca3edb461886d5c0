"""Detection runs: the incremental check of changed documents and the full scan.

Both first reconcile the open/confirmed conflicts involved (a retired or vanished side
resolves it; changed text is judged again: still disagreeing -> the conflict follows the new
text, agreeing -> resolved), then judge the candidate pairs nobody has seen yet. A pair
whose two texts were dismissed is never judged or reported again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
from sqlmodel import select

from freshgate.conflicts.detect import SectionRow, candidate_pairs, load_sections, scan_pairs
from freshgate.conflicts.models import ACTIVE_STATUSES, DISMISSED, OPEN, ConflictRecord, pair_key
from freshgate.conflicts.service import ConflictService
from freshgate.embeddings.embedder import from_blob
from freshgate.registry.models import Document, Section

log = logging.getLogger(__name__)
JUDGE_BATCH = 64


@dataclass
class CheckReport:
    """What one check or scan did."""

    sections: int = 0
    candidates: int = 0
    judged: int = 0
    known: int = 0
    suppressed: int = 0
    detected: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-able summary."""
        return {"sections": self.sections, "candidates": self.candidates, "judged": self.judged,
                "already_known": self.known, "suppressed_by_dismissal": self.suppressed,
                "detected": self.detected, "updated": self.updated, "resolved": self.resolved}


def _passage(row: SectionRow):
    from freshgate.conflicts.judge import Passage

    return Passage(row.text, row.title, row.document_id, row.anchor)


def _judge(svc: ConflictService, pairs: list[tuple[SectionRow, SectionRow]]) -> list:
    judge = svc.ctx.judge()
    out = []
    for i in range(0, len(pairs), JUDGE_BATCH):
        chunk = pairs[i:i + JUDGE_BATCH]
        ea = np.stack([a.vector for a, _ in chunk])
        eb = np.stack([b.vector for _, b in chunk])
        out += judge.judge_many([(_passage(a), _passage(b)) for a, b in chunk], ea, eb)
    return out


def _add_self_pairs(svc: ConflictService, pairs: dict[tuple[int, int], float], rows: list[SectionRow]) -> None:
    """Each section against itself, when the judge reads sentences: a section may contradict itself."""
    if getattr(svc.ctx.judge(), "judges_self", False):
        for r in rows:
            pairs.setdefault((r.id, r.id), 1.0)


def _known(svc: ConflictService, keys: Iterable[str]) -> dict[str, list[ConflictRecord]]:
    keys = list(dict.fromkeys(keys))
    out: dict[str, list[ConflictRecord]] = {}
    for i in range(0, len(keys), 500):
        q = select(ConflictRecord).where(ConflictRecord.pair_key.in_(keys[i:i + 500]))
        for c in svc.session.exec(q).all():
            out.setdefault(c.pair_key, []).append(c)
    return out


def _set_side(c: ConflictRecord, which: str, row: SectionRow) -> None:
    for attr, value in (("doc", row.document_id), ("anchor", row.anchor), ("heading", row.heading),
                        ("version", row.version), ("hash", row.text_hash), ("text", row.text)):
        setattr(c, f"{attr}_{which}", value)


def _apply_verdict(c: ConflictRecord, v, sim: float) -> None:
    c.similarity, c.score, c.judge = float(sim), float(v.score), v.judge or "judge"
    c.evidence = [{"subject": e.subject, "a": e.a, "b": e.b, "kind": e.kind} for e in v.evidence]
    c.explanation = v.explanation or ""


def judge_and_record(svc: ConflictService, pairs: dict[tuple[int, int], float], rows: dict[int, SectionRow],
                     report: CheckReport) -> None:
    """Judge the candidate pairs not seen before and store the conflicts found."""
    todo: list[tuple[SectionRow, SectionRow, float, str]] = []
    for (i, j), sim in pairs.items():
        a, b = rows.get(i), rows.get(j)
        if a is None or b is None:
            continue
        if (b.document_id, b.anchor) < (a.document_id, a.anchor):
            a, b = b, a
        todo.append((a, b, sim, pair_key(a.text_hash, b.text_hash)))
    report.candidates += len(todo)
    known = _known(svc, [t[3] for t in todo])
    fresh, seen = [], set()
    for a, b, sim, key in todo:
        recs = known.get(key, [])
        if any(c.status == DISMISSED for c in recs):
            report.suppressed += 1
        elif any(c.status in ACTIVE_STATUSES for c in recs) or key in seen or key in svc.ctx.cleared:
            report.known += 1
        else:
            seen.add(key)  # identical texts in two places: judged once
            fresh.append((a, b, sim, key))
    if not fresh:
        return
    verdicts = _judge(svc, [(a, b) for a, b, _, _ in fresh])
    report.judged += len(fresh)
    now = svc.now()
    for (a, b, sim, key), v in zip(fresh, verdicts):
        if v.conflict is False:
            svc.ctx.remember_cleared(key)
        if v.conflict is not True:
            continue
        c = ConflictRecord(pair_key=key, status=OPEN, similarity=0.0, score=0.0, judge="", detected_at=now,
                           updated_at=now, doc_a="", version_a=0, anchor_a="", hash_a="", text_a="",
                           doc_b="", version_b=0, anchor_b="", hash_b="", text_b="")
        _set_side(c, "a", a)
        _set_side(c, "b", b)
        _apply_verdict(c, v, sim)
        svc.session.add(c)
        svc.audit(c, "conflict-check", "conflict_detected", None, c.explanation)
        report.detected.append(c.id)
        log.info("conflict %s: %s#%s vs %s#%s: %s", c.id, a.document_id, a.anchor, b.document_id, b.anchor,
                 c.explanation)


def _current(svc: ConflictService, doc_id: str, anchor: str) -> SectionRow | None:
    q = (select(Section, Document.title).join(Document, Document.id == Section.document_id)
         .where(Section.document_id == doc_id, Section.anchor == anchor))
    found = svc.session.exec(q).first()
    if found is None:
        return None
    s, title = found
    vec = from_blob(s.embedding) if s.embedding is not None else None
    return SectionRow(s.id, s.document_id, s.anchor, s.heading, s.version, s.text, s.text_hash, title, vec)


def reconcile(svc: ConflictService, records: Iterable[ConflictRecord], report: CheckReport) -> None:
    """Re-examine open/confirmed conflicts whose documents changed: resolve, follow the new text, or keep."""
    for c in records:
        if c.status not in ACTIVE_STATUSES:
            continue
        gone = None
        for doc_id in dict.fromkeys((c.doc_a, c.doc_b)):
            doc = svc.session.get(Document, doc_id)
            if doc is None or doc.status != "active":
                gone = f"{doc_id} was retired" + (f" (successor: {doc.successor})" if doc and doc.successor else "")
                break
        a = b = None
        if gone is None:
            a, b = _current(svc, c.doc_a, c.anchor_a), _current(svc, c.doc_b, c.anchor_b)
            missing = [f"{d}#{x}" for d, x, r in ((c.doc_a, c.anchor_a, a), (c.doc_b, c.anchor_b, b)) if r is None]
            gone = f"{' and '.join(missing)} no longer exists" if missing else None
        if gone is not None:
            svc.resolve(c, gone)
            report.resolved.append(c.id)
            continue
        if (a.text_hash, b.text_hash) == (c.hash_a, c.hash_b):
            continue
        if a.vector is None or b.vector is None:
            continue  # not embedded yet: judged again once it is (next check or scan)
        v = _judge(svc, [(a, b)])[0]
        changed = " and ".join(f"{r.document_id} v{r.version}" for r, h in ((a, c.hash_a), (b, c.hash_b))
                               if r.text_hash != h)
        if v.conflict is not True:
            svc.resolve(c, f"{changed} updated: the passages no longer disagree")
            report.resolved.append(c.id)
            continue
        key = pair_key(a.text_hash, b.text_hash)
        clash = [o for o in _known(svc, [key]).get(key, []) if o.id != c.id]
        if any(o.status == DISMISSED for o in clash):
            svc.resolve(c, f"{changed} updated to text whose conflict was dismissed before")
            report.resolved.append(c.id)
        elif any(o.status in ACTIVE_STATUSES for o in clash):
            svc.resolve(c, f"{changed} updated: same conflict as #{clash[0].id}")
            report.resolved.append(c.id)
        else:
            _set_side(c, "a", a)
            _set_side(c, "b", b)
            _apply_verdict(c, v, float(a.vector @ b.vector))
            c.pair_key, c.updated_at = key, svc.now()
            svc.session.add(c)
            svc.audit(c, "conflict-check", "conflict_updated", c.status, f"{changed} updated, still disagreeing: "
                      f"{c.explanation}")
            report.updated.append(c.id)


def _active_touching(svc: ConflictService, doc_ids: list[str]) -> list[ConflictRecord]:
    from sqlalchemy import or_

    q = select(ConflictRecord).where(ConflictRecord.status.in_(ACTIVE_STATUSES),
                                     or_(ConflictRecord.doc_a.in_(doc_ids), ConflictRecord.doc_b.in_(doc_ids)))
    return list(svc.session.exec(q.order_by(ConflictRecord.id)).all())


def check_documents(svc: ConflictService, doc_ids: Iterable[str], search_ids: Iterable[str] | None = None) -> CheckReport:
    """Incremental check after documents changed; `search_ids` (default all) get a candidate search."""
    report = CheckReport()
    doc_ids = list(dict.fromkeys(doc_ids))
    if not doc_ids:
        return report
    reconcile(svc, _active_touching(svc, doc_ids), report)
    sources = load_sections(svc.session, doc_ids=doc_ids if search_ids is None else search_ids)
    report.sections = len(sources)
    if sources:
        s = svc.ctx.settings
        pairs = candidate_pairs(svc.ctx.index(), sources, threshold=s.candidate_similarity,
                                per_section=s.candidates_per_section)
        rows = {r.id: r for r in sources}
        _add_self_pairs(svc, pairs, sources)
        need = {i for p in pairs for i in p} - set(rows)
        rows.update({r.id: r for r in load_sections(svc.session, section_ids=need)})
        judge_and_record(svc, pairs, rows, report)
    svc.session.flush()
    return report


def full_scan(svc: ConflictService) -> CheckReport:
    """Every active section against its nearest neighbours in the index, plus reconciling all open conflicts."""
    report = CheckReport()
    active = svc.session.exec(select(ConflictRecord).where(ConflictRecord.status.in_(ACTIVE_STATUSES))).all()
    reconcile(svc, list(active), report)
    index = svc.ctx.index()
    if index is None:
        raise RuntimeError("the vector index is not built; a full scan needs it")
    sections = load_sections(svc.session)
    report.sections = len(sections)
    s = svc.ctx.settings
    pairs = scan_pairs(index, sections, threshold=s.candidate_similarity, per_section=s.candidates_per_section)
    _add_self_pairs(svc, pairs, sections)
    judge_and_record(svc, pairs, {r.id: r for r in sections}, report)
    svc.session.flush()
    return report
