"""Conflict judge quality on the development pairs: prints a table, writes bench/results/conflict_quality.json.

Usage: python bench/conflict_quality.py [--judge learned|rules] [--pairs PATH] [--skip-dev]

Also times each judge on the example knowledge base's candidate pairs (cosine >= 0.55, ten
nearest per section, as a full scan picks them): milliseconds per pair with the claim cache cold
and warm, and how many pairs it reports.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from freshgate.config import ConflictSettings
from freshgate.conflicts.evaluate import evaluate_pairs, render_pairs_table
from freshgate.conflicts import claims
from freshgate.conflicts.judge import Passage, make_judge
from freshgate.embeddings.embedder import SentenceTransformerEmbedder

HERE = Path(__file__).resolve().parent
EVAL_DIR = HERE.parents[0].parent / "shared" / "eval"


def example_pairs(embedder) -> tuple[list, np.ndarray, np.ndarray]:
    """Candidate pairs of the example knowledge base with their embeddings (title + text, as indexed)."""
    from freshgate.markdown.parse import parse_text

    secs = []
    for d in ("sources", "sop_cards"):
        for f in sorted((HERE.parent / d).glob("*.md")):
            doc = parse_text(f.read_text(), path=str(f), now=datetime.now(timezone.utc))
            if doc.meta.status == "active":
                secs += [Passage(s.text, doc.meta.title, doc.meta.id, s.anchor) for s in doc.sections]
    vecs = np.asarray(embedder.encode([f"{p.title}\n{p.text}" for p in secs]), dtype=np.float32)
    sims = vecs @ vecs.T
    keys = set()
    for i in range(len(secs)):
        near = [j for j in np.argsort(-sims[i]) if j != i and sims[i, j] >= 0.55][:10]
        keys |= {(min(i, j), max(i, j)) for j in near}
    keys = sorted(keys)
    return [(secs[i], secs[j]) for i, j in keys], vecs[[i for i, _ in keys]], vecs[[j for _, j in keys]]


def example_cost(judge, pairs, ea, eb) -> dict:
    """Judge the example pairs twice (claim cache cold, then warm): ms per pair and what was reported."""
    claims.extract_cached.cache_clear()
    out = {}
    for label in ("cold", "warm"):
        t0 = time.perf_counter()
        verdicts = judge.judge_many(pairs, ea, eb)
        out[f"ms_per_pair_{label}"] = round((time.perf_counter() - t0) * 1000 / max(1, len(pairs)), 3)
    out["pairs"] = len(pairs)
    out["reported"] = sorted(f"{a.doc_id}#{a.anchor} vs {b.doc_id}#{b.anchor}: {v.explanation}"
                             for (a, b), v in zip(pairs, verdicts) if v.conflict)
    return out


def main() -> None:
    """Run every requested judge on the pairs file and save the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, default=EVAL_DIR / "pairs-dev.jsonl")
    ap.add_argument("--judge", action="append", help="judge(s) to run (default: learned and rules)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "conflict_quality.json")
    ap.add_argument("--skip-dev", action="store_true", help="only time the example knowledge base")
    args = ap.parse_args()
    embedder = SentenceTransformerEmbedder()
    results = {}
    kb = example_pairs(embedder)
    for name in args.judge or ["learned", "rules"]:
        cost = example_cost(make_judge(ConflictSettings(judge=name), embedder), *kb)
        print(f"example KB, judge={name}: {cost['pairs']} candidate pairs, {len(cost['reported'])} reported, "
              f"{cost['ms_per_pair_cold']:.3f} ms/pair cold, {cost['ms_per_pair_warm']:.3f} ms/pair warm")
        for line in cost["reported"]:
            print("   ", line)
        results[f"example_kb:{name}"] = cost
        if args.skip_dev:
            continue
        t0 = time.perf_counter()
        # The rules judge reads claims only: no embeddings to pay for.
        result = evaluate_pairs(args.pairs, make_judge(ConflictSettings(judge=name), embedder),
                                None if name == "rules" else embedder)
        result["seconds"]["total"] = round(time.perf_counter() - t0, 1)
        print(render_pairs_table(result), "\n")
        results[name] = result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
