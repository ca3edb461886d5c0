"""Cheap retrieval variants tried against the hybrid score on retrieval-dev.jsonl (issue 14), no registry.

Same preparation as bench/tune_retrieval.py (context texts, embeddings cached in /tmp, the engine's
`LexicalIndex`), then every variant re-ranks each record's sections with numpy: score
normalisation and RRF, pseudo-relevance feedback (Rocchio on the query vector, RM3-style terms for
BM25), BM25 k1/b, query rewriting (question form stripped; pronouns turned to the policy's voice),
document context in what is embedded (body only; previous section's first sentence), section
length prior, neighbour smoothing, centroid subtraction, candidate-graph smoothing. Last, a
split-half check: the best grid point chosen on half of the policies, measured on the other half.
The official figures come from `freshgate eval retrieval`; this only says which ideas are worth
building (none moved own-pool MRR by more than its noise: see docs/calibration.md).

    .venv/bin/python bench/retrieval_variants.py [retrieval-dev.jsonl]
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_retrieval import embed_all  # noqa: E402

from freshgate.embeddings.index import DocMeta, Scope  # noqa: E402
from freshgate.lookup.lexical import LexicalIndex  # noqa: E402
from freshgate.lookup.terms import words  # noqa: E402
from freshgate.markdown.sections import context_texts  # noqa: E402

AUX = r"(?:do|does|did|will|would|can|could|is|are|was|were|shall|should|may|might|has|have|am)"
VOICE = {"you": "we", "your": "our", "yours": "ours", "my": "your", "i": "you", "me": "you", "mine": "yours",
         "they": "we", "their": "our", "them": "us"}


def strip_form(q: str) -> str:
    """"Do you share my data?" -> "you share my data." (question word and auxiliary dropped)."""
    q = re.sub(r"\?+", ".", q.strip())
    return re.sub(rf"^\s*(?:(?:what|which|how|why|who|where|when)\b[^,]*?\s)?{AUX}\s+", "", q, flags=re.I)


def voice(q: str) -> str:
    """The question in the policy's voice: you -> we, my -> your, I -> you."""
    return re.sub(r"\b(\w+)\b", lambda m: VOICE.get(m.group(1).lower(), m.group(1)), q)


def first_sentence(t: str, n: int = 150) -> str:
    m = re.match(r"(.{20,%d}?[.!?:])\s" % n, t)
    return m.group(1) if m else t[:n]


def bm25(rows, query: str, scope=None, k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """Normalised BM25 of every row (as the engine computes it) for a query."""
    lx = LexicalIndex(k1, b)
    by_doc: dict[str, list] = {}
    for r in rows:
        by_doc.setdefault(r.doc, []).append((r.sid, r.anchor, r.ctx))
    for d, rs in by_doc.items():
        lx.replace_document(DocMeta(d), rs)
    sec, norm, _ = lx.scores(query, scope)
    got = dict(zip(sec.tolist(), norm.tolist()))
    return np.array([got.get(r.sid, 0.0) for r in rows])


def prepare(path: Path) -> list[dict]:
    recs = [json.loads(x) for x in path.read_text("utf-8").splitlines() if x.strip()]
    out = []
    for rec in recs:
        rows, sid = [], 0
        for d in rec["documents"]:
            secs = [SimpleNamespace(level=2, heading=s["heading"], position=i, text=f"## {s['heading']}\n\n{s['text']}")
                    for i, s in enumerate(d["sections"])]
            for i, (s, ctx) in enumerate(zip(d["sections"], context_texts(d["title"], secs))):
                sid += 1
                prev = d["sections"][i - 1]["text"] if i else ""
                rows.append(SimpleNamespace(sid=sid, doc=d["id"], anchor=s["anchor"], ctx=ctx, body=s["text"],
                                            prev_ctx=(first_sentence(prev) + "\n" if prev else "") + s["text"]))
        own = rec["relevant"][0]["document"]
        rel = {(r["document"], r["anchor"]) for r in rec["relevant"]}
        out.append({"rec": rec, "rows": rows, "own": np.array([r.doc == own for r in rows]),
                    "rel": np.array([(r.doc, r.anchor) in rel for r in rows]), "policy": own})
    return out


def rr(scores: np.ndarray, rel: np.ndarray) -> float:
    hit = np.flatnonzero(rel[np.argsort(-scores, kind="stable")])
    return 1.0 / (hit[0] + 1) if len(hit) else 0.0


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/eval/retrieval-dev.jsonl")
    data = prepare(path)
    qtexts = {f: [f(d["rec"]["question"]) for d in data] for f in (str, strip_form, voice)}
    vec = embed_all([r.ctx for d in data for r in d["rows"]] + [r.body for d in data for r in d["rows"]]
                    + [r.prev_ctx for d in data for r in d["rows"]] + [t for v in qtexts.values() for t in v])
    print(f"load {os.getloadavg()}")
    for d, q, qs, qv in zip(data, qtexts[str], qtexts[strip_form], qtexts[voice]):
        d["X"] = np.stack([vec[r.ctx] for r in d["rows"]])
        d["Xbody"] = np.stack([vec[r.body] for r in d["rows"]])
        d["Xprev"] = np.stack([vec[r.prev_ctx] for r in d["rows"]])
        d["q"], d["q_strip"], d["q_voice"] = vec[q], vec[qs], vec[qv]
        scope = Scope.of(ids=[d["policy"]])
        d["bm"] = {"all": bm25(d["rows"], q), "own": bm25(d["rows"], q, scope)}
        d["bm_k09"] = {"all": bm25(d["rows"], q, None, 0.9), "own": bm25(d["rows"], q, scope, 0.9)}
        d["bm_b05"] = {"all": bm25(d["rows"], q, None, 1.2, 0.5), "own": bm25(d["rows"], q, scope, 1.2, 0.5)}
        d["loglen"] = np.log([len(r.body) for r in d["rows"]])

    def z(x):
        return (x - x.mean()) / (x.std() + 1e-9)

    def mm(x):
        return (x - x.min()) / (x.max() - x.min() + 1e-9)

    def rrf(x, k):
        r = np.empty(len(x))
        r[np.argsort(-x, kind="stable")] = np.arange(1, len(x) + 1)
        return 1.0 / (k + r)

    def hyb(d, p, m, q=None, lw=0.5):
        return d["X"] @ (d["q"] if q is None else q) + lw * d["bm"][p]

    def rocchio(d, p, m, k=3, beta=0.5):
        top = np.argsort(-np.where(m, hyb(d, p, m), -9))[:k]
        q2 = d["q"] + beta * d["X"][top].mean(0)
        return hyb(d, p, m, q2 / np.linalg.norm(q2))

    def rm3(d, p, m, k=3, n=10, lam=0.5):
        s = hyb(d, p, m)
        top = np.argsort(-np.where(m, s, -9))[:k]
        toks = [words(r.body) for r in d["rows"]]
        df = collections.Counter(w for t in toks for w in set(t))
        qw, wt = set(words(d["rec"]["question"])), collections.Counter()
        for j in top:
            for w, tf in collections.Counter(toks[j]).items():
                if w not in qw:
                    wt[w] += tf / max(len(toks[j]), 1) * np.log(len(toks) / df[w]) * np.exp(5 * s[j])
        exp = [w for w, _ in wt.most_common(n)]
        e = np.array([sum(c[w] * 2.5 / (c[w] + 1.5 * (0.25 + 0.75 * len(t) / 60)) * np.log(1 + len(toks) / df[w])
                          for w in exp if c[w]) for t, c in ((t, collections.Counter(t)) for t in toks)])
        return s + lam * 0.5 * e / (e.max() + 1e-9)

    def neighbours(d, p, m, g=0.3):
        s, rows = hyb(d, p, m), d["rows"]
        out = s.copy()
        for i in range(len(rows)):
            ns = [s[j] for j in (i - 1, i + 1) if 0 <= j < len(rows) and rows[j].doc == rows[i].doc]
            out[i] += g * max(ns) if ns else 0.0
        return out

    def centroid(d, p, m, a=0.5):
        mu = d["X"].mean(0)
        xs, q = d["X"] - a * mu, d["q"] - a * mu
        return (xs / np.linalg.norm(xs, axis=1, keepdims=True)) @ (q / np.linalg.norm(q)) + 0.5 * d["bm"][p]

    def graph(d, p, m, lam=0.3, k=10):
        s = np.where(m, hyb(d, p, m), -9)
        top = np.argsort(-s)[:k]
        w = np.exp(5 * s[top])
        return s + lam * (d["X"] @ d["X"][top].T) @ (w / w.sum())

    variants = {
        "bm25 alone": lambda d, p, m: d["bm"][p],
        "vectors alone": lambda d, p, m: d["X"] @ d["q"],
        "hybrid (default: cos + 0.5 BM25)": hyb,
        "hybrid, lexical 0.7": lambda d, p, m: hyb(d, p, m, lw=0.7),
        "z-score per query, 1:1": lambda d, p, m: _per_pool(m, lambda x, y: z(x) + z(y), d["X"] @ d["q"], d["bm"][p]),
        "min-max per query, 1:1": lambda d, p, m: _per_pool(m, lambda x, y: mm(x) + mm(y), d["X"] @ d["q"], d["bm"][p]),
        "RRF k=60": lambda d, p, m: _per_pool(m, lambda x, y: rrf(x, 60) + rrf(y, 60), d["X"] @ d["q"], d["bm"][p]),
        "RRF k=10": lambda d, p, m: _per_pool(m, lambda x, y: rrf(x, 10) + rrf(y, 10), d["X"] @ d["q"], d["bm"][p]),
        "Rocchio k=3 beta=0.5": rocchio,
        "Rocchio k=10 beta=0.5": lambda d, p, m: rocchio(d, p, m, 10),
        "RM3-style BM25 expansion (3 docs, 10 terms)": rm3,
        "BM25 k1 0.9 b 0.75": lambda d, p, m: d["X"] @ d["q"] + 0.5 * d["bm_k09"][p],
        "BM25 k1 1.2 b 0.5": lambda d, p, m: d["X"] @ d["q"] + 0.5 * d["bm_b05"][p],
        "query: question form stripped": lambda d, p, m: hyb(d, p, m, d["q_strip"]),
        "query: policy's voice (you->we, my->your)": lambda d, p, m: hyb(d, p, m, d["q_voice"]),
        "embedded: body only": lambda d, p, m: d["Xbody"] @ d["q"] + 0.5 * d["bm"][p],
        "embedded: + previous section's first sentence": lambda d, p, m: d["Xprev"] @ d["q"] + 0.5 * d["bm"][p],
        "two vectors (path+body, prev+body) averaged": lambda d, p, m: (d["X"] + d["Xprev"]) @ d["q"] / 2
        + 0.5 * d["bm"][p],
        "section length prior 0.1 x log(chars)": lambda d, p, m: hyb(d, p, m) + 0.1 * d["loglen"],
        "neighbour smoothing 0.3 x best neighbour": neighbours,
        "centroid subtraction 0.5": centroid,
        "candidate-graph smoothing (top 10, 0.3)": graph,
    }
    table = {}
    print(f"{'variant':48} " + " ".join(f"{p}:{m:>5}" for p in ("all", "own") for m in ("R@1", "R@5", "MRR")))
    for name, fn in variants.items():
        fig = []
        for pool in ("all", "own"):
            ranks = []
            for d in data:
                m = d["own"] if pool == "own" else np.ones(len(d["rows"]), bool)
                s = fn(d, pool, m)
                ranks.append(rr(s[m], d["rel"][m]))
            ranks = np.array(ranks)
            fig += [float(np.mean(ranks == 1)), float(np.mean(ranks >= 0.2)), float(ranks.mean())]
        table[name] = fig
        print(f"{name[:48]:48} " + " ".join(f"{x:9.3f}" for x in fig))
    split_half(data)


def _per_pool(m, fuse, cos, bm):
    out = np.full(len(cos), -1e9)
    out[m] = fuse(cos[m], bm[m])
    return out


def split_half(data: list[dict]) -> None:
    """Choose (query form, lexical weight, length prior) on half of the policies, measure on the other half."""
    grid = list(itertools.product(("q", "q_voice"), (0.3, 0.5, 0.7, 1.0), (0.0, 0.05, 0.1)))
    per = {g: np.array([rr((d["X"] @ d[g[0]] + g[1] * d["bm"]["own"] + g[2] * d["loglen"])[d["own"]],
                           d["rel"][d["own"]]) for d in data]) for g in grid}
    base = per[("q", 0.5, 0.0)]
    best = max(grid, key=lambda g: per[g].mean())
    diff = per[best] - base
    rng = np.random.default_rng(0)
    boot = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(2000)]
    print(f"\nbest grid point on all 300 {best}: own MRR {base.mean():.3f} -> {per[best].mean():.3f}, "
          f"paired bootstrap 95 % CI of the gain {np.percentile(boot, 2.5):+.3f}..{np.percentile(boot, 97.5):+.3f}")
    policies = np.array([d["policy"] for d in data])
    names = sorted(set(policies))
    for seed in range(3):
        half = set(np.random.default_rng(seed).choice(names, len(names) // 2, replace=False))
        a = np.array([p in half for p in policies])
        for tr, te in ((a, ~a), (~a, a)):
            g = max(grid, key=lambda g: per[g][tr].mean())
            print(f"split {seed}: chosen {g} on one half ({base[tr].mean():.3f} -> {per[g][tr].mean():.3f}), "
                  f"other half {base[te].mean():.3f} -> {per[g][te].mean():.3f}")


if __name__ == "__main__":
    main()
