"""Lookup fixtures: the real model once per session (memoised per text), or the hashing embedder."""

from __future__ import annotations

import numpy as np
import pytest

from freshgate.app import run_sync
from freshgate.embeddings.embedder import HashingEmbedder, SentenceTransformerEmbedder


class MemoEmbedder:
    """The real model, remembering vectors it already computed (the KB is re-synced per test)."""

    def __init__(self, inner) -> None:
        self.inner, self.dim, self.name = inner, inner.dim, inner.name
        self.fingerprint = getattr(inner, "fingerprint", None)
        self.memo: dict[str, np.ndarray] = {}

    def encode(self, texts):
        missing = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if missing:
            self.memo.update(zip(missing, self.inner.encode(missing)))
        return np.stack([self.memo[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


@pytest.fixture(scope="session")
def model_embedder():
    """all-MiniLM-L6-v2, loaded once for the test session."""
    e = SentenceTransformerEmbedder()
    e.load()
    return MemoEmbedder(e)


@pytest.fixture
def model_kb(runtime, client, kb, model_embedder):
    """The example knowledge base synced, indexed with the real model; yields the API client."""
    runtime.extras["lookup"].use_embedder(model_embedder)
    runtime.extras["lookup"].activate()
    report = run_sync(runtime, [kb / "sources", kb / "sop_cards"])
    assert report.failed == []
    return client


@pytest.fixture
def hashing_kb(runtime, client, kb):
    """The example knowledge base with the bag-of-words test embedder (fast, exact words)."""
    runtime.settings.lookup.relevance_threshold = 0.2
    runtime.extras["lookup"].use_embedder(HashingEmbedder())
    runtime.extras["lookup"].activate()
    assert run_sync(runtime, [kb / "sources", kb / "sop_cards"]).failed == []
    return client


def ask(client, query, **kw):
    """POST /v1/lookup and return the JSON answer (asserting 200)."""
    r = client.post("/v1/lookup", json={"query": query, **kw})
    assert r.status_code == 200, r.text
    return r.json()


def cited(answer):
    """Document ids cited, in order."""
    return [c["document_id"] for c in answer["citations"]]
