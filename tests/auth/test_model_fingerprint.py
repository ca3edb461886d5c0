"""A model that did not make the stored vectors is refused (fail safe, /healthz says why) until a
deliberate re-embed; a failed model load is remembered for a back-off period (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from freshgate.app import run_sync
from freshgate.embeddings.embedder import EmbedderUnavailable, HashingEmbedder, SentenceTransformerEmbedder
from freshgate.embeddings.fingerprint import forget_vectors, stored
from freshgate.registry.models import Section
from tests.conftest import write_doc


class OtherModel(HashingEmbedder):
    """Same vectors, but it says it is another model (as altered weights at a custom model_path would)."""

    name = "altered-weights"
    fingerprint = "0" * 64


def vectors(engine) -> list[bytes]:
    with Session(engine) as s:
        return list(s.exec(select(Section.embedding).order_by(Section.id)).all())


def test_vectors_of_another_model_are_refused_until_reembed(runtime, client, tmp_path):
    runtime.settings.lookup.relevance_threshold = 0.2
    lk = runtime.extras["lookup"]
    lk.use_embedder(HashingEmbedder())
    lk.activate()
    src = tmp_path / "kb" / "sources"
    write_doc(src, "refunds.md", "owner: dana\nlast_verified: -1d", "# Refunds\n\n## Window\n\nRefunds within 30 days.\n")
    assert run_sync(runtime, [src]).failed == []
    a = client.post("/v1/lookup", json={"query": "refunds within 30 days window"}).json()
    assert a["decision"] != "stop_and_ask", a
    with Session(runtime.engine) as s:
        assert stored(s).fingerprint == HashingEmbedder.fingerprint
    fp = client.get("/healthz").json()["lookup"]["model_fingerprint"]
    assert fp == {"status": "ok", "model": HashingEmbedder.name, "sha256": HashingEmbedder.fingerprint}
    before = vectors(runtime.engine)

    lk.use_embedder(OtherModel())  # a restart with different weights
    a = client.post("/v1/lookup", json={"query": "refund window"}).json()
    assert a["decision"] == "stop_and_ask" and "reembed" in a["reasons"][0]["message"]
    health = client.get("/healthz").json()
    assert health["ready"] is False
    assert health["lookup"]["index"].startswith("error") and "not the model that made" in health["lookup"]["index"]
    fp = health["lookup"]["model_fingerprint"]  # the mismatch has a field of its own, naming both models
    assert (fp["status"], fp["model"], fp["sha256"]) == ("mismatch", "altered-weights", "0" * 64)
    assert (fp["stored_model"], fp["stored_sha256"]) == (HashingEmbedder.name, HashingEmbedder.fingerprint)
    assert "not the model that made" in fp["detail"] and "freshgate reembed --yes" in fp["remedy"]
    write_doc(src, "more.md", "owner: dana\nlast_verified: -1d", "# More\n\n## M\n\nMore text.\n")
    run_sync(runtime, [src])
    assert vectors(runtime.engine)[: len(before)] == before  # nothing re-embedded behind anyone's back
    assert vectors(runtime.engine)[-1] is None  # nor new vectors of the refused model stored

    forget_vectors(runtime.engine, OtherModel.fingerprint, OtherModel.name)  # `freshgate reembed --yes`
    lk.use_embedder(OtherModel())
    lk.indexer.embed = True
    a = client.post("/v1/lookup", json={"query": "refunds within 30 days window"}).json()
    assert a["decision"] != "stop_and_ask", a
    assert all(v is not None for v in vectors(runtime.engine))
    assert client.get("/healthz").json()["lookup"]["model_fingerprint"]["status"] == "ok"


def test_a_failed_model_load_is_remembered_for_the_back_off(tmp_path):
    e = SentenceTransformerEmbedder(tmp_path / "no-such-model", load_backoff=3600)
    with pytest.raises(EmbedderUnavailable, match="does not exist"):
        e.load()
    with pytest.raises(EmbedderUnavailable, match="not retried for another"):
        e.load()
    e.load_backoff = 0  # back-off over: tried again (and fails again, saying why)
    with pytest.raises(EmbedderUnavailable) as err:
        e.load()
    assert "not retried" not in str(err.value) and "does not exist" in str(err.value)
