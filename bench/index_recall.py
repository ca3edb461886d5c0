"""Recall@10 and latency of the approximate indexes (usearch, hnswlib) against exact numpy search.

Vectors: clustered unit vectors in 384 dimensions (like sentence embeddings: many topics,
sections of a topic close together); queries near random topics. For each backend and
search breadth (ef): build seconds, recall@10 vs exact, query p50/p99 (one thread).

    .venv/bin/python bench/index_recall.py [N=100000] [QUERIES=500]

Near-copy-heavy corpus (#17 item 3: real passages plus perturbed copies, which random clusters do
not capture), hnswlib per connectivity M and ef, recall@5 against exact search with the same filter
(none, not retired, a 5 % tag):

    .venv/bin/python bench/index_recall.py N QUERIES nearcopy [M[:EF_CONSTRUCTION]=16,32] [EF=128,256,512]
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

from freshgate.embeddings.index import DocMeta, Scope, VectorIndex

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


DEV = Path("/work/shared/eval/decisions-dev.jsonl")


def near_copies(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Near-copy-heavy corpus: the real dev passages (embedded with the model) and n - len(bases)
    perturbed copies of them (each base copied a Zipf-like number of times; a copy is its base plus
    noise of 0.02-0.4 relative norm, a third blended with a second passage: edited and merged
    versions of the same text); queries are the real dev questions. Returns (vectors, queries)."""
    from freshgate.embeddings.embedder import SentenceTransformerEmbedder

    rows = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    docs = list({d["id"]: d["text"][:1500] for r in rows for d in r["documents"]}.values())
    cache = Path(__file__).resolve().parent / "results" / "nearcopy_bases.npz"  # the model's vectors, computed once
    if cache.is_file():
        got = np.load(cache)
        bases, queries = got["bases"], got["queries"]
    else:
        emb = SentenceTransformerEmbedder(backend="onnx")
        bases, queries = emb.encode(docs), emb.encode([r["question"] for r in rows])
        cache.parent.mkdir(exist_ok=True)
        np.savez(cache, bases=bases, queries=queries)
    weights = 1.0 / np.arange(1, len(bases) + 1) ** 0.8
    pick = rng.choice(len(bases), size=n - len(bases), p=weights / weights.sum())
    noise = rng.standard_normal((len(pick), DIM)).astype(np.float32)
    noise *= (rng.uniform(0.02, 0.4, len(pick)) / np.linalg.norm(noise, axis=1))[:, None]
    v = bases[pick] + noise
    blend = rng.random(len(pick)) < 1 / 3
    v[blend] += rng.uniform(0.1, 0.5, int(blend.sum()))[:, None] * bases[rng.integers(0, len(bases), int(blend.sum()))]
    v = np.concatenate([bases, v])
    v = v[rng.permutation(len(v))]
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32), queries


def load_meta(index: VectorIndex, vecs: np.ndarray, per_doc: int = 5) -> float:
    """Like `load`, with filterable metadata: 10 % of documents retired, tag t0 on 5 %."""
    t = time.perf_counter()
    index.bulk_replace((DocMeta(f"d{d}", tags=frozenset({f"t{d % 20}"}), status="retired" if d % 10 == 9 else "active"),
                        [(i, f"s{i}", vecs[i]) for i in range(d * per_doc, min(len(vecs), (d + 1) * per_doc))])
                       for d in range((len(vecs) + per_doc - 1) // per_doc))
    return time.perf_counter() - t


def _measure_lock():
    """FRESHGATE_BENCH_LOCK=path: the corpus, the build and the exact answers are computed outside the
    shared bench lock (at the niceness the script was started with), the lookups timed under it at nice 0."""
    path = os.environ.get("FRESHGATE_BENCH_LOCK")
    if not path:
        return None
    import fcntl

    fh = open(path, "a")
    t = time.perf_counter()
    fcntl.flock(fh, fcntl.LOCK_EX)
    before = os.getpriority(os.PRIO_PROCESS, 0)
    os.setpriority(os.PRIO_PROCESS, 0, 0)
    print(f"bench lock held after {time.perf_counter() - t:.0f} s wait, {time.strftime('%H:%M:%S', time.gmtime())} UTC, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    return fh, before


def _release(held) -> None:
    if held is not None:
        import fcntl

        fh, before = held
        os.setpriority(os.PRIO_PROCESS, 0, before)
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def exact_truth(vecs: np.ndarray, q: np.ndarray, k: int, per_doc: int = 5) -> dict[str, list[set[int]]]:
    """Exact top-k section ids per query under each filter of `load_meta` (section id = row), computed
    with one matrix product per block of queries (the index's exact search copies the rows per query)."""
    doc = np.arange(len(vecs)) // per_doc
    masks = {"none": None, "not retired": doc % 10 != 9, "tag 5 %": doc % 20 == 0}
    out: dict[str, list[set[int]]] = {s: [] for s in masks}
    for start in range(0, len(q), 32):
        sims = vecs @ q[start:start + 32].T
        for s, m in masks.items():
            sm = sims if m is None else np.where(m[:, None], sims, -np.inf)
            top = np.argpartition(-sm, k, axis=0)[:k]
            out[s] += [set(top[:, j].tolist()) for j in range(top.shape[1])]
    return out


def main_near_copy(n: int, nq: int, ms: list[str], efs: list[int], k: int = 5) -> None:
    """Recall@5 of hnswlib against exact filtered search on the near-copy corpus, per M (or
    "M:ef_construction", default 200) and ef."""
    rng = np.random.default_rng(42)
    load_avg = os.getloadavg()
    vecs, q = near_copies(rng, n)
    q = q[:nq]
    scopes = {"none": Scope(), "not retired": Scope(exclude_retired=True), "tag 5 %": Scope.of(tags=["t0"])}
    rows, truth = [], None
    print(f"near-copy corpus: n={n} vectors, {len(q)} real questions, dim {DIM}; load average {load_avg[0]:.1f} at start")
    print(f"{'M':>3} {'ef':>4} {'scope':12} {'build s':>8} {'recall@5':>9} {'p50 ms':>8} {'p99 ms':>8}", flush=True)
    for spec in ms:
        m, efc = (int(x) for x in (spec.split(":") + ["200"])[:2])
        idx = VectorIndex(DIM, approximate_above=1000, backend="hnswlib", ef_search=64, connectivity=m,
                          ef_construction=efc)
        build = load_meta(idx, vecs)
        print(f"M {m}, ef_construction {efc}: built in {build:.1f} s (load average {os.getloadavg()[0]:.1f}), peak RSS "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB", flush=True)
        if truth is None:  # exact filtered search (same rows, same filters as load_meta), in blocks of queries
            truth = exact_truth(vecs, q, k)
            if n <= 20_000:  # the block computation agrees with the index's own exact search
                assert truth == {s: [{h.section_id for h in idx.search(x, k, sc, exact=True)} for x in q]
                                 for s, sc in scopes.items()}
        held = _measure_lock()
        for ef in efs:
            idx.ef_search = ef
            for s, sc in scopes.items():
                got, lat = [], []
                for x in q:
                    t = time.perf_counter()
                    got.append({h.section_id for h in idx.search(x, k, sc)})
                    lat.append(time.perf_counter() - t)
                recall = float(np.mean([len(a & b) / k for a, b in zip(got, truth[s])]))
                rows.append({"M": m, "ef_construction": efc, "ef": ef, "scope": s, "build_s": build, f"recall@{k}": recall,
                             "p50_ms": 1e3 * float(np.percentile(lat, 50)), "p99_ms": 1e3 * float(np.percentile(lat, 99))})
                r = rows[-1]  # printed as it comes: a large build may not leave time for every row
                print(f"{r['M']:3d} {r['ef']:4d} {r['scope']:12} {r['build_s']:8.1f} {r[f'recall@{k}']:9.4f} "
                      f"{r['p50_ms']:8.3f} {r['p99_ms']:8.3f}", flush=True)
        _release(held)
        del idx
    end = os.getloadavg()
    print(f"load average at end {end[0]:.1f} {end[1]:.1f} {end[2]:.1f}")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"index_recall_nearcopy_{n}.json").write_text(json.dumps({"n": n, "queries": len(q), "load_average": [load_avg, end],
                                                                    "rows": rows}, indent=2))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    nq = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    if len(sys.argv) > 3 and sys.argv[3] == "nearcopy":
        ms = (sys.argv[4] if len(sys.argv) > 4 else "16,32").split(",")
        efs = [int(x) for x in (sys.argv[5] if len(sys.argv) > 5 else "128,256,512").split(",")]
        return main_near_copy(n, nq, ms, efs)
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
