"""Grid the hybrid weights on retrieval-dev.jsonl without a registry (fast): same texts, same indexes.

Per record the sections get the engine's context texts (heading path + body), go into a
`VectorIndex` and a `LexicalIndex`, and the question is ranked by `LookupEngine._hybrid` logic
for each (lexical_weight, identifier_weight). Embeddings are cached in /tmp (not in the repo).
The official figures come from `freshgate eval retrieval`; this only explores the weights.

    .venv/bin/python bench/tune_retrieval.py [retrieval-dev.jsonl] [LIMIT]
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from freshgate.config import Settings
from freshgate.embeddings.index import DocMeta, Scope, VectorIndex
from freshgate.lookup.engine import LookupEngine
from freshgate.lookup.eval_retrieval import rank_of
from freshgate.lookup.lexical import LexicalIndex
from freshgate.markdown.sections import context_texts

K1, B = float(os.environ.get("K1", 1.5)), float(os.environ.get("B", 0.75))
CACHE = Path(os.environ.get("FRESHGATE_TUNE_CACHE", "/tmp/freshgate-tune-embeddings.npz"))


def embed_all(texts: list[str]) -> dict[str, np.ndarray]:
    """Vectors of texts, cached on disk by text hash."""
    have = dict(np.load(CACHE)) if CACHE.exists() else {}
    key = lambda t: hashlib.sha1(t.encode()).hexdigest()  # noqa: E731
    missing = [t for t in dict.fromkeys(texts) if key(t) not in have]
    if missing:
        from freshgate.embeddings.embedder import SentenceTransformerEmbedder

        e = SentenceTransformerEmbedder()
        for t, v in zip(missing, e.encode(missing)):
            have[key(t)] = v
        np.savez(CACHE, **have)
    return {t: have[key(t)] for t in texts}


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/eval/retrieval-dev.jsonl")
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
    recs = [json.loads(x) for x in path.read_text().splitlines() if x.strip()][:limit]
    prepared = []
    for rec in recs:
        docs = []
        sid = 0
        for d in rec["documents"]:
            secs = [SimpleNamespace(level=2, heading=s["heading"], position=i, text=f"## {s['heading']}\n\n{s['text']}",
                                    anchor=s["anchor"]) for i, s in enumerate(rec_sections(d))]
            texts = context_texts(d["title"], secs)
            rows = []
            for s, t in zip(secs, texts):
                sid += 1
                rows.append((sid, s.anchor, t))
            docs.append((d["id"], rows))
        prepared.append((rec, docs))
    texts = [t for _, docs in prepared for _, rows in docs for _, _, t in rows] + [r["question"] for r, _ in prepared]
    t0 = time.perf_counter()
    vec = embed_all(texts)
    print(f"embedded in {time.perf_counter() - t0:.1f}s; load {os.getloadavg()}")
    grid = [(lw, iw) for lw in (0.0, 0.3, 0.5, 0.7, 1.0, 1.5) for iw in (0.0, 0.1, 0.3)]
    results = {g: {"all": [], "own": []} for g in grid}
    results_lex = {"all": [], "own": []}
    for rec, docs in prepared:
        s = Settings()
        eng = SimpleNamespace(settings=s, index=VectorIndex(384), lexical=LexicalIndex(K1, B))
        for doc_id, rows in docs:
            eng.index.replace_document(DocMeta(doc_id), [(sid, a, vec[t]) for sid, a, t in rows])
            eng.lexical.replace_document(DocMeta(doc_id), rows)
        q = vec[rec["question"]]
        relevant = {(r["document"], r["anchor"]) for r in rec["relevant"]}
        own = Scope.of(ids=[rec["relevant"][0]["document"]])
        k = 1000
        for pool, scope in (("all", None), ("own", own)):
            results_lex[pool].append(rank_of(eng.lexical.search(rec["question"], k, scope), relevant))
            for lw, iw in grid:
                s.lookup.lexical_weight, s.lookup.identifier_weight = lw, iw
                hits = LookupEngine._hybrid(eng, rec["question"], q, k, scope)
                results[(lw, iw)][pool].append(rank_of(hits, relevant))

    def fig(ranks):
        n = len(ranks)
        return (sum(1 for x in ranks if x and x <= 1) / n, sum(1 for x in ranks if x and x <= 5) / n,
                sum(1 / x for x in ranks if x) / n)

    print(f"{'variant':24} " + " ".join(f"{p}:{m:>6}" for p in ("all", "own") for m in ("R@1", "R@5", "MRR")))
    print(f"{'bm25':24} " + " ".join(f"{x:10.3f}" for p in ("all", "own") for x in fig(results_lex[p])))
    for g in grid:
        print(f"{'hybrid lw=%.1f iw=%.1f' % g:24} " + " ".join(f"{x:10.3f}" for p in ("all", "own")
                                                              for x in fig(results[g][p])))


def rec_sections(d):
    return d["sections"]


if __name__ == "__main__":
    main()
