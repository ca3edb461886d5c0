"""Lookup latency with the change feed followed vs not followed, at N sections (issue 10).

A SQLite registry of N sections with stored 384-dimension vectors (bench/index_startup.py's
`fill`; queries embedded as random vectors: this measures the lookup path, not a model). One
process, one runtime, lookups through the lookup service (decision, freshness, receipt commit).
Another runtime in the same process commits one content update every second throughout, embedding
it at commit as a replica or a sync does (so the follower has real work: a changed document to
reload). Before each feed block the follower first catches up with what the previous block let pass. Variants, interleaved in blocks:
`feed` (the follower polls every feed.poll_interval and applies the changes) and `no-feed`
(follower stopped). p50/p99 wall ms and CPU ms per lookup (process CPU while the block ran,
which includes the follower and the writer: the honest cost), ratio feed/no-feed.

    .venv/bin/python bench/feed_overhead.py [SECTIONS=100000] [LOOKUPS=200] [ROUNDS=4] [WRITER=1]

WRITER=0: nobody writes, so the feed variant measures only following an idle feed (polls).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from index_startup import StoredOnly, fill, settings  # noqa: E402

from freshgate.lookup.api import service_for  # noqa: E402
from freshgate.lookup.schemas import LookupIn  # noqa: E402
from freshgate.lookup.wiring import follow  # noqa: E402
from freshgate.registry.service import RegistryService  # noqa: E402
from freshgate.runtime import build_runtime  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def writer(rt, stop: threading.Event, docs: int, counter: list[int]) -> None:
    """One committed content update per second, on a document of its own choosing."""
    i = 0
    while not stop.wait(1.0):
        doc_id = f"d{(i * 7919) % docs}"
        with Session(rt.engine) as s:
            RegistryService(s, rt.registry_ctx).update_content(
                doc_id, f"# {doc_id}\n\n## S0\n\nupdate {uuid.uuid4().hex[:8]}\n", actor="bench")
            s.commit()
        counter[0] += 1
        i += 1


def block(rt, n: int, offset: int) -> tuple[list[float], float]:
    walls = []
    cpu0 = time.process_time()
    for i in range(n):
        t = time.perf_counter()
        with Session(rt.engine, expire_on_commit=False) as session:
            svc = service_for(rt, session)
            svc.lookup(LookupIn(query=f"question {offset + i} about the registry"))
            session.commit()
        walls.append(time.perf_counter() - t)
    return walls, (time.process_time() - cpu0) / n


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    lookups = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    writing = (sys.argv[4] if len(sys.argv) > 4 else "1") != "0"
    results: dict[str, dict] = {"feed": {"wall": [], "cpu": []}, "no-feed": {"wall": [], "cpu": []}}
    loads = []
    with tempfile.TemporaryDirectory(prefix="fg-feed-") as tmp:
        db = Path(tmp) / "feed.db"
        t = time.perf_counter()
        fill(db, n)
        print(f"{n} sections stored in {time.perf_counter() - t:.1f}s", flush=True)
        s = settings(db, "")
        s.feed.poll_interval = 0.5
        s.conflicts.check_on_change = False
        rt = build_runtime(s)
        other = build_runtime(settings(db, ""))  # the writer: another runtime that embeds what it writes, as a
        other.extras["lookup"].use_embedder(StoredOnly())  # replica or `freshgate sync` does
        other.extras["lookup"].activate()
        lk = rt.extras["lookup"]
        lk.use_embedder(StoredOnly())
        lk.warm_up()
        assert lk.index.ready, lk.index_error
        stop, writes = threading.Event(), [0]
        w = threading.Thread(target=writer, args=(other, stop, n // 5, writes), daemon=True)
        if writing:
            w.start()
        stop_following = None
        try:
            for r in range(rounds):
                for variant in (("feed", "no-feed") if r % 2 == 0 else ("no-feed", "feed")):
                    if variant == "feed":
                        stop_following = follow(rt)
                        deadline = time.monotonic() + 30  # caught up with what the no-feed block let pass
                        while time.monotonic() < deadline and rt.extras["feed"].health()["lag_changes"] != 0:
                            time.sleep(0.1)
                    walls, cpu = block(rt, lookups, r * lookups)
                    if variant == "feed":
                        follower = rt.extras["feed"]
                        applied = follower.applied
                        stop_following()
                        rt.extras.pop("feed", None)
                    results[variant]["wall"] += walls
                    results[variant]["cpu"].append(cpu)
                    loads.append(os.getloadavg()[0])
                    print(f"round {r} {variant:>8}: p50 {1e3 * statistics.median(walls):.1f} ms, cpu "
                          f"{1e3 * cpu:.1f} ms/lookup, load {loads[-1]:.2f}"
                          + (f", follower applied {applied} changes so far" if variant == "feed" else ""), flush=True)
        finally:
            stop.set()
            if writing:
                w.join(10)
            rt.close()
            other.close()
    rows = {}
    for v, d in results.items():
        rows[v] = {"p50_ms": 1e3 * statistics.median(d["wall"]), "p99_ms": 1e3 * pct(d["wall"], 99),
                   "cpu_ms_per_lookup": 1e3 * statistics.mean(d["cpu"]), "lookups": len(d["wall"])}
    print(f"\n{'variant':>8} {'lookups':>8} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms/op':>10}")
    for v, row in rows.items():
        print(f"{v:>8} {row['lookups']:>8} {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} {row['cpu_ms_per_lookup']:>10.1f}")
    ratio = {k: rows["feed"][k] / rows["no-feed"][k] for k in ("p50_ms", "p99_ms", "cpu_ms_per_lookup")}
    print("ratio feed/no-feed: " + ", ".join(f"{k} {v:.3f}" for k, v in ratio.items()))
    print(f"writes committed meanwhile: {writes[0]}; load average per block: {[round(x, 2) for x in loads]}; "
          f"now {os.getloadavg()}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"feed_overhead{'' if writing else '_idle'}.json").write_text(json.dumps({"sections": n, "rows": rows, "ratio": ratio,
                                                        "writes": writes[0], "loadavg": loads}, indent=2))


if __name__ == "__main__":
    main()
