"""Ingest throughput: sections embedded per second during `sync` vs the model's raw `encode`.

Corpus: the documents of decisions-dev.jsonl written as Markdown files, four documents per
file as four `##` sections (real web text of varied length). In the same run: the raw
`encode` throughput on exactly the texts the sync embeds, then a sync into a fresh SQLite
registry (embedding at commit, batched across files), with only the lookup listener and then
with every domain's listeners. Each embedding backend (torch, ONNX Runtime) is measured
against its own raw throughput, backends interleaved in the same run. Target: ingest / raw >= 0.85.

    .venv/bin/python bench/ingest.py [FILES=200] [BACKENDS=onnx,torch]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from freshgate.app import build_runtime, run_sync
from freshgate.config import Settings
from freshgate.embeddings.embedder import SentenceTransformerEmbedder
from freshgate.lookup.indexing import embedding_text
from freshgate.markdown.sections import split_sections

DEV = Path("/work/shared/eval/decisions-dev.jsonl")


def write_corpus(root: Path, files: int) -> list[str]:
    """Markdown files of four sections each; returns the texts the sync will embed."""
    docs = [d for line in DEV.read_text().splitlines() if line.strip() for d in json.loads(line)["documents"]]
    root.mkdir(parents=True, exist_ok=True)
    texts = []
    for i in range(files):
        title = f"Evidence file {i}"
        body = f"# {title}\n\n" + "".join(f"## Passage {j}\n\n{docs[(4 * i + j) % len(docs)]['text']}\n\n" for j in range(4))
        (root / f"f{i:05d}.md").write_text(f"---\nid: f{i:05d}\ntitle: {title}\nowner: bench\nlast_verified: 2026-11-01\n"
                                           f"review_every: 90d\n---\n{body}", "utf-8")
        texts += [embedding_text(title, s.text) for s in split_sections(body, f"f{i:05d}")]
    return texts


def ingest(root: Path, embedder, db: Path, lookup_only: bool) -> tuple[float, int]:
    """Seconds to sync `root` into a fresh registry and the sections embedded."""
    s = Settings(database_url=f"sqlite:///{db}")
    s.server.scheduler = False
    rt = build_runtime(s)
    try:
        eng = rt.extras["lookup"]
        eng.use_embedder(embedder)
        eng.activate()
        if lookup_only:
            rt.registry_ctx.listeners[:] = [rt.registry_ctx.listeners[0]]  # the lookup indexer is wired first
        t = time.perf_counter()
        report = run_sync(rt, [root])
        dt = time.perf_counter() - t
        assert not report.failed, report.failed[:3]
        from sqlalchemy import text

        with rt.engine.connect() as c:
            n = c.execute(text("SELECT COUNT(*) FROM section WHERE embedding IS NOT NULL")).scalar()
        return dt, n
    finally:
        rt.close()


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    backends = (sys.argv[2] if len(sys.argv) > 2 else "onnx,torch").split(",")
    embs = {b: SentenceTransformerEmbedder(backend=b) for b in backends}
    for emb in embs.values():
        emb.encode(["warm up the model"] * 8)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "corpus"
        texts = write_corpus(root, files)
        for b, emb in embs.items():
            load = os.getloadavg()[0]
            t = time.perf_counter()
            emb.encode(texts)
            raw = len(texts) / (time.perf_counter() - t)
            rows.append({"backend": b, "what": "raw encode (same texts, one call)", "sections": len(texts), "per_s": raw,
                         "ratio": 1.0, "load": load})
            for lookup_only in (True, False):
                load = os.getloadavg()[0]
                dt, n = ingest(root, emb, Path(tmp) / f"fg{b}{int(lookup_only)}.db", lookup_only)
                rows.append({"backend": b, "what": "sync, lookup listener only" if lookup_only else "sync, all domains wired",
                             "sections": n, "per_s": n / dt, "ratio": n / dt / raw, "seconds": dt, "load": load})
    load = os.getloadavg()
    print(f"{files} files, {len(texts)} sections; load average {load[0]:.1f} on {os.cpu_count()} cores at end")
    print(f"{'backend':7} {'what':40} {'sections':>8} {'sections/s':>10} {'vs raw':>7} {'load':>5}")
    for r in rows:
        print(f"{r['backend']:7} {r['what']:40} {r['sections']:8d} {r['per_s']:10.1f} {r['ratio']:7.2f} {r['load']:5.1f}")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "ingest.json").write_text(json.dumps({"files": files, "load_average": load, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
