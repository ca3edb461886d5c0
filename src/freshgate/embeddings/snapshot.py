"""The lookup indexes on disk: a snapshot with the change-feed watermark it reflects.

Layout: magic, header length, JSON header (format, dim, fingerprint, watermark, counts, sha256
and length of the payload), then the payload (`numpy.savez` of the vector index's rows, document
metadata and HNSW graph, and, when kept, the BM25 index's rows and flat postings under `lex_`
keys). Both indexes are exported under the indexer's apply lock, so they reflect the same
watermark. Written to a temporary file, fsynced and renamed, so a reader sees the old snapshot
or the new one, never half of one. On load every check must pass (magic, length, checksum,
format, dimension, fingerprint = same database and embedder); otherwise the snapshot is
refused and the caller rebuilds from the database.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from freshgate.embeddings.index import VectorIndex

log = logging.getLogger(__name__)
MAGIC = b"FGIDX\x00\x01\x00"
FORMAT = 2  # 2: the BM25 index is in the snapshot too
READABLE = (1, 2)  # a format-1 snapshot (vectors only) loads; the BM25 index is then rebuilt from stored texts


class SnapshotInvalid(ValueError):
    """The snapshot cannot be trusted (missing, truncated, corrupt or from elsewhere): rebuild."""


@dataclass(frozen=True)
class Loaded:
    """What `load` gives back."""

    watermark: int
    sections: int
    documents: int
    lexical: bool  # the BM25 index came from the snapshot too


def export(index: VectorIndex, lexical=None) -> dict:
    """Both indexes' state (take it under the lock that orders index updates)."""
    return {"vector": index.export_state(), "lexical": None if lexical is None else lexical.export_state()}


def save(index: VectorIndex, path: Path, *, watermark: int, fingerprint: str, watermark_at: str | None = None,
         lexical=None, state: dict | None = None) -> int:
    """Write the indexes (or an `export`ed state of them) atomically; returns the file size in bytes."""
    state = state or export(index, lexical)
    st, lx = state["vector"], state["lexical"]
    arrays = dict(vecs=st["vecs"], alive=st["alive"], row_doc=st["row_doc"], row_section=st["row_section"],
                  anchors=_json_bytes(st["anchors"]), docs=_json_bytes(st["docs"]),
                  ann=np.frombuffer(st["ann"] or b"", dtype=np.uint8))
    if lx is not None:
        arrays.update({f"lex_{k}": lx[k] for k in ("len", "alive", "row_doc", "row_section", "off", "rows", "tf")})
        arrays.update({f"lex_{k}": _json_bytes(lx[k]) for k in ("anchors", "terms", "docs")})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    payload = buf.getvalue()
    header = json.dumps({"format": FORMAT, "dim": index.dim, "fingerprint": fingerprint, "watermark": watermark,
                         "watermark_at": watermark_at, "sections": int(st["alive"].sum()),
                         "documents": sum(d is not None for d in st["docs"]), "lexical": lx is not None,
                         "sha256": hashlib.sha256(payload).hexdigest(), "length": len(payload)}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + struct.pack("<I", len(header)) + header + payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(MAGIC) + 4 + len(header) + len(payload)


def _json_bytes(obj) -> np.ndarray:
    return np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8)


def load(index: VectorIndex, path: Path, *, fingerprint: str, check=None, lexical=None) -> Loaded:
    """Fill `index` (and `lexical`, when given and in the snapshot) from a snapshot after checking it;
    SnapshotInvalid says why it was refused. Nothing is changed when it is refused."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SnapshotInvalid(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise SnapshotInvalid("not a Freshgate index snapshot")
    (hlen,) = struct.unpack("<I", data[len(MAGIC):len(MAGIC) + 4])
    start = len(MAGIC) + 4 + hlen
    try:
        header = json.loads(data[len(MAGIC) + 4:start])
    except ValueError:
        raise SnapshotInvalid("unreadable header") from None
    payload = data[start:]
    if header.get("format") not in READABLE:
        raise SnapshotInvalid(f"format {header.get('format')} (expected one of {READABLE})")
    if len(payload) != header.get("length"):
        raise SnapshotInvalid(f"truncated: {len(payload)} of {header.get('length')} bytes")
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise SnapshotInvalid("checksum mismatch")
    if header.get("dim") != index.dim or header.get("fingerprint") != fingerprint:
        raise SnapshotInvalid("made for another database or embedder")
    if check is not None and not check(int(header.get("watermark", 0)), header.get("watermark_at")):
        raise SnapshotInvalid("its watermark is not in this database's change log (a recreated database?)")
    try:
        z = np.load(io.BytesIO(payload), allow_pickle=False)
        state = {k: z[k] for k in ("vecs", "alive", "row_doc", "row_section")}
        state["anchors"] = json.loads(z["anchors"].tobytes())
        state["docs"] = json.loads(z["docs"].tobytes())
        state["ann"] = z["ann"].tobytes() or None
        lex = None
        if lexical is not None and header.get("lexical"):
            lex = {k: z[f"lex_{k}"] for k in ("len", "alive", "row_doc", "row_section", "off", "rows", "tf")}
            lex.update({k: json.loads(z[f"lex_{k}"].tobytes()) for k in ("anchors", "terms", "docs")})
    except (ValueError, KeyError, OSError) as exc:
        raise SnapshotInvalid(f"unreadable payload: {exc}") from None
    if lex is not None:
        try:
            lexical.import_state(lex)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise SnapshotInvalid(f"unusable lexical part: {exc}") from None
    index.import_state(state)
    return Loaded(int(header["watermark"]), int(header["sections"]), int(header["documents"]), lex is not None)
