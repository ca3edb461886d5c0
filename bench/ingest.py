"""Ingest throughput: sections embedded per second during `sync` vs the model's raw `encode`.

Corpus: the documents of decisions-dev.jsonl written as Markdown files, four documents per
file as four `##` sections (real web text of varied length). In the same run: the raw
`encode` throughput on exactly the texts the sync embeds, then a sync into a fresh SQLite
registry (embedding at commit, batched across files), with only the lookup listener and then
with every domain's listeners. Variants: onnx (token-budget batches), onnx32 (32 texts per batch,
the batching before the budget), torch; each is measured against its own raw throughput and
against the fastest raw encode of the round, variants interleaved round by round in one run.
Target (#17): sync >= 0.85 x the fastest raw encode. Also printed: the share of padding in what ONNX encodes.

    .venv/bin/python bench/ingest.py [FILES=200] [VARIANTS=onnx,torch] [ROUNDS=1]
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
from freshgate.markdown.sections import context_texts, split_sections

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
        texts += context_texts(title, split_sections(body, f"f{i:05d}"))  # as indexing.document_texts
    return texts


def stored(db: Path) -> dict[str, "np.ndarray"]:
    """The vectors a sync stored, by document and anchor (row ids differ between databases)."""
    import sqlite3

    from freshgate.embeddings.embedder import from_blob

    with sqlite3.connect(db) as c:
        q = "SELECT document_id || '#' || anchor, embedding FROM section WHERE embedding IS NOT NULL"
        return {key: from_blob(blob) for key, blob in c.execute(q)}


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


VARIANTS = {  # name -> embedder settings
    "onnx": {"backend": "onnx"},  # token-budget batches (onnx.TOKEN_BUDGET)
    "onnx32": {"backend": "onnx", "token_budget": 0},  # 32 texts per batch, sorted by token count
    "torch": {"backend": "torch"},  # sentence-transformers, batch 32
}


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    names = (sys.argv[2] if len(sys.argv) > 2 else "onnx,torch").split(",")
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    embs = {b: SentenceTransformerEmbedder(**VARIANTS[b]) for b in names}
    for emb in embs.values():
        emb.encode(["warm up the model"] * 8)
    rows, padding, kept = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "corpus"
        texts = write_corpus(root, files)
        for b, emb in embs.items():
            if emb.backend == "onnx":
                from freshgate.embeddings.batching import padding_share

                lengths = emb.load().token_counts(texts)
                padding[b] = padding_share(lengths, emb.load().batches(lengths))
        for r in range(rounds):  # variants interleaved: every round measures each one, in the same order
            for b, emb in embs.items():
                load = os.getloadavg()[0]
                t = time.perf_counter()
                emb.encode(texts)
                raw = len(texts) / (time.perf_counter() - t)
                rows.append({"round": r, "backend": b, "what": "raw encode (same texts, one call)", "sections": len(texts),
                             "per_s": raw, "ratio": 1.0, "load": load})
                for lookup_only in (True, False):
                    load = os.getloadavg()[0]
                    db = Path(tmp) / f"fg{b}{r}{int(lookup_only)}.db"
                    dt, n = ingest(root, emb, db, lookup_only)
                    if r == 0 and not lookup_only:
                        kept[b] = stored(db)
                    rows.append({"round": r, "backend": b, "what": "sync, lookup listener only" if lookup_only
                                 else "sync, all domains wired", "sections": n, "per_s": n / dt, "ratio": n / dt / raw,
                                 "seconds": dt, "load": load})
    for r in range(rounds):  # the target: sync vs the fastest raw encode of the same round
        best = max(x["per_s"] for x in rows if x["round"] == r and x["what"].startswith("raw"))
        for x in rows:
            if x["round"] == r:
                x["vs_fastest_raw"] = x["per_s"] / best
    import numpy as np

    first = names[0]  # stored vectors of every variant against the first one's, section by section
    cosines = {b: float(min(np.dot(kept[first][k], v) / (np.linalg.norm(kept[first][k]) * np.linalg.norm(v))
                            for k, v in kept[b].items())) for b in names[1:] if kept[b].keys() == kept[first].keys()}
    load = os.getloadavg()
    print(f"{files} files, {len(texts)} sections, {rounds} round(s); load average {load[0]:.1f} {load[1]:.1f} "
          f"{load[2]:.1f} on {os.cpu_count()} cores at end")
    print("padding share of encoded tokens: " + ", ".join(f"{b} {p:.1%}" for b, p in padding.items()))
    print(f"stored vectors, minimum cosine per section against {first}: "
          + (", ".join(f"{b} {c:.6f}" for b, c in cosines.items()) or "-"))
    print(f"{'rnd':>3} {'variant':7} {'what':34} {'sections':>8} {'sec/s':>7} {'ms/sec':>7} {'vs own raw':>10} "
          f"{'vs fastest raw':>14} {'load':>5}")
    for x in rows:
        print(f"{x['round']:3d} {x['backend']:7} {x['what']:34} {x['sections']:8d} {x['per_s']:7.1f} {1e3 / x['per_s']:7.1f} "
              f"{x['ratio']:10.2f} {x['vs_fastest_raw']:14.2f} {x['load']:5.1f}")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "ingest.json").write_text(json.dumps({"files": files, "rounds": rounds, "load_average": load,
                                                 "padding": padding, "min_cosine_vs_" + first: cosines, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
