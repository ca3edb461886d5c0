"""Propagation lag: commit in one process -> searchable in another, SQLite and PostgreSQL.

For each database a registry of N sections (hashing embedder: no model, word-exact) and one
`freshgate serve` process (feed poll 0.5 s; PostgreSQL also wakes on NOTIFY). While a thread
sends ~20 lookups/s to each server, this process commits a content update carrying a new unique
word, then asks that server until a lookup cites it. Commits alternate between the databases
(interleaved). Lag = first citing answer - commit; the probe asks every 10 ms, so the figure
includes up to one probe round trip.

    .venv/bin/python bench/propagation_lag.py [SECTIONS=2000] [TRIALS=30]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from sqlmodel import Session

from freshgate.config import Settings
from freshgate.embeddings.embedder import HashingEmbedder
from freshgate.registry.service import RegistryService
from freshgate.runtime import build_runtime, run_sync

PG_ADMIN = os.environ.get("FRESHGATE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PER_DOC = 5


def corpus(root: Path, sections: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(sections // PER_DOC):
        body = f"# Doc {i}\n\n" + "".join(f"## Part {j}\n\nword{i}x{j} common text {j}\n\n" for j in range(PER_DOC))
        (root / f"d{i}.md").write_text(f"---\nid: d{i}\ntitle: Doc {i}\nowner: bench\nlast_verified: -5d\n"
                                       f"verified_by: bench\n---\n{body}", "utf-8")


def env(url: str) -> dict:
    return {**os.environ, "FRESHGATE_DATABASE_URL": url, "FRESHGATE_AUTH__KEY_FILE": tempfile.mktemp(), "FRESHGATE_EMBEDDING__KIND": "hashing",
            "FRESHGATE_SERVER__SCHEDULER": "false", "FRESHGATE_CONFLICTS__SCAN_ON_START": "false",
            "FRESHGATE_CONFLICTS__CHECK_ON_CHANGE": "false", "FRESHGATE_LOOKUP__RELEVANCE_THRESHOLD": "0.2",
            "FRESHGATE_FEED__SNAPSHOT_DIR": ""}


def prepare(url: str, root: Path, sections: int):
    """The registry: the files synced (up to 2k sections), or above that stored directly (random unit
    vectors, as bench/index_startup.py does: the lag of one update does not depend on how the others
    were made, and syncing 10k sections took 2-3 minutes per database on the shared 2-core machine, 100k most of an hour)."""
    s = Settings(database_url=url)
    s.server.scheduler, s.embedding.kind, s.feed.snapshot_dir = False, "hashing", ""
    s.conflicts.check_on_change = False
    s.auth.key_file = str(root.parent / "key")
    rt = build_runtime(s)
    rt.extras["lookup"].use_embedder(HashingEmbedder())
    rt.extras["lookup"].activate()
    if sections <= 2_000:
        assert not run_sync(rt, [root]).failed
    else:
        fill_direct(rt, sections)
    from freshgate.auth.service import KeyService

    with Session(rt.engine) as session:
        _, raw = KeyService(session).create("propagation bench", "operator", None)
        session.commit()
    HEADERS[url] = {"Authorization": f"Bearer {raw}"}
    return rt


HEADERS: dict[str, dict] = {}


def fill_direct(rt, n: int) -> None:
    """n sections of n/5 documents, inserted in bulk with random unit vectors (hashing dimension)."""
    from datetime import datetime, timezone

    import numpy as np
    from sqlalchemy import insert

    from freshgate.registry.models import Document, Owner, Section

    now, rng, dim = datetime.now(timezone.utc), np.random.default_rng(1), HashingEmbedder().dim
    with rt.engine.begin() as conn:
        conn.execute(insert(Owner.__table__), [dict(id="bench", name="bench", contact="b@x", active=True,
                                                    created_at=now)])
        for start in range(0, n // PER_DOC, 2000):
            ids = range(start, min(n // PER_DOC, start + 2000))
            conn.execute(insert(Document.__table__), [dict(
                id=f"d{i}", kind="source", title=f"Doc {i}", owner_id="bench", criticality="medium",
                review_every_days=90, tags=[], tools=[], status="active", version=1, content_hash="x",
                fetch_failures=0, created_at=now, updated_at=now, revision=1, last_verified=now,
                verified_by="bench") for i in ids])
            vecs = rng.standard_normal((len(ids) * PER_DOC, dim)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            conn.execute(insert(Section.__table__), [dict(
                document_id=f"d{i}", version=1, anchor=f"part-{j}", heading=f"Part {j}", level=2, position=j,
                text=f"word{i}x{j} common text {j}", text_hash=f"{i}-{j}", embedding=vecs[k * PER_DOC + j].tobytes())
                for k, i in enumerate(ids) for j in range(PER_DOC)])


def serve(url: str, port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "freshgate", "serve", "--port", str(port)], env=env(url),
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 1800  # 100k sections: the HNSW build takes minutes on a busy machine
    while time.monotonic() < deadline:
        try:
            body = httpx.get(base + "/healthz", timeout=2).json()
            if body.get("lookup", {}).get("index") == "ready":
                return proc
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server on {url} not ready: {log.read_text()[-2000:]}")


def background(bases: list[str], stop: threading.Event, latencies: list[float]) -> None:
    """~20 lookups/s per server."""
    with httpx.Client(timeout=30) as c:
        i = 0
        while not stop.is_set():
            t = time.perf_counter()
            for base in bases:
                c.post(base + "/v1/lookup", json={"query": f"word{i % 300}x1 common text"}, headers=HEADERS[base])
            latencies.append((time.perf_counter() - t) / len(bases))
            i += 1
            stop.wait(max(0.0, 0.05 - (time.perf_counter() - t)))


def trial(rt, base: str, doc_id: str, client: httpx.Client) -> float:
    token = "tok" + uuid.uuid4().hex[:10]
    with Session(rt.engine) as s:
        RegistryService(s, rt.registry_ctx).update_content(
            doc_id, f"# {doc_id}\n\n## Part 0\n\n{token} fresh words\n", actor="bench")
        s.commit()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 30:
        r = client.post(base + "/v1/lookup", json={"query": f"{token} fresh words"}, headers=HEADERS[base]).json()
        if any(c["document_id"] == doc_id for c in r["citations"]):
            return time.perf_counter() - t0
        time.sleep(0.01)
    raise RuntimeError(f"{token} not searchable after 30 s on {base}")


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    sections = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    trials = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    pg_name = "fg_bench_" + uuid.uuid4().hex[:8]
    admin = PG_ADMIN.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{pg_name}"')
    procs, rts = [], []
    try:
        with tempfile.TemporaryDirectory(prefix="fg-lag-") as tmp:
            root = Path(tmp) / "kb"
            if sections <= 2_000:
                corpus(root, sections)
            urls = {"sqlite": f"sqlite:///{Path(tmp) / 'lag.db'}", "postgres": PG_ADMIN.rsplit("/", 1)[0] + "/" + pg_name}
            bases = {}
            for i, (name, url) in enumerate(urls.items()):
                t = time.perf_counter()
                rts.append(prepare(url, root, sections))
                port = 18700 + i + os.getpid() % 1000
                procs.append(serve(url, port, Path(tmp) / f"{name}.log"))
                bases[name] = f"http://127.0.0.1:{port}"
                HEADERS[bases[name]] = HEADERS[url]
                print(f"{name}: {sections} sections ready in {time.perf_counter() - t:.1f}s", flush=True)
            stop, lat = threading.Event(), []
            bg = threading.Thread(target=background, args=(list(bases.values()), stop, lat), daemon=True)
            bg.start()
            lags: dict[str, list[float]] = {k: [] for k in urls}
            with httpx.Client(timeout=30) as client:
                for n in range(trials):
                    for (name, _url), rt in zip(urls.items(), rts):
                        lags[name].append(trial(rt, bases[name], f"d{n % (sections // PER_DOC)}", client))
            stop.set()
            bg.join(10)
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)
        for rt in rts:
            rt.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    load = os.getloadavg()
    print(f"\n{'database':>9} {'sections':>9} {'trials':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, xs in lags.items():
        print(f"{name:>9} {sections:>9} {len(xs):>7} {1e3 * statistics.median(xs):>8.0f} {1e3 * pct(xs, 99):>8.0f} "
              f"{1e3 * max(xs):>8.0f}")
    print(f"background lookups: {len(lat)} rounds, p50 {1e3 * statistics.median(lat):.0f} ms per lookup")
    print(f"load average: {load}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "propagation_lag.json").write_text(json.dumps({"sections": sections, "lag_seconds": lags,
                                                          "loadavg": load}, indent=2))


if __name__ == "__main__":
    main()
