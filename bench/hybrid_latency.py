"""Retrieval latency: hybrid (vectors + BM25 + identifiers) against vectors only, same engine, same run.

In process, no model and no HTTP: a `LookupEngine` whose vector index holds N clustered synthetic
vectors and whose lexical index holds N synthetic sections (60 words drawn from a Zipf-distributed
5,000-word vocabulary, an identifier in one section of ten), both filled through the indexes' bulk
operations. Each query has a precomputed vector, so the timing is `LookupEngine.retrieve(k=20)`,
the step that differs between the configurations (embedding, decision and receipt are the same):
vectors only, hybrid with every BM25 posting scored (hybrid-exact), hybrid as configured (words
in more than lookup.lexical_frequent_share / _min sections scored for candidates only) and the
same with the 20,000-section floor used before. They are interleaved query by query, ROUNDS times; p50/p99 ms
each, the load average per size, and for the pruned ones the share of the exact hybrid's top 5 /
top 20 sections they return (recall@5 / @20). Table + bench/results/hybrid_latency.json.

    .venv/bin/python bench/hybrid_latency.py [SIZES=10000,100000] [QUERIES=300] [ROUNDS=3]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from index_recall import clustered  # noqa: E402

from freshgate.config import Settings  # noqa: E402
from freshgate.embeddings.embedder import HashingEmbedder  # noqa: E402
from freshgate.embeddings.index import DocMeta  # noqa: E402
from freshgate.lookup.engine import LookupEngine  # noqa: E402


def corpus(rng, n: int, vocab: list[str]) -> list[str]:
    """n synthetic section texts: a heading path line, then 60 Zipf-drawn words (+ an identifier sometimes)."""
    p = 1.0 / np.arange(1, len(vocab) + 1)
    p /= p.sum()
    draws = rng.choice(len(vocab), size=(n, 62), p=p)
    out = []
    for i, row in enumerate(draws):
        ident = f" code NW-{i:05d}" if i % 10 == 0 else ""
        out.append(f"Generated document {i // 5} › {vocab[row[0]]} {vocab[row[1]]}\n"
                   + " ".join(vocab[j] for j in row[2:]) + ident + ".")
    return out


def main() -> None:
    sizes = [int(x) for x in (sys.argv[1] if len(sys.argv) > 1 else "10000,100000").split(",")]
    n_queries = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    rng = np.random.default_rng(11)
    vocab = [f"w{chr(97 + i % 26)}{i}" for i in range(5000)]
    results = []
    for n in sizes:
        t0 = time.perf_counter()
        s = Settings()
        lk = LookupEngine(s, engine=None, embedder=HashingEmbedder())
        vecs, _ = clustered(rng, n, topics=max(50, n // 50))
        texts = corpus(rng, n, vocab)
        docs = [(DocMeta(f"gen-{d:06d}"), range(d * 5, min(n, d * 5 + 5))) for d in range((n + 4) // 5)]
        lk.index.bulk_replace((m, [(i, f"part-{i}", vecs[i]) for i in rows]) for m, rows in docs)
        lk.lexical.bulk_replace((DocMeta(m.id), [(i, f"part-{i}", texts[i]) for i in rows]) for m, rows in docs)
        lk.index.ready = True
        build = time.perf_counter() - t0
        qidx = rng.integers(0, n, size=n_queries)
        queries = [" ".join(texts[i].split("\n")[1].split()[3:9]) + (f" NW-{i:05d}" if i % 10 == 0 else "")
                   for i in qidx]
        qvecs = vecs[qidx] + rng.normal(0, 0.02, size=vecs[qidx].shape).astype(np.float32)
        qvecs /= np.linalg.norm(qvecs, axis=1, keepdims=True)
        # hybrid: the default (frequent words pruned, lookup.lexical_frequent_*); hybrid-exact: every posting
        # scored; hybrid-20k: pruned with the floor before (lexical_frequent_min 20000, for comparison)
        floors = {"hybrid-exact": 10**12, "hybrid": s.lookup.lexical_frequent_min, "hybrid-20k": 20000}
        methods = ["vector", "hybrid-exact", "hybrid", "hybrid-20k"]

        def run(method, q, v):
            s.lookup.lexical_frequent_min = floors.get(method, 0)
            return lk.retrieve(q, 20, None, method="vector" if method == "vector" else "hybrid", vector=v)[1]

        times = {m: [] for m in methods}
        for _ in range(rounds):
            for q, v in zip(queries, qvecs):
                for method in methods:
                    t = time.perf_counter()
                    run(method, q, v)
                    times[method].append(1e3 * (time.perf_counter() - t))
        agree = {m: {"top5": [], "top20": []} for m in methods if m != "hybrid-exact"}
        for q, v in zip(queries, qvecs):  # pruned vs exact hybrid: share of the exact top 5 / top 20 found
            exact = [h.section_id for h in run("hybrid-exact", q, v)]
            for m in agree:
                got = [h.section_id for h in run(m, q, v)]
                agree[m]["top5"].append(len(set(got[:5]) & set(exact[:5])) / 5)
                agree[m]["top20"].append(len(set(got) & set(exact)) / max(len(exact), 1))
        s.lookup.lexical_frequent_min = floors["hybrid"]
        load = os.getloadavg()
        row = {"sections": n, "approximate": lk.index.approximate, "build_s": round(build, 1),
               "load_avg": load, "ms": {m: {"p50": float(np.percentile(t, 50)), "p99": float(np.percentile(t, 99))}
                                        for m, t in times.items()},
               "recall_vs_exact_hybrid": {m: {k: float(np.mean(x)) for k, x in a.items()} for m, a in agree.items()}}
        results.append(row)
        print(f"{n:>7} sections ({'HNSW' if row['approximate'] else 'exact'}), built in {build:.0f}s, "
              f"load {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}")
        for m in methods:
            r = row["recall_vs_exact_hybrid"].get(m)
            extra = f"   recall@5 {r['top5']:.3f}  recall@20 {r['top20']:.3f} (vs hybrid-exact)" if r else ""
            print(f"   {m:12} p50 {row['ms'][m]['p50']:7.2f} ms   p99 {row['ms'][m]['p99']:7.2f} ms{extra}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "hybrid_latency.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
