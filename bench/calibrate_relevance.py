"""Calibrate `lookup.relevance_threshold`: the cosine similarity above which a section counts as relevant.

Positives (something relevant is registered): each question of decisions-dev.jsonl against its
own documents, and hand-written Northwind questions against the example knowledge base.
Negatives (nothing relevant): each dev question against the example knowledge base, each dev
question against the documents of another (shifted) task, and off-topic questions against the
knowledge base. The score of a (question, corpus) pair is its best section's similarity, as in
a lookup. The threshold maximising balanced accuracy is reported (JSON in bench/results/).

    .venv/bin/python bench/calibrate_relevance.py [decisions-dev.jsonl]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from freshgate.embeddings.embedder import SentenceTransformerEmbedder
from freshgate.lookup.indexing import embedding_text
from freshgate.markdown.parse import parse_bytes
from freshgate.markdown.sections import split_sections

ROOT = Path(__file__).resolve().parents[1]
DEV = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/eval/decisions-dev.jsonl")
IN_DOMAIN = [
    "what is our refund window?", "how long do customers have to return a physical item?",
    "what does Northwind Plus cost per month?", "who is on call for SRE this week?",
    "how do I handle a chargeback?", "how long do we keep customer data?", "how do I delete a customer's account?",
    "what discount can I give without approval?", "a parcel was lost by the carrier, what do I do?",
    "when do we retry a failed card payment?", "how do I escalate a security report from a customer?",
    "what is the SLA uptime for Northwind Business?", "how much service credit for an outage?",
    "what does the warranty cover?", "which vendors process customer data?", "how fast do we ship orders?",
    "can I refund a customer 7000 euros?", "how do I answer a GDPR access request?",
    "what is the winter sale discount code?", "the item arrived damaged, can I send a replacement?",
    "customer asks where is my order", "who approves discounts above 20 percent?",
    "what happens after the third failed payment?", "how do I report a data breach?",
    "what are the prices for shipping?",
]
OFF_TOPIC = [
    "how do I bake sourdough bread?", "what is the capital of Mongolia?", "best hiking trails in Patagonia",
    "how do I change a bicycle tyre?", "what is the boiling point of ethanol?", "recommend a good sci-fi novel",
    "how many moons does Jupiter have?", "how to train a puppy to sit", "what time is the football final?",
    "explain quantum entanglement simply", "how to make a cold brew coffee", "what is the tallest tree species?",
]


def kb_texts() -> list[str]:
    """Embedding texts of every section of the example knowledge base."""
    out = []
    for p in sorted((ROOT / "sources").glob("*.md")) + sorted((ROOT / "sop_cards").glob("*.md")):
        parsed = parse_bytes(p.read_bytes(), path=str(p), now=__import__("datetime").datetime.now(
            __import__("datetime").timezone.utc), default_kind="sop" if "sop_cards" in str(p) else "source")
        out += [embedding_text(parsed.meta.title, s.text) for s in split_sections(parsed.body, parsed.meta.id)]
    return out


def best_threshold(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """The threshold with the highest balanced accuracy (ties: the midpoint of the best run)."""
    grid = np.round(np.arange(0.05, 0.80, 0.005), 3)
    bal = np.array([((pos >= t).mean() + (neg < t).mean()) / 2 for t in grid])
    best = np.flatnonzero(bal >= bal.max() - 1e-9)
    return float(grid[best[len(best) // 2]]), float(bal.max())


def main() -> None:
    tasks = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    emb = SentenceTransformerEmbedder()
    t0 = time.perf_counter()
    kb = emb.encode(kb_texts())
    questions = emb.encode([t["question"] for t in tasks])
    docs = [emb.encode([embedding_text(d["title"], d["text"]) for d in t["documents"]]) for t in tasks]
    local = emb.encode(IN_DOMAIN)
    off = emb.encode(OFF_TOPIC)
    groups = {
        "dev question vs own documents (pos)": np.array([float((d @ q).max()) for q, d in zip(questions, docs)]),
        "northwind question vs KB (pos)": (local @ kb.T).max(axis=1),
        "dev question vs KB (neg)": (questions @ kb.T).max(axis=1),
        "dev question vs another task's documents (neg)": np.array(
            [float((docs[(i + 7) % len(docs)] @ q).max()) for i, q in enumerate(questions)]),
        "off-topic question vs KB (neg)": (off @ kb.T).max(axis=1),
    }
    pos = np.concatenate([v for k, v in groups.items() if k.endswith("(pos)")])
    neg = np.concatenate([v for k, v in groups.items() if k.endswith("(neg)")])
    # Weight the two domains equally: the dev set has 13x more questions than the Northwind list.
    pos_w = np.concatenate([groups["dev question vs own documents (pos)"]] +
                           [groups["northwind question vs KB (pos)"]] * 13)
    thr, bal = best_threshold(pos_w, neg)
    print(f"{'group':50} {'n':>4} {'min':>6} {'p05':>6} {'p50':>6} {'p95':>6} {'max':>6}  share >= {thr}")
    result = {"threshold": thr, "balanced_accuracy": bal, "groups": {}, "seconds": time.perf_counter() - t0}
    for k, v in groups.items():
        q = np.percentile(v, [0, 5, 50, 95, 100])
        share = float((v >= thr).mean())
        print(f"{k:50} {len(v):4d} " + " ".join(f"{x:6.3f}" for x in q) + f"  {share:.3f}")
        result["groups"][k] = {"n": len(v), "percentiles_0_5_50_95_100": [round(float(x), 4) for x in q],
                               "share_at_or_above": share}
    print(f"chosen threshold {thr} (balanced accuracy {bal:.3f}; unweighted: positives kept "
          f"{(pos >= thr).mean():.3f}, negatives rejected {(neg < thr).mean():.3f})")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "calibrate_relevance.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
