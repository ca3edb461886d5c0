"""Cost per pair of the default judge on plain statements (one or two sentences a side), where the
sentence-level judge runs, against multi-statement sections, where it does not.

Texts are new each round (no cache hits: a changed section is new text), embeddings are synthetic
unit vectors (the model's embedding time is not counted, as in conflict_incremental.py). Variants
are interleaved in one run.

    .venv/bin/python bench/conflict_statements.py [PAIRS=500] [ROUNDS=3]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _conflict_corpus import ROOT, section_text  # noqa: E402

from freshgate.conflicts.judge import LearnedJudge, Passage  # noqa: E402
from freshgate.embeddings.embedder import HashingEmbedder  # noqa: E402

PLACES = ["the UK", "Germany", "France", "Spain", "Italy", "Poland", "Austria", "Belgium"]


def plain_pair(j: int) -> tuple[Passage, Passage]:
    """A one-sentence policy statement and a reworded or flipped one."""
    p, d = PLACES[j % len(PLACES)], j % 20 + 1
    a = f"Delivery to {p} takes within {d} days for order {j}."
    b = [f"Delivery to {p} takes more than {d} days for order {j}.", f"Delivery to {p} is not free for order {j}.",
         f"Orders {j} to {p} arrive within {d} working days."][j % 3]
    return Passage(a), Passage(b)


def long_pair(j: int) -> tuple[Passage, Passage]:
    """Two multi-statement sections (the incremental benchmark's texts)."""
    return Passage(section_text(j) + f" Ticket {j}."), Passage(section_text(j + 7) + f" Ticket {j}.")  # new text: no cache hits


def run(judge, make, n: int, start: int) -> float:
    pairs = [make(start + k) for k in range(n)]
    rng = np.random.default_rng(start)
    ea = rng.standard_normal((n, 384)).astype(np.float32)
    eb = ea + 0.3 * rng.standard_normal((n, 384)).astype(np.float32)
    ea /= np.linalg.norm(ea, axis=1, keepdims=True)
    eb /= np.linalg.norm(eb, axis=1, keepdims=True)
    t = time.perf_counter()
    for i in range(0, n, 64):
        judge.judge_many(pairs[i:i + 64], ea[i:i + 64], eb[i:i + 64])
    return 1000 * (time.perf_counter() - t) / n


def main(n: int = 500, rounds: int = 3) -> dict:
    judge = LearnedJudge(HashingEmbedder())
    run(judge, plain_pair, 20, 10**7)  # load both models outside the timed part
    res: dict[str, list[float]] = {"plain statements": [], "multi-statement sections": []}
    for r in range(rounds):
        for name, make in (("plain statements", plain_pair), ("multi-statement sections", long_pair)):
            res[name].append(run(judge, make, n, (r + 1) * 10**5 + (0 if make is plain_pair else 5 * 10**4)))
    out = {k: {"ms_per_pair_median": round(float(np.median(v)), 3), "rounds": [round(x, 3) for x in v]}
           for k, v in res.items()}
    out["pairs_per_round"], out["loadavg"] = n, [round(x, 2) for x in os.getloadavg()]
    print("| pairs | judge ms/pair (median of rounds) | rounds |")
    print("|---|---:|---|")
    for k, v in res.items():
        print(f"| {k} | {np.median(v):.3f} | {', '.join(f'{x:.3f}' for x in v)} |")
    print(f"load average {out['loadavg']}")
    d = ROOT / "bench" / "results"
    d.mkdir(parents=True, exist_ok=True)
    (d / "conflict_statements.json").write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
