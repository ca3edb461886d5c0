"""Derived state survives a crash (issue 10, item 7): a sync SIGKILLed at a random point, then
the next process, ends exactly where an uninterrupted sync ends — same documents, sections,
embeddings and open conflicts — with no owed work left and no change missing from the feed.

The syncs are real processes killed with SIGKILL. They are forked from the test process (the
same code path as `freshgate sync`: a warmed-up runtime and `run_sync`) so ten trials do not pay
ten interpreter start-ups; small chunks of files make every trial cross several commits.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import shutil
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from freshgate import db
from tests.conftest import make_settings, write_doc

TRIALS = 10
DOCS = 60
CHUNK = 10  # files per committed chunk in the trials (the real default is 200)
PAIRS = [(3, 47), (11, 50), (25, 26), (40, 58), (39, 59), (5, 30)]  # documents that disagree
TOPICS = [("Refund window", "Refunds for monthly plans are available within {} days of the charge date."),
          ("Parcel pickup", "Couriers collect parcels from the Venlo warehouse within {} hours of booking."),
          ("Password reset", "A password reset link expires {} minutes after it was sent."),
          ("Invoice disputes", "Customers may dispute an invoice up to {} weeks after it was issued."),
          ("Warranty claims", "Hardware warranty claims are accepted for {} months after delivery."),
          ("Trial extension", "Sales may extend a product trial by at most {} days per customer.")]
FRONT = "id: d{i:03d}\ntitle: Note {i}\nowner: dana\nreview_every: 90d\nlast_verified: -5d\nverified_by: dana"


def corpus(root: Path) -> None:
    """DOCS sources; each pair in PAIRS states one policy with different numbers (a conflict)."""
    rnd = random.Random(5)
    words = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "po", "ra", "su", "te") for b in "bcdfghjklm"]
    partner = {a: (b, k) for k, (a, b) in enumerate(PAIRS)} | {b: (a, k) for k, (a, b) in enumerate(PAIRS)}
    for i in range(DOCS):
        body = f"# Note {i}\n\n## Background {i}\n\n{' '.join(rnd.sample(words, 12))}\n\n"
        if i in partner:
            _, k = partner[i]
            days = 30 if i == PAIRS[k][0] else 14
            heading, sentence = TOPICS[k]
            body += f"## {heading}\n\n{sentence.format(days)}\n"
        write_doc(root, f"d{i:03d}.md", FRONT.format(i=i), body)


def _child(url: str, root: str, out: str) -> None:
    """One sync process: the CLI's path (warm-up, run_sync), reporting as JSON; never returns."""
    code = 1
    try:
        from freshgate.registry import sync as sync_module
        from freshgate.runtime import build_runtime, run_sync

        sync_module.BATCH = CHUNK
        s = make_settings(url)
        s.embedding.kind = "hashing"
        s.conflicts.judge = "rules"
        rt = build_runtime(s, migrate=False)
        rt.extras["lookup"].warm_up()
        report = run_sync(rt, [Path(root)], workers=0)
        Path(out).write_text(json.dumps(report.as_dict()))
        code = 0
    finally:
        os._exit(code)


def start_sync(url: str, root: Path, out: Path) -> multiprocessing.Process:
    p = multiprocessing.get_context("fork").Process(target=_child, args=(url, str(root), str(out)))
    p.start()
    return p


def run_sync_process(url: str, root: Path, out: Path) -> dict:
    p = start_sync(url, root, out)
    p.join(300)
    assert p.exitcode == 0, f"sync process exited with {p.exitcode}"
    return json.loads(out.read_text())


def state(url: str) -> dict:
    """Everything the comparison looks at, read from the database."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as c:
            q = lambda sql: c.execute(text(sql)).all()  # noqa: E731
            return {
                "documents": {r[0]: tuple(r[1:]) for r in q("SELECT id, version, content_hash, status FROM document")},
                "sections": {(r[0], r[1]): (r[2], r[3]) for r in
                             q("SELECT document_id, anchor, text_hash, embedding FROM section")},
                "conflicts": sorted((r[0], r[1], r[2], r[3]) for r in q(
                    "SELECT doc_a, anchor_a, doc_b, anchor_b FROM conflict WHERE status IN ('open', 'confirmed')")),
                "owed": q("SELECT document_id, kind FROM owed_work"),
                "feed": q("SELECT id, document_id, kind FROM change_log ORDER BY id"),
            }
    finally:
        engine.dispose()


def consistent(s: dict, ref: dict) -> None:
    """Every document is either fully there (all its sections, each embedded) or absent."""
    for doc_id in s["documents"]:
        mine = {k: v for k, v in s["sections"].items() if k[0] == doc_id}
        theirs = {k: v for k, v in ref["sections"].items() if k[0] == doc_id}
        assert mine == theirs, f"{doc_id}: sections or embeddings differ from the uninterrupted run"
    assert {k[0] for k in s["sections"]} <= set(s["documents"])
    registered = {d for _id, d, kind in s["feed"] if kind == "registered"}
    assert registered == set(s["documents"]), "a committed document without its change-feed entry (or the reverse)"


def fresh_database(database_url: str, tmp: Path, name: str, template: Path | None) -> str:
    """A migrated, empty database for one run (SQLite: a copy of a migrated file; PostgreSQL: a new schema)."""
    if database_url.startswith("sqlite"):
        path = tmp / f"{name}.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    import uuid

    import psycopg

    base = database_url.split("?", 1)[0]
    schema = "c_" + uuid.uuid4().hex[:10]
    with psycopg.connect(base.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{base}?options=-csearch_path%3D{schema}"
    engine = db.make_engine(url)
    db.migrate(engine)
    engine.dispose()
    return url


def kill_at(url: str, proc: multiprocessing.Process, rnd: random.Random, full: float) -> str:
    """SIGKILL the sync at a random point: once a random number of documents were committed, or a random
    delay after that (a third of the trials count the delay from the start, before anything is written)."""
    mode = rnd.choice(["committed", "delay after", "delay from start"])
    n = rnd.randint(1, DOCS) if mode != "delay from start" else 0
    delay = rnd.uniform(0, full * (0.5 if mode == "delay after" else 1.1)) if mode != "committed" else 0.0
    if n:
        engine = db.make_engine(url)
        try:
            while proc.is_alive():
                with engine.connect() as c:
                    if c.execute(text("SELECT count(*) FROM document")).scalar() >= n:
                        break
                time.sleep(0.005)
        finally:
            engine.dispose()
    proc.join(delay)
    where = f"{delay:.2f}s after {n} documents were committed"
    if proc.is_alive():
        os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    return where


@pytest.mark.timeout(600)
def test_a_sync_killed_at_random_points_ends_like_an_uninterrupted_one(database_url, tmp_path):
    root = tmp_path / "kb" / "sources"
    corpus(root)
    template = None
    if database_url.startswith("sqlite"):
        template = tmp_path / "template.db"
        engine = db.make_engine(f"sqlite:///{template}")
        db.migrate(engine)
        engine.dispose()
    ref_url = fresh_database(database_url, tmp_path, "reference", template)
    t0 = time.monotonic()
    run_sync_process(ref_url, root, tmp_path / "ref.json")
    full = time.monotonic() - t0
    ref = state(ref_url)
    assert len(ref["conflicts"]) == len(PAIRS) and not ref["owed"]

    rnd = random.Random(20261130)
    owed_after_kill = 0
    for trial in range(TRIALS):
        url = fresh_database(database_url, tmp_path, f"trial{trial}", template)
        where = kill_at(url, start_sync(url, root, tmp_path / f"killed{trial}.json"), rnd, full)
        killed = state(url)
        consistent(killed, ref)  # right after the kill: nothing half-registered
        checks_owed = {d for d, kind in killed["owed"] if kind in ("check", "search")}
        owed_after_kill += bool(killed["owed"])
        print(f"trial {trial}: killed {where}: {len(killed['documents'])} documents committed, "
              f"{len(killed['owed'])} owed rows left")

        report = run_sync_process(url, root, tmp_path / f"next{trial}.json")
        after = state(url)
        context = f"trial {trial}, killed {where}"
        assert not after["owed"], f"{context}: owed work left after the next process: {after['owed'][:5]}"
        assert after["documents"] == ref["documents"], context
        assert after["sections"] == ref["sections"], context
        assert after["conflicts"] == ref["conflicts"], context
        consistent(after, ref)
        if checks_owed:
            assert any("owed conflict check" in n for n in report["notes"]), (context, report["notes"])
    # The trials really interrupted derived work (not only before the first commit or after the last check).
    assert owed_after_kill >= 1
