"""Evaluate section retrieval on a JSONL file (retrieval-dev.jsonl format): which section answers the question?

Per record: a fresh registry (a copy of one migrated SQLite file) holding the record's documents,
each written as Markdown with one `## <heading>` per section (so anchors match the labels), then
the question ranked against every section by each method, through the lookup engine's own
`retrieve` (what a lookup cites from): over every document of the record ("all") and scoped to
the question's own document ("own", `scope.ids`, as a lookup with a scope). Reported per method
and pool: recall@1, recall@5 and MRR against `relevant`, and milliseconds per question.
One embedder is shared by all records and remembers vectors (policies repeat across records).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from freshgate import db
from freshgate.config import Settings
from freshgate.embeddings.index import Scope
from freshgate.markdown.parse import parse_bytes

METHODS = ("bm25", "vector", "hybrid")
POOLS = ("all", "own")


class MemoEmbedder:
    """An embedder that encodes each distinct text once."""

    def __init__(self, inner) -> None:
        self.inner, self.dim = inner, inner.dim
        self.name = getattr(inner, "name", "memo")
        self.memo: dict[str, np.ndarray] = {}

    def encode(self, texts):
        missing = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if missing:
            self.memo.update(zip(missing, self.inner.encode(missing)))
        return np.stack([self.memo[t] for t in texts]) if len(texts) else np.zeros((0, self.dim), np.float32)

    def load(self) -> None:
        """Load the wrapped model now."""
        load = getattr(self.inner, "load", None)
        if load is not None:
            load()


def markdown(doc: dict, now) -> bytes:
    """A record's document as Markdown: front matter (fresh, one owner) and one `##` heading per section."""
    front = (f"id: {doc['id']}\ntitle: {json.dumps(doc.get('title') or doc['id'])}\nowner: eval-owner\n"
             f"criticality: medium\nreview_every: 90d\nlast_verified: {now.date().isoformat()}\n"
             "verified_by: eval-owner\nstatus: active\n")
    body = "\n\n".join(f"## {s['heading']}\n\n{s['text'].strip()}" for s in doc["sections"])
    return f"---\n{front}---\n{body}\n".encode("utf-8")


def rank_of(hits, relevant: set[tuple[str, str]]) -> int | None:
    """1-based rank of the first relevant hit (None: not retrieved)."""
    return next((i for i, h in enumerate(hits, 1) if (h.document_id, h.anchor) in relevant), None)


@dataclass
class RetrievalReport:
    """Per question and method: the rank of the first relevant section in each pool, and the time."""

    rows: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        """method -> pool -> recall@1, recall@5, MRR; plus ms per question (p50, mean)."""
        out: dict = {"questions": len(self.rows), "methods": {}}
        for m in METHODS:
            if not self.rows or m not in self.rows[0]["ranks"]:
                continue
            res: dict = {}
            for pool in POOLS:
                ranks = [r["ranks"][m][pool] for r in self.rows]
                n = len(ranks)
                res[pool] = {"recall@1": sum(1 for x in ranks if x and x <= 1) / n,
                             "recall@5": sum(1 for x in ranks if x and x <= 5) / n,
                             "mrr": sum(1.0 / x for x in ranks if x) / n}
            ms = [r["ms"][m] for r in self.rows]
            res["ms_per_question"] = {"p50": float(np.percentile(ms, 50)), "mean": float(np.mean(ms)),
                                      "p99": float(np.percentile(ms, 99))}
            out["methods"][m] = res
        return out


def run(path: Path, embedder, settings: Settings | None = None, methods=METHODS,
        progress: Callable[[int, int], None] | None = None, limit: int | None = None) -> RetrievalReport:
    """Rank every record's sections for its question by each method; returns the report."""
    from freshgate.app import build_runtime
    from freshgate.registry.service import RegistryService

    records = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()][:limit]
    memo = embedder if isinstance(embedder, MemoEmbedder) else MemoEmbedder(embedder)
    report = RetrievalReport()
    with tempfile.TemporaryDirectory(prefix="freshgate-eval-retrieval-") as tmp:
        template = Path(tmp) / "template.db"
        engine = db.make_engine(f"sqlite:///{template}")
        db.migrate(engine)
        engine.dispose()
        for n, rec in enumerate(records, 1):
            dbfile = Path(tmp) / f"record{n}.db"
            shutil.copyfile(template, dbfile)
            s = (settings or Settings()).model_copy(deep=True)
            s.database_url, s.server.scheduler = f"sqlite:///{dbfile}", False
            rt = build_runtime(s, migrate=False)
            try:
                lk = rt.extras["lookup"]
                lk.use_embedder(memo)
                lk.activate()
                with db.session_scope(rt.engine) as session:
                    svc = RegistryService(session, rt.registry_ctx)
                    now = rt.registry_ctx.clock()
                    for doc in rec["documents"]:
                        svc.register(parse_bytes(markdown(doc, now), path=doc["id"], now=now, default_kind="source"),
                                     actor="eval")
                lk.wait_ready()
                relevant = {(r["document"], r["anchor"]) for r in rec["relevant"]}
                own = Scope.of(ids=[r["document"] for r in rec["relevant"]][:1])
                k = sum(len(d["sections"]) for d in rec["documents"]) + 1
                row = {"id": rec["id"], "ranks": {}, "ms": {}}
                for m in methods:
                    t0 = time.perf_counter()
                    _, hits_all = lk.retrieve(rec["question"], k, None, method=m)
                    row["ms"][m] = 1e3 * (time.perf_counter() - t0)
                    _, hits_own = lk.retrieve(rec["question"], k, own, method=m)
                    row["ranks"][m] = {"all": rank_of(hits_all, relevant), "own": rank_of(hits_own, relevant)}
            finally:
                rt.close()
                dbfile.unlink(missing_ok=True)
            report.rows.append(row)
            if progress:
                progress(n, len(records))
    return report
