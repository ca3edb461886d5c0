"""Where a lookup's time goes, in process: cProfile of what POST /v1/lookup runs after the HTTP
layer (`lookup_and_commit` in a fresh session per lookup), SQL statements per lookup, CPU ms per lookup.

Uses a database built by `bench/lookup_throughput.py` (DB_DIR/fg-N.db). Prints the top functions
by own time and by cumulative time; writes bench/results/lookup_profile.json.

    PYTHONPATH=src .venv/bin/python bench/lookup_profile.py DB_FILE [LOOKUPS=200]
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import sys
import time
from pathlib import Path

from sqlalchemy import event

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from action_check import agent_key  # noqa: E402
from lookup_latency import QUERIES  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402

from freshgate.app import create_app  # noqa: E402
from freshgate.config import Settings  # noqa: E402
from freshgate.lookup.api import lookup_and_commit, service_for  # noqa: E402
from freshgate.lookup.schemas import LookupIn  # noqa: E402
from freshgate.runtime import build_runtime  # noqa: E402
from sqlmodel import Session  # noqa: E402


def main() -> None:
    db = Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    s = Settings(database_url=f"sqlite:///{db}")
    s.server.scheduler = False
    s.embedding.backend = "onnx"
    s.conflicts.scan_on_start = False
    s.auth.key_file = str(db.with_suffix(".key"))
    s.auth.allowed_hosts = ["testserver"]
    rt = build_runtime(s)
    key = agent_key(db)
    statements: list[str] = []
    event.listen(rt.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with TestClient(create_app(s, runtime=rt), headers={"Authorization": f"Bearer {key}"}) as c:
        rt.extras["lookup"].wait_ready(timeout=1800)
        for q in QUERIES:
            c.post("/v1/lookup", json={"query": q}).raise_for_status()
        statements.clear()
        prof = cProfile.Profile()
        c0, t0 = time.process_time(), time.perf_counter()
        prof.enable()
        for i in range(n):  # what the route does, minus HTTP (the ASGI server profiles in its own threads)
            with Session(rt.engine) as session:
                lookup_and_commit(service_for(rt, session), LookupIn(query=QUERIES[i % len(QUERIES)]))
        prof.disable()
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        per_lookup = len(statements) / n
        kinds: dict[str, int] = {}
        for st in statements:
            head = " ".join(st.split()[:4])[:60]
            kinds[head] = kinds.get(head, 0) + 1
    rt.close()
    for key_ in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(key_).print_stats(30)
        print(buf.getvalue()[:6000])
    print(f"{n} lookups: {1e3 * cpu / n:.1f} CPU ms and {1e3 * wall / n:.1f} wall ms per lookup (profiled); "
          f"{per_lookup:.1f} SQL statements per lookup; load {os.getloadavg()}")
    for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"{v / n:6.2f}/lookup  {k}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "lookup_profile.json").write_text(json.dumps({"lookups": n, "cpu_ms": 1e3 * cpu / n,
                                                        "statements_per_lookup": per_lookup, "statements": kinds,
                                                        "load": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    main()
