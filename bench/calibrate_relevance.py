"""Calibrate `lookup.relevance_threshold`: the retrieval score above which a section counts as relevant.

The score is the lookup's own (`LookupEngine.retrieve`, hybrid by default: cosine + weighted
BM25 + identifier share), computed over in-memory indexes of each corpus built from the same
context texts (heading path + body) the engine indexes. Embeddings are cached in /tmp.

Positives (something relevant is registered): each question of decisions-dev.jsonl against its
own documents, and hand-written Northwind questions against the example knowledge base.
Negatives (nothing relevant): each dev question against the example knowledge base, each dev
question against the documents of another (shifted) task, and off-topic questions against the
knowledge base. The score of a (question, corpus) pair is its best section's similarity, as in
a lookup. The threshold maximising balanced accuracy is reported (JSON in bench/results/).
Also: the best own-policy section of each retrieval-dev.jsonl question (positives, reported but
not weighted into the choice: their labels are incomplete) and, as negatives, retrieval-dev
questions against the example KB.

    .venv/bin/python bench/calibrate_relevance.py [decisions-dev.jsonl] [retrieval-dev.jsonl]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from freshgate.config import Settings
from freshgate.embeddings.index import DocMeta, VectorIndex
from freshgate.lookup.engine import LookupEngine
from freshgate.lookup.lexical import LexicalIndex
from freshgate.markdown.parse import parse_bytes
from freshgate.markdown.sections import context_texts, split_sections

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_retrieval import embed_all  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEV = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/eval/decisions-dev.jsonl")
RET = Path(sys.argv[2] if len(sys.argv) > 2 else "/work/shared/eval/retrieval-dev.jsonl")
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


def kb_docs() -> list[tuple[str, list[str]]]:
    """(id, context texts of its sections) for every document of the example knowledge base."""
    from datetime import datetime, timezone

    out = []
    for p in sorted((ROOT / "sources").glob("*.md")) + sorted((ROOT / "sop_cards").glob("*.md")):
        parsed = parse_bytes(p.read_bytes(), path=str(p), now=datetime.now(timezone.utc),
                             default_kind="sop" if "sop_cards" in str(p) else "source")
        out.append((parsed.meta.id, context_texts(parsed.meta.title, split_sections(parsed.body, parsed.meta.id))))
    return out


def task_docs(task: dict) -> list[tuple[str, list[str]]]:
    """A decisions task's documents as the eval registers them (body split at its headings)."""
    return [(d["id"], context_texts(d["title"], split_sections(d["text"], d["id"]))) for d in task["documents"]]


def policy_docs(rec: dict) -> list[tuple[str, list[str]]]:
    """A retrieval record's own policy (one `## Segment N` section each)."""
    own = rec["relevant"][0]["document"]
    d = next(d for d in rec["documents"] if d["id"] == own)
    return [(own, context_texts(d["title"], split_sections(
        "\n\n".join(f"## {s['heading']}\n\n{s['text']}" for s in d["sections"]), own)))]


class Corpus:
    """In-memory vector + lexical indexes of some documents, scored as the lookup scores."""

    def __init__(self, docs: list[tuple[str, list[str]]], vec: dict, settings: Settings) -> None:
        self.settings, self.index, self.lexical = settings, VectorIndex(384), LexicalIndex()
        sid = 0
        for doc_id, texts in docs:
            rows = []
            for t in texts:
                sid += 1
                rows.append((sid, f"s{sid}", t))
            self.index.replace_document(DocMeta(doc_id), [(i, a, vec[t]) for i, a, t in rows])
            self.lexical.replace_document(DocMeta(doc_id), rows)

    def best(self, query: str, qvec) -> float:
        """The best section's score for a query (as the first hit of a lookup)."""
        hits = LookupEngine._hybrid(self, query, qvec, 1, None) if self.settings.lookup.retrieval == "hybrid" \
            else self.index.search(qvec, 1)
        return hits[0].score if hits else 0.0


def best_threshold(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """The threshold with the highest balanced accuracy (ties: the midpoint of the best run)."""
    grid = np.round(np.arange(0.05, 0.80, 0.005), 3)
    bal = np.array([((pos >= t).mean() + (neg < t).mean()) / 2 for t in grid])
    best = np.flatnonzero(bal >= bal.max() - 1e-9)
    return float(grid[best[len(best) // 2]]), float(bal.max())


def main() -> None:
    tasks = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    recs = [json.loads(line) for line in RET.read_text().splitlines() if line.strip()]
    settings = Settings()
    kb = kb_docs()
    tdocs = [task_docs(t) for t in tasks]
    pdocs = [policy_docs(r) for r in recs]
    texts = [t for _, ts in kb for t in ts] + [t for docs in tdocs + pdocs for _, ts in docs for t in ts]
    queries = [t["question"] for t in tasks] + IN_DOMAIN + OFF_TOPIC + [r["question"] for r in recs]
    t0 = time.perf_counter()
    vec = embed_all(texts + queries)
    kb_c = Corpus(kb, vec, settings)
    task_c = [Corpus(d, vec, settings) for d in tdocs]
    qs = [t["question"] for t in tasks]
    groups = {
        "dev question vs own documents (pos)": np.array([c.best(q, vec[q]) for q, c in zip(qs, task_c)]),
        "northwind question vs KB (pos)": np.array([kb_c.best(q, vec[q]) for q in IN_DOMAIN]),
        "dev question vs KB (neg)": np.array([kb_c.best(q, vec[q]) for q in qs]),
        "dev question vs another task's documents (neg)": np.array(
            [task_c[(i + 7) % len(task_c)].best(q, vec[q]) for i, q in enumerate(qs)]),
        "off-topic question vs KB (neg)": np.array([kb_c.best(q, vec[q]) for q in OFF_TOPIC]),
        "policy question vs own policy (pos, not weighted)": np.array(
            [Corpus(d, vec, settings).best(r["question"], vec[r["question"]]) for r, d in zip(recs, pdocs)]),
        "policy question vs KB (neg)": np.array([kb_c.best(r["question"], vec[r["question"]]) for r in recs]),
    }
    print(f"retrieval {settings.lookup.retrieval}, lexical_weight {settings.lookup.lexical_weight}, "
          f"identifier_weight {settings.lookup.identifier_weight}; load {os.getloadavg()}")
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
