"""The action check: which card's rule governs a tool call, is that card (and every source it relies
on) trustworthy now, and what the agent must do. No embedding on this path: a tool name is looked
up in the permission table, its rules are evaluated on the parameters, and the governing cards'
freshness and open conflicts decide whether the lane stands or turns into stop_and_ask.

Fail safe: when the registry cannot be read, the answer is `stop_and_ask` with `freshness_unknown`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from freshgate.actions import receipts, table
from freshgate.actions.cache import CachedRule, DocFacts, Gathered, PartialStore, RuleCache
from freshgate.actions.facts import Live, freshness_of, read_live
from freshgate.actions.decide import STOP, decide_action, freshness_reasons, lane_reasons, order
from freshgate.actions.models import ActionReceipt, ToolRuleRow, UncoveredAction
from freshgate.actions.rules import RuleOutcome, is_read_only, resolve
from freshgate.actions.schemas import (ActionCheckIn, ActionCheckOut, AskOut, DocumentRef, ReasonOut, RuleOut,
                                       ToolOut)
from freshgate.errors import NotFound
from freshgate.lookup.ask import suggest
from freshgate.lookup.decide import Decision, DecisionReason, Evidence
from freshgate.registry.models import Document
from freshgate.registry.service import RegistryService

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """Everything the answer and the receipt are built from."""

    covered: bool = False
    lane: str | None = None
    applicable: tuple[RuleOutcome, ...] = ()
    governing: tuple[RuleOutcome, ...] = ()
    rows: dict[tuple[str, int], CachedRule] = field(default_factory=dict)
    docs: dict[str, DocFacts] = field(default_factory=dict)
    fresh: dict[str, Any] = field(default_factory=dict)
    live: Live | None = None
    cards: list[DocumentRef] = field(default_factory=list)
    sources: list[DocumentRef] = field(default_factory=list)
    reasons: list[DecisionReason] = field(default_factory=list)
    decision: str = STOP


def _rule_text(tool: str, conditions: list[str] | tuple[str, ...]) -> str:
    return tool + (f" when {' and '.join(conditions)}" if conditions else "")


def _superseded(doc: DocFacts, docs: dict[str, DocFacts]) -> bool:
    """A retired card (or source) with an active successor no longer governs: its successor does."""
    if doc.status != "retired" or not doc.successor:
        return False
    nxt = docs.get(doc.successor)
    return nxt is not None and nxt.status == "active"


def _summary(params: dict[str, Any], limit: int = 6) -> str:
    flat: list[str] = []

    def walk(prefix: str, v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                walk(f"{prefix}.{k}" if prefix else str(k), x)
        else:
            flat.append(f"{prefix}={v}")

    walk("", params)
    return ", ".join(flat[:limit]) + (", …" if len(flat) > limit else "")


class ActionService:
    """Action checks, the permission table, uncovered tools and action receipts within one session."""

    def __init__(self, session: Session, registry: RegistryService, settings: Any, conflicts: Any = None,
                 clock: Callable[[], datetime] | None = None, cache: RuleCache | None = None,
                 writer: Any = None) -> None:
        self.session, self.registry, self.settings, self.conflicts = session, registry, settings, conflicts
        self.clock = clock or registry.ctx.clock
        self.cache = cache  # the permission table in memory (a serving process); None: read the database
        self.writer = writer  # the receipt queue (lookup/receipt_queue.py); None: every check writes its own
        self.pending_receipt: dict[str, Any] | None = None

    # ---- the check ------------------------------------------------------------------------
    def check(self, req: ActionCheckIn, principal: str | None = None) -> ActionCheckOut:
        """Decide proceed / caution / needs_approval / forbidden / stop_and_ask for a tool call; records a receipt
        (flushes; with a receipt queue, `send_receipt` queues it after the commit: see api.check_and_commit)."""
        now = self.clock()
        tool = req.tool.strip()
        risk = req.risk or self.settings.default_risk
        try:
            ev = self._evaluate(tool, req.parameters, risk, now)
        except SQLAlchemyError as exc:
            log.error("action check could not read the registry: %s", exc)
            self.session.rollback()
            ev = Evaluation(reasons=[DecisionReason("freshness_unknown", "freshness cannot be determined: the "
                                                    "database is unavailable")])
        receipt_id = None
        try:
            receipt_id = self._record(req, tool, risk, ev, now, principal)
        except SQLAlchemyError as exc:
            log.error("action receipt not recorded: %s", exc)
            self.session.rollback()
            ev.decision = STOP
            ev.reasons.insert(0, DecisionReason("freshness_unknown", "the database is unavailable (no receipt recorded)"))
        return self._answer(req, tool, ev, receipt_id, now)

    def _gather(self, tool: str) -> tuple[Gathered | None, str]:
        """The rules about a tool and the documents they rely on: from the permission table in memory
        when this process keeps one (None with the reason when it cannot be trusted now), else from the
        database."""
        if self.cache is not None:
            got = self.cache.gather(tool)
            return got, "" if got is not None else (self.cache.unready_reason() or "the permission table changed")
        return PartialStore(self.session).gather(tool), ""

    def _evaluate(self, tool: str, params: dict[str, Any], risk: str, now: datetime) -> Evaluation:
        ev = Evaluation()
        got, why = self._gather(tool)
        if got is None:
            ev.reasons = [DecisionReason("freshness_unknown", f"freshness cannot be determined: {why}")]
            return ev
        ev.docs = got.docs
        live = [r for r in got.rules if r.card_id in ev.docs and not _superseded(ev.docs[r.card_id], ev.docs)]
        ev.rows = {(r.card_id, r.position): r for r in live}
        res = resolve([r.rule for r in live], tool, params)
        ev.covered, ev.lane, ev.applicable, ev.governing = res.covered, res.lane, res.applicable, res.governing
        if not res.covered:
            read_only = is_read_only(tool, self.settings.read_only_verbs)
            ev.reasons = [DecisionReason("no_procedure", f"no SOP card governs {tool}" + (
                " (read-only by its name: caution)" if read_only and self.settings.unknown_read_only == "caution" else ""))]
            ev.decision = decide_action(covered=False, lane=None, reasons=ev.reasons,
                                        read_only_caution=read_only and self.settings.unknown_read_only == "caution")
            return ev
        if res.lane is None:
            cards = ", ".join(sorted({r.card_id for r in live}))
            ev.reasons = [DecisionReason("no_matching_rule", f"the cards governing {tool} ({cards}) have no rule for "
                                         f"these parameters ({_summary(params) or 'none'})", None)]
            ev.decision = STOP
            return ev
        card_ids = list(dict.fromkeys(o.rule.card_id for o in res.governing))
        reasons = self._freshness(card_ids, risk, ev, got, now)
        reasons += lane_reasons(res.lane, [(o.rule.card_id, ev.docs[o.rule.card_id].title,
                                            _rule_text(o.rule.pattern, o.rule.conditions)) for o in res.governing])
        for o in res.governing:
            for cond in o.unknown:
                reasons.append(DecisionReason(
                    "parameter_unknown", f"'{cond}' could not be checked (parameter missing, or in another unit or "
                    f"currency), so the rule of {o.rule.card_id} applies", o.rule.card_id))
        ev.reasons = order(reasons)
        ev.decision = decide_action(covered=True, lane=res.lane, reasons=ev.reasons)
        return ev

    def _freshness(self, card_ids: list[str], risk: str, ev: Evaluation, got: Gathered,
                   now: datetime) -> list[DecisionReason]:
        cards = [ev.docs[c] for c in card_ids]
        deps = {card.id: got.deps.get(card.id, ()) for card in cards}
        sources = {sid: ev.docs[sid] for lst in deps.values() for sid in lst if sid in ev.docs}
        owners = {d.owner_id for d in (*cards, *sources.values())} | {r.owner for r in ev.rows.values()}
        ev.live = read_live(self.session, [*card_ids, *sources], owners, self.conflicts is not None)
        ev.fresh = freshness_of([*card_ids, *sources], ev.docs, got.deps, ev.live, now, self.registry.ctx.rules)
        counts = ev.live.conflicts
        out: list[DecisionReason] = []
        for card in cards:
            fr = ev.fresh[card.id]
            ev.cards.append(DocumentRef(id=card.id, title=card.title, kind="sop", version=card.version, state=fr.state,
                                        owner=card.owner_id))
            evidence, missing, superseded = [], [], []
            for sid in deps[card.id]:
                src = sources.get(sid)
                if src is None:
                    missing.append(sid)
                    continue
                sfr = ev.fresh[sid]
                ev.sources.append(DocumentRef(id=sid, title=src.title, kind=src.kind, version=src.version,
                                              state=sfr.state, owner=src.owner_id, card=card.id))
                if src.status == "retired" and _superseded(src, ev.docs):
                    superseded.append((sid, src.successor))
                    continue
                evidence.append(Evidence(sid, src.title, kind=src.kind, state=sfr.state, criticality=src.criticality,
                                         detail=sfr.reasons[0].message if sfr.reasons else "",
                                         open_conflicts=counts.get(sid, 0)))
            card_ev = Evidence(card.id, card.title, kind="sop", state=fr.state, criticality=card.criticality,
                               detail=fr.reasons[0].message if fr.reasons else "", open_conflicts=counts.get(card.id, 0))
            out += freshness_reasons(card_ev, evidence, missing, superseded, risk)
        return out

    # ---- receipt and answer -----------------------------------------------------------------
    def _record(self, req: ActionCheckIn, tool: str, risk: str, ev: Evaluation, now: datetime,
                principal: str | None) -> str:
        docs = [{"document_id": d.id, "version": d.version, "state": d.state, "role": "card"} for d in ev.cards]
        docs += [{"document_id": d.id, "version": d.version, "state": d.state, "role": "source", "card": d.card}
                 for d in ev.sources]
        rules = [{"card_id": o.rule.card_id, "card_version": ev.rows[(o.rule.card_id, o.rule.position)].card_version,
                  "position": o.rule.position, "tool": o.rule.pattern, "conditions": list(o.rule.conditions),
                  "lane": o.rule.lane} for o in ev.governing if (o.rule.card_id, o.rule.position) in ev.rows]
        codes = [r.code for r in ev.reasons]
        uncovered = next((c for c in ("no_procedure", "no_matching_rule") if c in codes), None)
        row = receipts.row(
            receipt_id=receipts.new_receipt_id(), at=now, tool=tool,
            parameters=receipts.redact(req.parameters, self.settings.redact_keys), intent=req.intent, risk=risk,
            decision=ev.decision, lane=ev.lane,
            reasons=[{"code": r.code, "message": r.message, "item": r.item} for r in ev.reasons], rules=rules,
            documents=docs, principal=principal, uncovered_reason=uncovered)
        if self.writer is not None:
            self.pending_receipt = row  # queued by `send_receipt` once the check's transaction has committed
            return row["id"]
        return receipts.record(self.session, row)

    def send_receipt(self) -> bool:
        """After the check's transaction committed (so the receipt never says more than the answer): queue
        its receipt to be written off the response path, in a batch (read-your-writes in this process).
        When the queue refuses it (full, failing writer, closed) it is written here, in the session: True,
        and the caller commits again (a failure then turns the answer into stop_and_ask)."""
        row, self.pending_receipt = self.pending_receipt, None
        if row is None or self.writer.submit(row):
            return False
        receipts.record(self.session, row)
        return True

    def _answer(self, req: ActionCheckIn, tool: str, ev: Evaluation, receipt_id: str | None,
                now: datetime) -> ActionCheckOut:
        governing = {(o.rule.card_id, o.rule.position) for o in ev.governing}
        rules = []
        for o in ev.applicable:
            row = ev.rows.get((o.rule.card_id, o.rule.position))
            if row is None:
                continue
            rules.append(RuleOut(card=row.card_id, card_title=ev.docs[row.card_id].title, card_version=row.card_version,
                                 position=row.position, tool=row.pattern, conditions=list(row.conditions or []),
                                 lane=row.lane, owner=row.owner or ev.docs[row.card_id].owner_id, log=row.log_location,
                                 rollback=row.rollback, status=o.status, unknown=list(o.unknown),
                                 governing=(row.card_id, row.position) in governing))
        lead = [r for r in rules if r.governing]
        return ActionCheckOut(
            decision=ev.decision, tool=tool, lane=ev.lane,
            reasons=[ReasonOut(code=r.code, message=r.message, item=r.item) for r in ev.reasons],
            rules=rules, cards=ev.cards, sources=ev.sources, owner=lead[0].owner if lead else None,
            rollback=next((r.rollback for r in lead if r.rollback), None), log=next((r.log for r in lead if r.log), None),
            ask=self._ask(req, tool, ev, lead), receipt_id=receipt_id, evaluated_at=now)

    def _ask(self, req: ActionCheckIn, tool: str, ev: Evaluation, lead: list[RuleOut]) -> AskOut:
        if not ev.reasons or ev.decision == "proceed":
            return AskOut()
        call = req.intent or f"{tool}({_summary(req.parameters)})"
        first = ev.reasons[0]
        if first.code in ("no_procedure", "no_matching_rule", "freshness_unknown"):
            question = {"no_procedure": f"No SOP card governs {tool}. Who owns this tool, and may agents use it for “{call}”?",
                        "no_matching_rule": f"No rule for {tool} covers “{call}”. Which lane applies, and who approves it?",
                        }.get(first.code, f"Freshgate could not check “{call}”. Who can confirm it is safe?")
            owners = sorted({d.owner_id for d in ev.docs.values() if d.owner_id})
            return self._who(owners[0] if first.code == "no_matching_rule" and owners else None, question)
        doc = ev.docs.get(first.item or "")
        if first.code in ("forbidden_lane", "approval_required", "parameter_unknown") and lead:
            owner = lead[0].owner
        else:
            owner = doc.owner_id if doc is not None else (lead[0].owner if lead else None)
        target = None
        if doc is not None:
            fr = ev.fresh.get(doc.id)
            target = SimpleNamespace(title=doc.title, document_id=doc.id, cite=doc.id, last_verified=doc.last_verified,
                                     next_review=fr.next_review if fr else None, substituted_for=None)
        return self._who(owner, suggest(call, Decision(ev.decision, tuple(ev.reasons)), target), ev.live)

    def _who(self, owner: str | None, question: str | None, live: Live | None = None) -> AskOut:
        contact = None
        if owner and live is not None and owner in live.owners:
            contact = live.contact(owner)
        elif owner:
            try:
                contact = self.registry.owner(owner).contact or None
            except (NotFound, SQLAlchemyError):
                contact = None
        return AskOut(owner=owner, contact=contact, question=question)

    # ---- reads ----------------------------------------------------------------------------------
    def tools(self, tool: str | None = None) -> list[ToolOut]:
        """The permission table (or the rules covering one tool), with each card's state."""
        rows = table.all_rows(self.session)
        if tool:
            rows = [r for r in rows if table.as_rule(r).covers(tool)]
        ids = list({r.card_id for r in rows})
        docs = {d.id: d for d in self.session.exec(select(Document).where(Document.id.in_(ids))).all()} if ids else {}
        fresh = self.registry.freshness(list(docs.values())) if docs else {}
        out = []
        for r in rows:
            d = docs.get(r.card_id)
            if d is None:
                continue
            out.append(ToolOut(tool=r.pattern, conditions=list(r.conditions or []), lane=r.lane,
                               lane_from_card=r.lane_from_card, card=d.id, card_title=d.title,
                               card_version=r.card_version, card_state=fresh[d.id].state, card_status=d.status,
                               owner=r.owner or d.owner_id, log=r.log_location, rollback=r.rollback))
        return out

    def uncovered(self, limit: int = 100) -> list[UncoveredAction]:
        """Tools agents tried that no card governs, most tried first."""
        return receipts.uncovered(self.session, limit)

    def receipts_for(self, document_id: str, limit: int = 100) -> list[ActionReceipt]:
        """Action checks that relied on a card or source (NotFound when the document does not exist)."""
        self.registry.get(document_id)
        return receipts.receipts_for(self.session, document_id, limit)

    def receipt(self, receipt_id: str) -> ActionReceipt:
        """One action receipt."""
        return receipts.get(self.session, receipt_id)

    def missing_rollback(self) -> list[ToolRuleRow]:
        """Rules in the approval or forbidden lane of active cards that name no rollback rule."""
        # Two steps, not a join: the planner (SQLite without statistics) scans every document to probe the
        # few rules; the rules come first, then the status of their cards only.
        q = (select(ToolRuleRow).where(ToolRuleRow.lane.in_(("approval", "forbidden")), ToolRuleRow.rollback.is_(None))
             .order_by(ToolRuleRow.card_id, ToolRuleRow.position))
        rows = list(self.session.exec(q).all())
        cards = sorted({r.card_id for r in rows})
        active: set[str] = set()
        for k in range(0, len(cards), 900):
            active.update(self.session.exec(select(Document.id).where(Document.id.in_(cards[k:k + 900]),
                                                                      Document.status == "active")).all())
        return [r for r in rows if r.card_id in active]

