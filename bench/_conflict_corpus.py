"""Shared by the conflict benchmarks: a SQLite registry of generated documents with clustered vectors."""

from __future__ import annotations

import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from index_recall import clustered  # noqa: E402

from freshgate.app import build_runtime  # noqa: E402
from freshgate.config import Settings  # noqa: E402
from freshgate.embeddings.embedder import to_blob  # noqa: E402
from freshgate.embeddings.index import DocMeta, VectorIndex  # noqa: E402
from freshgate.registry.models import Document, Owner, Section  # noqa: E402

PER_DOC = 10
TOPICS = ["refund window", "discount limit", "retention period", "delivery time", "approval threshold"]


def section_text(j: int) -> str:
    """A policy-like passage with comparable values (so claim extraction has real work)."""
    t = TOPICS[j % len(TOPICS)]
    return (f"## {t.title()} for plan {j % 97}\n\nThe {t} for plan {j % 97} is {j % 40 + 1} days from the charge "
            f"date. Support agents may approve up to {j % 30 + 5}% on their own; anything above needs a team lead. "
            f"Requests over €{(j % 9 + 1) * 500} go to Finance.")


def build(path: Path, n: int, seed: int = 7, topics: int | None = None, spread: float = 0.75):
    """A migrated runtime on a new SQLite file holding n generated sections (10 per document); (rt, vectors)."""
    s = Settings(database_url=f"sqlite:///{path}")
    s.server.scheduler = False
    s.conflicts.check_on_change = False
    rt = build_runtime(s)
    vecs, _ = clustered(np.random.default_rng(seed), n, topics=topics or max(50, n // 10), spread=spread)
    now = datetime.now(timezone.utc)
    docs, secs = [], []
    for d in range((n + PER_DOC - 1) // PER_DOC):
        did = f"gen-{d:06d}"
        docs.append(dict(id=did, kind="source", title=f"Generated document {d}", owner_id="owner", criticality="medium",
                         review_every_days=90, last_verified=now, tags=[], status="active", tools=[], version=1,
                         content_hash=uuid.uuid4().hex, fetch_failures=0, created_at=now, updated_at=now, revision=1))
        for j in range(d * PER_DOC, min(n, (d + 1) * PER_DOC)):
            text = section_text(j)
            secs.append(dict(document_id=did, version=1, anchor=f"part-{j}", heading=f"Part {j}", level=2,
                             position=j - d * PER_DOC, text=text, text_hash=uuid.uuid4().hex, embedding=to_blob(vecs[j])))
    with rt.engine.begin() as c:
        c.execute(insert(Owner), [dict(id="owner", name="Owner", contact="o@example.com", active=True, created_at=now)])
        for i in range(0, len(docs), 5000):
            c.execute(insert(Document), docs[i:i + 5000])
        for i in range(0, len(secs), 5000):
            c.execute(insert(Section), secs[i:i + 5000])
    return rt, vecs


def build_index(rt, vecs: np.ndarray) -> VectorIndex:
    """The lookup's VectorIndex over the generated sections (section ids are 1..n in insert order)."""
    s = rt.settings.lookup
    idx = VectorIndex(vecs.shape[1], approximate_above=s.approximate_above, backend=s.ann_backend, ef_search=s.ef_search)
    idx.bulk_replace((DocMeta(f"gen-{d:06d}"), [(j + 1, f"part-{j}", vecs[j]) for j in
                                                range(d * PER_DOC, min(len(vecs), (d + 1) * PER_DOC))])
                     for d in range((len(vecs) + PER_DOC - 1) // PER_DOC))
    idx.ready = True
    return idx


def use_index(rt, idx: VectorIndex) -> None:
    """Make the conflict hub search this index (the lookup engine is not warmed up in benchmarks)."""
    rt.extras["lookup"].index = idx
