"""Full conflict scan at 10k and 100k sections: time, candidate pairs judged vs all pairs.

Generated documents (10 sections each, clustered synthetic vectors, policy-like texts), the
lookup's VectorIndex for blocking (HNSW above 20k), the default (learned) judge. The scan
asks the index for each section's nearest neighbours above `candidate_similarity`, so the
pairs judged grow with the number of sections, not with its square.

    .venv/bin/python bench/conflict_scan.py [SIZES=10000,100000]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _conflict_corpus import ROOT, build, build_index, use_index  # noqa: E402


def one(n: int) -> dict:
    tmp = Path(tempfile.mkdtemp())
    rt, vecs = build(tmp / "bench.db", n, topics=n // 4)  # ~3 near neighbours per section
    t0 = time.perf_counter()
    idx = build_index(rt, vecs)
    t_index = time.perf_counter() - t0
    use_index(rt, idx)
    hub = rt.extras["conflicts"]
    hub.ctx.judge().judge_many([])
    out = hub.scan(build_index=False)
    second = hub.scan(build_index=False)  # everything judged already: only blocking + lookups of known pairs
    rt.close()
    all_pairs = n * (n - 1) // 2
    return {"sections": n, "approximate": idx.approximate, "index_build_s": round(t_index, 1),
            "scan_s": out["seconds"], "candidate_pairs": out["candidates"], "pairs_judged": out["judged"],
            "all_pairs": all_pairs, "judged_fraction": out["judged"] / all_pairs, "conflicts_found": len(out["detected"]),
            "rescan_s": second["seconds"], "rescan_judged": second["judged"]}


def main(sizes: list[int]) -> list[dict]:
    rows = [one(n) for n in sizes]
    print("| sections | scan | pairs judged | all pairs | judged / all | judged / section | re-scan (nothing new) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['sections']:,} | {r['scan_s']} s | {r['pairs_judged']:,} | {r['all_pairs']:,} | "
              f"{r['judged_fraction']:.2e} | {r['pairs_judged'] / r['sections']:.2f} | {r['rescan_s']} s |")
    res = ROOT / "bench" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "conflict_scan.json").write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main([int(x) for x in (sys.argv[1] if len(sys.argv) > 1 else "10000,100000").split(",")])
