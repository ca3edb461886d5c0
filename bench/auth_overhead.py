"""What key authentication adds to a lookup: p50/p99 with `auth.mode = keys` vs `off`, interleaved.

One SQLite registry of SECTIONS generated sections (5 per document, synced and embedded with the
deterministic hashing embedder, so the model's noise does not hide a fraction of a millisecond),
one runtime, two real uvicorn servers on it: one requiring an agent key, one with auth off.
ROUNDS rounds; per round a block of REQUESTS sequential `POST /v1/lookup` against each server
(order alternating per round), each block with the load average. The difference of the pooled
p50s is the cost of the gate (Host check, body limit, route match, key lookup (cached), policy).
Table + bench/results/auth_overhead.json.

    .venv/bin/python bench/auth_overhead.py [SECTIONS=10000] [REQUESTS=200] [ROUNDS=6]
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


def corpus(root: Path, sections: int) -> None:
    """Markdown documents of 5 sections each."""
    src = root / "sources"
    src.mkdir(parents=True)
    for d in range(sections // 5):
        parts = [f"---\nid: doc-{d}\nowner: owner-{d % 50}\nlast_verified: -10d\n---\n# Document {d}\n"]
        for k in range(5):
            w = [WORDS[(d * 7 + k * 3 + i) % len(WORDS)] for i in range(12)]
            parts.append(f"\n## {w[0]} {w[1]} {k}\n\n{' '.join(w)} rule {d}-{k}.\n")
        (src / f"doc-{d}.md").write_text("".join(parts))


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


def gate_block(app, settings, headers: dict, n: int) -> list[float]:
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

        for _ in range(n + 50):
            t = time.perf_counter()
            await mw(dict(scope, state={}), receive, send)
            out.append(1e3 * (time.perf_counter() - t))
        return out[50:]

    return asyncio.run(run())


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
    corpus(tmp, sections)
    t = time.perf_counter()
    report = run_sync(rt, [tmp / "sources"])
    lk.warm_up()
    print(f"{len(report.added)} documents, {len(lk.index)} sections indexed in {time.perf_counter() - t:.0f} s")
    off = s.model_copy(deep=True)
    off.auth.mode = "off"
    key = make_key(rt.engine, "agent", label="bench agent")
    variants = {"keys": (create_app(s, runtime=rt), {"Authorization": f"Bearer {key}"}),
                "off": (create_app(off, runtime=rt), {})}
    samples: dict[tuple[str, str], list[float]] = {(w, v): [] for w in ("lookup", "document") for v in variants}
    blocks = []
    from contextlib import ExitStack

    gate: dict[str, list[float]] = {v: [] for v in variants}
    for app, _ in variants.values():
        app.state.engine = rt.engine  # (set by the lifespan too, once the servers start)
    for r in range(rounds):  # the gate alone, interleaved, before the HTTP rounds
        for v in (list(variants) if r % 2 == 0 else list(reversed(variants))):
            gate[v] += gate_block(variants[v][0], s if v == "keys" else off, variants[v][1], 2000)
    with ExitStack() as stack:
        urls = {v: stack.enter_context(serve(app)) for v, (app, _) in variants.items()}
        for r in range(rounds):
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            for what in ("lookup", "document"):
                for v in order:
                    xs = block(urls[v], variants[v][1], requests, what)
                    samples[(what, v)] += xs
                    blocks.append({"round": r, "request": what, "variant": v, "p50_ms": round(pct(xs, .5), 3),
                                   "p99_ms": round(pct(xs, .99), 3), "load": os.getloadavg()})
                    print(f"round {r} {what:8s} {v:5s} p50 {pct(xs, .5):7.3f} ms  p99 {pct(xs, .99):7.3f} ms  "
                          f"load {os.getloadavg()[0]:.2f}", flush=True)
    rows = {f"{w}/{v}": {"p50_ms": round(pct(xs, .5), 3), "p99_ms": round(pct(xs, .99), 3), "n": len(xs),
                         "median_of_block_p50_ms": round(statistics.median(
                             b["p50_ms"] for b in blocks if (b["request"], b["variant"]) == (w, v)), 3)}
            for (w, v), xs in samples.items()}
    added = {w: round(rows[f"{w}/keys"]["median_of_block_p50_ms"] - rows[f"{w}/off"]["median_of_block_p50_ms"], 3)
             for w in ("lookup", "document")}
    print(f"\n{len(lk.index)} sections, {rounds} rounds x {requests} requests per block, load {os.getloadavg()}")
    print(f"{'request/auth':16s} {'p50 ms':>8s} {'p99 ms':>8s} {'block-median p50':>17s}")
    for v, row in rows.items():
        print(f"{v:16s} {row['p50_ms']:8.3f} {row['p99_ms']:8.3f} {row['median_of_block_p50_ms']:17.3f}")
    for w, a in added.items():
        print(f"added by key auth ({w}, median of block p50s): {a:+.3f} ms (target <= 0.5 ms)")
    for v, xs in gate.items():
        rows[f"gate-only/{v}"] = {"p50_ms": round(pct(xs, .5), 4), "p99_ms": round(pct(xs, .99), 4), "n": len(xs)}
        print(f"gate alone, {v:4s}: p50 {pct(xs, .5) * 1e3:7.1f} us  p99 {pct(xs, .99) * 1e3:7.1f} us  (n={len(xs)})")
    added["gate_only"] = round(pct(gate["keys"], .5) - pct(gate["off"], .5), 4)
    print(f"gate alone, added by key auth at p50: {added['gate_only'] * 1e3:+.1f} us")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "auth_overhead.json").write_text(json.dumps({
        "sections": len(lk.index), "requests": requests, "rounds": rounds, "embedder": "hashing (deterministic)",
        "results": rows, "added_p50_ms": added, "blocks": blocks, "load_end": os.getloadavg()}, indent=2))
    rt.close()


if __name__ == "__main__":
    main()
