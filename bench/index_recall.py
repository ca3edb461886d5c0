"""Recall@10 and latency of the approximate indexes (usearch, hnswlib) against exact numpy search.

Vectors: clustered unit vectors in 384 dimensions (like sentence embeddings: many topics,
sections of a topic close together); queries near random topics. For each backend and
search breadth (ef): build seconds, recall@10 vs exact, query p50/p99 (one thread).

    .venv/bin/python bench/index_recall.py [N=100000] [QUERIES=500]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from freshgate.embeddings.index import DocMeta, VectorIndex

DIM = 384


def clustered(rng, n: int, topics: int, spread: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """n unit vectors around `topics` random centres; also returns the centres."""
    centres = rng.standard_normal((topics, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.standard_normal((n, DIM)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    v = centres[rng.integers(0, topics, n)] + spread * noise
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32), centres


def load(index: VectorIndex, vecs: np.ndarray, per_doc: int = 5) -> float:
    """Fill the index (documents of `per_doc` sections); returns seconds."""
    t = time.perf_counter()
    index.bulk_replace((DocMeta(f"d{d}"), [(i, f"s{i}", vecs[i]) for i in range(d * per_doc, min(len(vecs), (d + 1) * per_doc))])
                       for d in range((len(vecs) + per_doc - 1) // per_doc))
    return time.perf_counter() - t


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    nq = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    rng = np.random.default_rng(42)
    vecs, centres = clustered(rng, n, topics=max(50, n // 50))
    q = centres[rng.integers(0, len(centres), nq)] + 0.8 * rng.standard_normal((nq, DIM)).astype(np.float32) / np.sqrt(DIM)
    q = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
    exact_idx = VectorIndex(DIM, approximate_above=10**9)
    load(exact_idx, vecs)
    truth, lat = [], []
    for x in q:
        t = time.perf_counter()
        truth.append({h.section_id for h in exact_idx.search(x, 10)})
        lat.append(time.perf_counter() - t)
    rows = [{"backend": "exact (numpy)", "ef": None, "build_s": 0.0, "recall@10": 1.0,
             "p50_ms": 1e3 * float(np.percentile(lat, 50)), "p99_ms": 1e3 * float(np.percentile(lat, 99))}]
    for backend in ("usearch", "hnswlib"):
        idx = VectorIndex(DIM, approximate_above=1000, backend=backend, ef_search=64)
        build = load(idx, vecs)
        for ef in (32, 64, 128, 256):
            idx.ef_search = ef
            if backend == "usearch":
                idx._ann.expansion_search = ef
            got, lat = [], []
            for x in q:
                t = time.perf_counter()
                got.append({h.section_id for h in idx.search(x, 10)})
                lat.append(time.perf_counter() - t)
            recall = float(np.mean([len(a & b) / 10 for a, b in zip(got, truth)]))
            rows.append({"backend": backend, "ef": ef, "build_s": build, "recall@10": recall,
                         "p50_ms": 1e3 * float(np.percentile(lat, 50)), "p99_ms": 1e3 * float(np.percentile(lat, 99))})
    print(f"n={n} vectors, {nq} queries, dim {DIM}")
    print(f"{'backend':15} {'ef':>4} {'build s':>8} {'recall@10':>10} {'p50 ms':>8} {'p99 ms':>8}")
    for r in rows:
        print(f"{r['backend']:15} {str(r['ef'] or '-'):>4} {r['build_s']:8.1f} {r['recall@10']:10.4f} "
              f"{r['p50_ms']:8.3f} {r['p99_ms']:8.3f}")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "index_recall.json").write_text(json.dumps({"n": n, "queries": nq, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
