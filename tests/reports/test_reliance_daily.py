"""Per-day reliance counts stay in step with decision receipts, and the review list reads them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from alembic import command
from alembic.config import Config
from sqlalchemy import insert
from sqlmodel import Session, select

from freshgate import db
from freshgate.lookup import receipts
from freshgate.lookup.models import LookupReceipt, ReceiptDocument
from freshgate.lookup.reliance import RelianceDaily, reliance
from freshgate.reports.service import review
from tests.conftest import NOW
from tests.reports.helpers import states_kb, sync_at

MIDNIGHT = datetime(2026, 11, 21, tzinfo=timezone.utc)


def _receipt(s, n: int, at: datetime, decision: str, docs: list[str]) -> None:
    receipts.record_receipt(s, receipt_id=f"{n:032d}", at=at, query="q", risk="low", scope=None, decision=decision,
                            reasons=[], citations=[{"document_id": d, "version": 1} for d in docs])


def _write_receipts(s) -> None:
    """Receipts on both sides of UTC midnight, one in another time zone, several docs each."""
    cet = timezone(timedelta(hours=1))
    _receipt(s, 1, MIDNIGHT - timedelta(minutes=1), "proceed", ["a", "b"])
    _receipt(s, 2, MIDNIGHT + timedelta(minutes=1), "stop_and_ask", ["a"])
    _receipt(s, 3, datetime(2026, 11, 21, 0, 30, tzinfo=cet), "caution", ["a", "b"])  # 23:30 UTC on the 20th
    _receipt(s, 4, MIDNIGHT + timedelta(hours=5), "stop_and_ask", ["b", "a", "a"])
    _receipt(s, 5, MIDNIGHT - timedelta(days=40), "proceed", ["a"])


def test_each_receipt_counts_once_per_cited_document_on_its_utc_day(runtime):
    with Session(runtime.engine) as s:
        _write_receipts(s)
        s.commit()
        rows = {(r.document_id, r.day.isoformat()): (r.lookups, r.stops) for r in s.exec(select(RelianceDaily))}
    assert rows == {("a", "2026-11-20"): (2, 0), ("b", "2026-11-20"): (2, 0), ("a", "2026-11-21"): (2, 2),
                    ("b", "2026-11-21"): (1, 1), ("a", "2026-10-12"): (1, 0)}


def test_daily_counts_agree_with_the_receipts_from_any_midnight(runtime):
    with Session(runtime.engine) as s:
        _write_receipts(s)
        s.commit()
        for since in (MIDNIGHT, MIDNIGHT - timedelta(days=1), MIDNIGHT - timedelta(days=30),
                      MIDNIGHT - timedelta(days=60)):
            assert reliance(s, since) == receipts.reliance(s, since), since
        # A time within a day counts that whole UTC day.
        assert reliance(s, MIDNIGHT + timedelta(hours=6)) == {"a": (2, 2), "b": (1, 1)}


def test_review_ranks_by_the_daily_counts(runtime, tmp_path):
    sync_at(runtime, states_kb(tmp_path / "kb"))
    with Session(runtime.engine) as s:
        for n in range(12):
            _receipt(s, 100 + n, NOW - timedelta(days=n), "stop_and_ask" if n < 4 else "caution", ["lunch-menu"])
        _receipt(s, 200, NOW - timedelta(days=31), "stop_and_ask", ["lunch-menu"])  # outside the 30 days
        s.commit()
        rep = review(s, runtime.registry_ctx.rules, runtime.extras, NOW)
    menu = next(i for i in rep.items if i.document_id == "lunch-menu")
    assert (menu.lookups, menu.stops, menu.risk) == (12, 4, 16.0)  # low 1 x (12 + 4) x due 1


def test_migration_backfills_receipts_written_before_it(runtime):
    """Receipts from before 0006 (links only, no daily rows) are counted when the migration runs."""
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    with runtime.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    with Session(runtime.engine) as s:
        for n, (at, decision) in enumerate([(MIDNIGHT - timedelta(minutes=1), "stop_and_ask"),
                                            (MIDNIGHT + timedelta(hours=1), "proceed"),
                                            (MIDNIGHT + timedelta(hours=2), "stop_and_ask")]):
            rid = f"{n:032d}"
            s.execute(insert(LookupReceipt).values(id=rid, at=at, query="q", risk="low", decision=decision,
                                                   reasons=[], citations=[]))
            s.execute(insert(ReceiptDocument).values(receipt_id=rid, document_id="doc", version=1))
        s.commit()
    db.migrate(runtime.engine)
    with Session(runtime.engine) as s:
        rows = {r.day.isoformat(): (r.lookups, r.stops) for r in s.exec(select(RelianceDaily))}
        assert rows == {"2026-11-20": (1, 1), "2026-11-21": (2, 1)}
        assert reliance(s, MIDNIGHT - timedelta(days=1)) == receipts.reliance(s, MIDNIGHT - timedelta(days=1))


def test_concurrent_lookups_citing_the_same_documents_all_count(runtime):
    """Receipts committed from parallel sessions, citing the same documents in opposite orders: no
    deadlock or lost update; every receipt is counted."""
    from concurrent.futures import ThreadPoolExecutor

    def worker(w: int) -> None:
        for n in range(10):
            with Session(runtime.engine) as s:
                docs = ["a", "b", "c"] if (w + n) % 2 else ["c", "b", "a"]
                _receipt(s, 1000 * w + n, MIDNIGHT + timedelta(hours=1), "stop_and_ask" if n < 3 else "proceed", docs)
                s.commit()

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(worker, range(6)))
    with Session(runtime.engine) as s:
        assert reliance(s, MIDNIGHT) == {d: (60, 18) for d in "abc"} == receipts.reliance(s, MIDNIGHT)
