"""Unanswered topics are grouped against a per-process matrix of topic vectors that follows the table
by id: another process's new topic is matched, and a topic rolled back is never counted into."""

from __future__ import annotations

import numpy as np
from sqlmodel import Session, select

from freshgate.app import build_runtime
from freshgate.lookup import receipts
from freshgate.lookup.models import UnansweredTopic
from tests.conftest import NOW, make_settings


def unit(seed: int, dim: int = 384) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def near(v: np.ndarray, seed: int) -> np.ndarray:
    w = v + 0.05 * unit(seed, len(v))
    return (w / np.linalg.norm(w)).astype(np.float32)


def counts(rt) -> dict[str, int]:
    with Session(rt.engine) as s:
        return {t.query: t.count for t in s.exec(select(UnansweredTopic))}


def test_topics_from_another_process_are_matched_and_rolled_back_ones_are_not(database_url):
    a, b = build_runtime(make_settings(database_url)), build_runtime(make_settings(database_url))
    try:
        with Session(a.engine) as s:  # many topics: the matrix, not a Python loop, finds the best
            for i in range(300):
                receipts.record_unanswered(s, f"topic {i}", unit(i), NOW, 0.8)
            s.commit()
        with Session(b.engine) as s:  # B has never seen them: its first use reads them all
            assert receipts.record_unanswered(s, "like 7", near(unit(7), 1), NOW, 0.8) > 0
            s.commit()
        with Session(a.engine) as s:  # A holds its matrix: it reads B's new topic by id
            receipts.record_unanswered(s, "brand new", unit(10_000), NOW, 0.8)
            s.commit()
        with Session(b.engine) as s:
            receipts.record_unanswered(s, "like brand new", near(unit(10_000), 2), NOW, 0.8)
            s.commit()
        c = counts(a)
        assert c["topic 7"] == 2 and c["brand new"] == 2 and c["topic 8"] == 1 and len(c) == 301

        # A topic flushed in a session that rolls back: this process saw it, the database never had it.
        with Session(a.engine) as s:
            first = receipts.record_unanswered(s, "phantom", unit(20_000), NOW, 0.8)
            # The same session asks again: the matrix reads the uncommitted topic and counts into it.
            assert receipts.record_unanswered(s, "phantom again", near(unit(20_000), 4), NOW, 0.8) == first
            s.rollback()
        with Session(a.engine) as s:
            receipts.record_unanswered(s, "like phantom", near(unit(20_000), 3), NOW, 0.8)
            s.commit()
        c = counts(a)
        assert "phantom" not in c and c["like phantom"] == 1
    finally:
        a.close()
        b.close()
