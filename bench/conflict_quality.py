"""Conflict judge quality on the development pairs: prints a table, writes bench/results/conflict_quality.json.

Usage: python bench/conflict_quality.py [--judge learned|rules] [--pairs PATH]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from freshgate.config import ConflictSettings
from freshgate.conflicts.evaluate import evaluate_pairs, render_pairs_table
from freshgate.conflicts.judge import make_judge
from freshgate.embeddings.embedder import SentenceTransformerEmbedder

HERE = Path(__file__).resolve().parent
EVAL_DIR = HERE.parents[0].parent / "shared" / "eval"


def main() -> None:
    """Run every requested judge on the pairs file and save the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, default=EVAL_DIR / "pairs-dev.jsonl")
    ap.add_argument("--judge", action="append", help="judge(s) to run (default: learned and rules)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "conflict_quality.json")
    args = ap.parse_args()
    embedder = SentenceTransformerEmbedder()
    results = {}
    for name in args.judge or ["learned", "rules"]:
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
