"""Benchmark: remote refresh of 1,000 URLs served locally (mostly 304), bounded concurrency.

A uvicorn server in a separate process serves /doc/<i> with ETags. Round "first fetch": every
document gets new content (1,000 x 200 -> new versions). Round "steady": 95% answer 304 Not
Modified and 5% have changed (200 -> new version). We time `remote.jobs.refresh` end to end
(fetch + database writes) and the fetch phase alone at several concurrency limits.
Registry listeners (embedding) are detached so the numbers are about fetching.

    .venv/bin/python bench/remote_refresh.py [--urls 1000] [--database-url URL]
Prints a table and writes bench/results/remote_refresh.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

from freshgate.app import build_runtime
from freshgate.config import Settings
from freshgate.markdown.parse import parse_text
from freshgate.registry.service import RegistryService
from freshgate.remote import jobs
from freshgate.remote.fetch import FetchPolicy
from freshgate.remote.service import targets
from freshgate.db import session_scope

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
RESULTS = Path(__file__).parent / "results"
ROUND = multiprocessing.Value("i", 0)


async def app(scope, receive, send):
    """ASGI: /doc/<i> with ETag "<i>-<gen>"; gen moves for every 20th document from round 2 on."""
    if scope["type"] != "http":
        return
    i = int(scope["path"].rsplit("/", 1)[-1])
    gen = ROUND.value if i % 20 == 0 else min(ROUND.value, 1)
    etag = f'"{i}-{gen}"'.encode()
    inm = dict(scope["headers"]).get(b"if-none-match")
    if inm == etag:
        await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", etag)]})
        await send({"type": "http.response.body", "body": b""})
        return
    body = f"# Document {i}\n\n## Rule\n\nGeneration {gen} of document {i}: refunds within {14 + gen} days.\n".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/markdown; charset=utf-8"), (b"etag", etag),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _serve(port: int) -> None:
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, http="h11")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int) -> None:
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}/doc/1", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("benchmark server did not start")


def register(rt, n: int, port: int) -> None:
    """n sources whose url points at the local server."""
    with session_scope(rt.engine) as s:
        svc = RegistryService(s, rt.registry_ctx)
        for i in range(n):
            text = (f"---\nid: doc-{i}\ntitle: Document {i}\nowner: owner-{i % 10}\nreview_every: 90d\n"
                    f"last_verified: 2026-11-01\nurl: http://127.0.0.1:{port}/doc/{i}\n---\n# Document {i}\n\nSeed.\n")
            svc.register(parse_text(text, path=f"doc-{i}.md", now=NOW), actor="bench")


def main() -> None:
    """Run the rounds and print/write the results."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--urls", type=int, default=1000)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    port = _free_port()
    server = multiprocessing.Process(target=_serve, args=(port,), daemon=True)
    server.start()
    _wait(port)
    settings = Settings(database_url=url)
    settings.server.scheduler = False
    settings.remote.allow_networks = ["127.0.0.0/8"]
    rt = build_runtime(settings)
    rt.registry_ctx.listeners.clear()
    rows = []
    try:
        register(rt, args.urls, port)
        for name, rnd in (("first fetch (all 200, new versions)", 1), ("steady (95% 304, 5% changed)", 2)):
            ROUND.value = rnd
            t = time.perf_counter()
            summary = jobs.refresh(rt, NOW + timedelta(minutes=15 * rnd))
            wall = time.perf_counter() - t
            rows.append({"round": name, "concurrency": settings.remote.concurrency, "urls": args.urls,
                         "wall_s": round(wall, 3), "req_per_s": round(args.urls / wall, 1), "summary": summary})
        with session_scope(rt.engine) as s:
            items = targets(s)
        for conc in (1, 4, 16, 64):
            t = time.perf_counter()
            res = asyncio.run(jobs.fetch_all(items, FetchPolicy.from_settings(settings.remote), conc))
            wall = time.perf_counter() - t
            rows.append({"round": "fetch only (all 304)", "concurrency": conc, "urls": len(items),
                         "wall_s": round(wall, 3), "req_per_s": round(len(items) / wall, 1),
                         "summary": {"not_modified": sum(r.status == "not_modified" for r in res)}})
    finally:
        rt.close()
        server.terminate()
    print(f"{'round':40} {'conc':>5} {'urls':>6} {'wall s':>8} {'req/s':>8}  outcome")
    for r in rows:
        print(f"{r['round']:40} {r['concurrency']:>5} {r['urls']:>6} {r['wall_s']:>8.3f} {r['req_per_s']:>8.1f}  "
              f"{json.dumps({k: v for k, v in r['summary'].items() if k != 'errors'})}")
    RESULTS.mkdir(exist_ok=True)
    out = {"database": url.split(":", 1)[0], "cpus": multiprocessing.cpu_count(), "python": sys.version.split()[0],
           "rows": rows}
    (RESULTS / "remote_refresh.json").write_text(json.dumps(out, indent=2))
    print(f"wrote {RESULTS / 'remote_refresh.json'}")


if __name__ == "__main__":
    main()
