"""Incremental conflict check of one changed document (10 sections) against 100k indexed sections.

A SQLite registry of generated documents (10 sections each, clustered synthetic vectors,
policy-like texts with values), the lookup's VectorIndex over them (HNSW above 20k), the
default (learned) judge. Each run gives one document 10 new sections (new texts, vectors
near existing clusters, stored as its embeddings, so the model's embedding time is not
counted) and times `checks.check_documents`: candidate search, judging the candidates,
storing verdicts. Target: <= 100 ms beyond the document's own embedding.

    .venv/bin/python bench/conflict_incremental.py [N=100000] [RUNS=20]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlmodel import Session, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _conflict_corpus import PER_DOC, ROOT, build, build_index, section_text, use_index  # noqa: E402

from freshgate.conflicts import checks, detect  # noqa: E402
from freshgate.embeddings.embedder import to_blob  # noqa: E402
from freshgate.markdown.parse import content_hash  # noqa: E402
from freshgate.registry.models import Section  # noqa: E402


def main(n: int = 100_000, runs: int = 20) -> dict:
    tmp = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    rt, vecs = build(tmp / "bench.db", n)
    t_db = time.perf_counter() - t0
    t0 = time.perf_counter()
    idx = build_index(rt, vecs)
    t_index = time.perf_counter() - t0
    use_index(rt, idx)
    hub = rt.extras["conflicts"]
    hub.ctx.judge().judge_many([])  # nothing to load lazily inside the timed part
    rng = np.random.default_rng(11)
    rows, timings = [], {"search": [], "total": []}
    for r in range(runs):
        doc = f"gen-{rng.integers(0, n // PER_DOC):06d}"
        with Session(rt.engine) as session:
            secs = session.exec(select(Section).where(Section.document_id == doc)).all()
            for k, s in enumerate(secs):
                near = vecs[rng.integers(0, n)] + 0.3 * rng.standard_normal(vecs.shape[1]).astype(np.float32) / 20
                s.text = section_text(int(rng.integers(0, 10**6))) + f" Revision {r}-{k}."
                s.text_hash = content_hash(s.text)
                s.embedding = to_blob(near / np.linalg.norm(near))
                session.add(s)
            session.commit()
        with Session(rt.engine, expire_on_commit=False) as session:
            svc = hub.service(session)
            t = time.perf_counter()
            sources = detect.load_sections(session, doc_ids=[doc])
            detect.candidate_pairs(idx, sources, threshold=rt.settings.conflicts.candidate_similarity,
                                   per_section=rt.settings.conflicts.candidates_per_section)
            timings["search"].append(time.perf_counter() - t)
            t = time.perf_counter()
            rep = checks.check_documents(svc, [doc])
            session.commit()
            timings["total"].append(time.perf_counter() - t)
        rows.append(rep.as_dict())
    pct = lambda xs, q: round(1000 * float(np.percentile(xs, q)), 1)  # noqa: E731
    judged = [x["judged"] for x in rows]
    out = {"sections_indexed": n, "changed_sections": PER_DOC, "runs": runs, "approximate": idx.approximate,
           "db_build_s": round(t_db, 1), "index_build_s": round(t_index, 1),
           "candidate_search_ms_p50": pct(timings["search"], 50), "check_ms_p50": pct(timings["total"], 50),
           "check_ms_p95": pct(timings["total"], 95), "pairs_judged_mean": round(float(np.mean(judged)), 1),
           "judge_ms_per_pair": round(1000 * (np.median(timings["total"]) - np.median(timings["search"])) /
                                      max(1.0, float(np.median(judged))), 2),
           "target_ms": 100, "judge": rt.settings.conflicts.judge, "loadavg": [round(x, 2) for x in os.getloadavg()]}
    rt.close()
    print("| sections | changed | candidate search p50 | check p50 | check p95 | pairs judged | judge ms/pair | target |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {n:,} | {PER_DOC} | {out['candidate_search_ms_p50']} ms | {out['check_ms_p50']} ms | {out['check_ms_p95']} ms"
          f" | {out['pairs_judged_mean']} | {out['judge_ms_per_pair']} | ≤ 100 ms |")
    print(f"load average {out['loadavg']}")
    res = ROOT / "bench" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "conflict_incremental.json").write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
