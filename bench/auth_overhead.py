"""What key authentication adds to a lookup: p50/p99 with `auth.mode = keys` vs `off`, interleaved.

One SQLite registry of SECTIONS generated sections (6 per document: a title and 5 parts, embedded with the deterministic
hashing embedder, so the model's noise does not hide a fraction of a millisecond): the first SYNCED
sections (default 2,000) go through `run_sync` like real files; the rest are the same kind of
documents written in bulk (document, version and sections rows with their hashing vectors, as
bench/lookup_latency.py does), because syncing 100k sections file by file takes far longer than the
measurement and is measured by bench/sync_files.py. One runtime, two real uvicorn servers on it:
one requiring an agent key, one with auth off.
ROUNDS rounds; per round a block of REQUESTS sequential `POST /v1/lookup` against each server
(order alternating per round), each block with the load average. The difference of the pooled
p50s is the cost of the gate (Host check, body limit, route match, key lookup (cached), policy).
Table + bench/results/auth_overhead.json.

    .venv/bin/python bench/auth_overhead.py [SECTIONS=10000] [SYNCED=2000] [REQUESTS=200] [ROUNDS=6]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from freshgate.app import build_runtime, create_app, run_sync  # noqa: E402
from freshgate.config import Settings  # noqa: E402
from freshgate.embeddings.embedder import HashingEmbedder  # noqa: E402
from tests.conftest import make_key  # noqa: E402
from tests.lookup.live import serve  # noqa: E402

WORDS = ("refund window invoice carrier parcel warranty discount approval chargeback retention vendor "
         "uptime credit escalation password export replacement shipping pricing plan customer").split()
QUERIES = ["what is our refund window?", "how do I handle a chargeback?", "how long do we keep data?",
           "what discount can I give?", "a parcel was lost", "service credit for an outage"]


PER_DOC = 6  # sections per generated document: "# Document d" and its 5 parts


def sections_of(d: int) -> list[tuple[str, str]]:
    """(heading, text) of document d's 5 sections."""
    out = []
    for k in range(5):
        w = [WORDS[(d * 7 + k * 3 + i) % len(WORDS)] for i in range(12)]
        out.append((f"{w[0]} {w[1]} {k}", f"{' '.join(w)} rule {d}-{k}."))
    return out


def corpus(root: Path, sections: int) -> None:
    """Markdown documents of PER_DOC sections each (the title heading is a section of its own)."""
    src = root / "sources"
    src.mkdir(parents=True)
    for d in range(sections // PER_DOC):
        parts = [f"---\nid: doc-{d}\nowner: owner-{d % 50}\nlast_verified: -10d\n---\n# Document {d}\n"]
        parts += [f"\n## {h}\n\n{t}\n" for h, t in sections_of(d)]
        (src / f"doc-{d}.md").write_text("".join(parts))


def bulk(rt, first: int, last: int) -> None:
    """Documents first..last-1 as corpus() would sync them (same body, same section split), written in bulk;
    their sections are embedded by the indexer's own `embed_pending` with the hashing embedder."""
    import hashlib
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import insert
    from sqlmodel import Session

    from freshgate import db
    from freshgate.lookup.indexing import embed_pending
    from freshgate.markdown.sections import split_sections
    from freshgate.registry.models import Document, DocumentVersion, Section
    from freshgate.registry.service import RegistryService

    now = datetime.now(timezone.utc)
    with db.session_scope(rt.engine) as session:
        for o in range(50):
            RegistryService(session).ensure_owner(f"owner-{o}", f"Owner {o}", f"owner-{o}@example.com", actor="bench")
    for start in range(first, last, 2000):
        ids = range(start, min(last, start + 2000))
        docs, versions, secs = [], [], []
        for d in ids:
            body = f"# Document {d}\n" + "".join(f"\n## {h}\n\n{t}\n" for h, t in sections_of(d))
            digest, doc_id = hashlib.sha256(body.encode()).hexdigest(), f"doc-{d}"
            docs.append(dict(id=doc_id, kind="source", title=f"Document {d}", owner_id=f"owner-{d % 50}",
                             criticality="medium", review_every_days=90, last_verified=now - timedelta(days=10),
                             tags=[], tools=[], status="active", version=1, content_hash=digest, fetch_failures=0,
                             created_at=now, updated_at=now, revision=1))
            versions.append(dict(document_id=doc_id, version=1, content=body, content_hash=digest,
                                 front_matter={"id": doc_id, "owner": f"owner-{d % 50}"}, origin="file",
                                 created_by="bench", created_at=now))
            secs += [dict(document_id=doc_id, version=1, anchor=x.anchor, heading=x.heading, level=x.level,
                          position=x.position, text=x.text, text_hash=x.text_hash) for x in split_sections(body, doc_id)]
        with rt.engine.begin() as c:
            c.execute(insert(Document), docs)
            c.execute(insert(DocumentVersion), versions)
            c.execute(insert(Section), secs)
        with Session(rt.engine) as session:
            embed_pending(session, HashingEmbedder(), [f"doc-{d}" for d in ids])
            session.commit()


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def block(url: str, headers: dict, n: int, what: str) -> list[float]:
    out = []
    with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
        def call(i: int):
            if what == "lookup":
                return c.post("/v1/lookup", json={"query": QUERIES[i % len(QUERIES)]})
            return c.get(f"/v1/documents/doc-{i % 50}")  # a cheap read: the gate is a bigger share of it
        call(0)  # connection warm
        for i in range(n):
            t = time.perf_counter()
            r = call(i)
            out.append(1e3 * (time.perf_counter() - t))
            assert r.status_code == 200, r.text
    return out


def gate_block(app, settings, headers: dict, n: int, gate_cpu: list[float]) -> list[float]:
    """The gate alone: the auth middleware around an app that answers 204 at once (microseconds)."""
    import asyncio

    from freshgate.auth.deps import AuthMiddleware

    async def inner(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    mw = AuthMiddleware(inner, fastapi_app=app, settings=settings.auth, bind_host="127.0.0.1")
    hdrs = [(b"host", b"127.0.0.1:8080"), (b"content-type", b"application/json"), (b"content-length", b"20")]
    hdrs += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {"type": "http", "method": "POST", "path": "/v1/lookup", "raw_path": b"/v1/lookup", "query_string": b"",
             "headers": hdrs, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8080), "scheme": "http",
             "http_version": "1.1", "root_path": ""}

    async def run() -> list[float]:
        out = []

        async def receive():
            return {"type": "http.request", "body": b'{"query": "refunds"}', "more_body": False}

        async def send(msg):
            if msg["type"] == "http.response.start":
                assert msg["status"] == 204, msg

        for i in range(n + 50):
            if i == 50:
                cpu[0] = time.thread_time()
            t = time.perf_counter()
            await mw(dict(scope, state={}), receive, send)
            out.append(1e3 * (time.perf_counter() - t))
        cpu[0] = 1e3 * (time.thread_time() - cpu[0]) / n
        return out[50:]

    cpu = [0.0]
    out = asyncio.run(run())
    gate_cpu.append(cpu[0])
    return out


def main() -> None:
    import logging

    logging.disable(logging.INFO)
    sections = int(os.environ.get("SECTIONS", 10000))
    requests, rounds = int(os.environ.get("REQUESTS", 200)), int(os.environ.get("ROUNDS", 6))
    tmp = Path(tempfile.mkdtemp(prefix="fg-auth-bench-"))
    s = Settings(database_url=f"sqlite:///{tmp / 'fg.db'}")
    s.server.scheduler, s.lookup.warm_up, s.conflicts.check_on_change = False, False, False
    s.auth.key_file = str(tmp / "key")
    rt = build_runtime(s)
    lk = rt.extras["lookup"]
    lk.use_embedder(HashingEmbedder())
    lk.activate()
    synced = min(sections, int(os.environ.get("SYNCED", 2000)))
    corpus(tmp, synced)
    t = time.perf_counter()
    report = run_sync(rt, [tmp / "sources"])
    print(f"{len(report.added)} documents synced in {time.perf_counter() - t:.0f} s", flush=True)
    t = time.perf_counter()
    bulk(rt, synced // PER_DOC, sections // PER_DOC)
    lk.warm_up()
    print(f"{sections // PER_DOC - synced // PER_DOC} documents written in bulk; {len(lk.index)} sections indexed in "
          f"{time.perf_counter() - t:.0f} s", flush=True)
    off = s.model_copy(deep=True)
    off.auth.mode = "off"
    key = make_key(rt.engine, "agent", label="bench agent")
    variants = {"keys": (create_app(s, runtime=rt), {"Authorization": f"Bearer {key}"}),
                "off": (create_app(off, runtime=rt), {})}
    samples: dict[tuple[str, str], list[float]] = {(w, v): [] for w in ("lookup", "document") for v in variants}
    blocks = []
    from contextlib import ExitStack

    gate: dict[str, list[float]] = {v: [] for v in variants}
    gate_cpu: dict[str, list[float]] = {v: [] for v in variants}  # CPU ms per call, one per block
    for app, _ in variants.values():
        app.state.engine = rt.engine  # (set by the lifespan too, once the servers start)
    for r in range(rounds):  # the gate alone, interleaved, before the HTTP rounds
        for v in (list(variants) if r % 2 == 0 else list(reversed(variants))):
            gate[v] += gate_block(variants[v][0], s if v == "keys" else off, variants[v][1], 2000, gate_cpu[v])
    with ExitStack() as stack:
        urls = {v: stack.enter_context(serve(app)) for v, (app, _) in variants.items()}
        for r in range(rounds):
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            for what in ("lookup", "document"):
                for v in order:
                    c0 = time.process_time()  # client and both servers share this process: the client's
                    xs = block(urls[v], variants[v][1], requests, what)  # share is the same for both variants
                    cpu = 1e3 * (time.process_time() - c0) / (requests + 1)
                    samples[(what, v)] += xs
                    blocks.append({"round": r, "request": what, "variant": v, "p50_ms": round(pct(xs, .5), 3),
                                   "p99_ms": round(pct(xs, .99), 3), "cpu_ms_per_request": round(cpu, 3),
                                   "load": os.getloadavg()})
                    print(f"round {r} {what:8s} {v:5s} p50 {pct(xs, .5):7.3f} ms  p99 {pct(xs, .99):7.3f} ms  "
                          f"cpu {cpu:7.3f} ms/request  load {os.getloadavg()[0]:.2f}", flush=True)
    rows = {f"{w}/{v}": {"p50_ms": round(pct(xs, .5), 3), "p99_ms": round(pct(xs, .99), 3), "n": len(xs),
                         "median_of_block_p50_ms": round(statistics.median(
                             b["p50_ms"] for b in blocks if (b["request"], b["variant"]) == (w, v)), 3),
                         "median_cpu_ms_per_request": round(statistics.median(
                             b["cpu_ms_per_request"] for b in blocks if (b["request"], b["variant"]) == (w, v)), 3)}
            for (w, v), xs in samples.items()}
    added = {w: round(rows[f"{w}/keys"]["median_of_block_p50_ms"] - rows[f"{w}/off"]["median_of_block_p50_ms"], 3)
             for w in ("lookup", "document")}
    print(f"\n{len(lk.index)} sections, {rounds} rounds x {requests} requests per block, load {os.getloadavg()}")
    cpu_added = {w: round(rows[f"{w}/keys"]["median_cpu_ms_per_request"] - rows[f"{w}/off"]["median_cpu_ms_per_request"],
                          3) for w in ("lookup", "document")}
    print(f"{'request/auth':16s} {'p50 ms':>8s} {'p99 ms':>8s} {'block-median p50':>17s} {'cpu ms/req':>11s}")
    for v, row in rows.items():
        print(f"{v:16s} {row['p50_ms']:8.3f} {row['p99_ms']:8.3f} {row['median_of_block_p50_ms']:17.3f} "
              f"{row['median_cpu_ms_per_request']:11.3f}")
    for w, a in added.items():
        print(f"added by key auth ({w}): {a:+.3f} ms at p50 (median of block p50s; target <= 0.5 ms), "
              f"{cpu_added[w]:+.3f} ms CPU per request")
    for v, xs in gate.items():
        c = statistics.median(gate_cpu[v])
        rows[f"gate-only/{v}"] = {"p50_ms": round(pct(xs, .5), 4), "p99_ms": round(pct(xs, .99), 4), "n": len(xs),
                                  "median_cpu_ms_per_request": round(c, 4)}
        print(f"gate alone, {v:4s}: p50 {pct(xs, .5) * 1e3:7.1f} us  p99 {pct(xs, .99) * 1e3:7.1f} us  "
              f"cpu {c * 1e3:6.1f} us/call  (n={len(xs)})")
    added["gate_only"] = round(pct(gate["keys"], .5) - pct(gate["off"], .5), 4)
    cpu_added["gate_only"] = round(statistics.median(gate_cpu["keys"]) - statistics.median(gate_cpu["off"]), 4)
    print(f"gate alone, added by key auth: {added['gate_only'] * 1e3:+.1f} us at p50, "
          f"{cpu_added['gate_only'] * 1e3:+.1f} us CPU per call")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "auth_overhead.json").write_text(json.dumps({
        "sections": len(lk.index), "synced_sections": synced, "requests": requests, "rounds": rounds,
        "embedder": "hashing (deterministic)",
        "results": rows, "added_p50_ms": added, "added_cpu_ms_per_request": cpu_added, "blocks": blocks, "load_end": os.getloadavg()}, indent=2))
    rt.close()


if __name__ == "__main__":
    main()
