"""/livez, /readyz and lookups while the index is still building, on a real uvicorn server."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from freshgate.app import build_runtime, create_app, run_sync
from freshgate.embeddings.embedder import HashingEmbedder
from tests.conftest import make_settings
from tests.lookup.live import serve

QUESTION = "How many days do customers have to request a refund?"


class GatedEmbedder(HashingEmbedder):
    """The hashing embedder whose model 'loads' only when the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.loaded = False

    def load(self):
        self.gate.wait(120)
        self.loaded = True
        return self


@pytest.fixture
def building(tmp_path, kb):
    """A runtime on a SQLite file with the examples synced, whose warm-up blocks until `gate` is set."""
    settings = make_settings(f"sqlite:///{tmp_path / 'fg.db'}")
    settings.lookup.warm_up = True
    settings.auth.mode = "off"  # health is public; the lookups here test threads, not credentials
    settings.lookup.relevance_threshold = 0.2
    settings.conflicts.scan_on_start = False
    rt = build_runtime(settings)
    assert run_sync(rt, [kb / "sources", kb / "sop_cards"]).failed == []
    embedder = GatedEmbedder()
    rt.extras["lookup"].use_embedder(embedder)
    yield rt, embedder
    embedder.gate.set()
    rt.close()


def test_livez_and_readyz_answer_while_60_lookups_wait_on_a_building_index(building):
    rt, embedder = building
    rt.settings.lookup.ready_timeout = 90  # the old behaviour: every lookup holds a worker thread while it waits
    with serve(create_app(runtime=rt)) as base, httpx.Client(base_url=base, timeout=120) as http, \
            ThreadPoolExecutor(60) as pool:
        started = threading.Barrier(61)

        def lookup():
            started.wait()
            return http.post("/v1/lookup", json={"query": QUESTION})

        pending = [pool.submit(lookup) for _ in range(60)]
        started.wait()
        # The 60 lookups now occupy (at least) every worker thread of the server, waiting for the index.
        live = http.get("/livez", timeout=30)
        ready = http.get("/readyz", timeout=30)
        health = http.get("/healthz", timeout=30)
        answered_before_ready = not embedder.gate.is_set() and not any(f.done() for f in pending)
        assert live.status_code == 200 and live.json()["status"] == "alive"
        assert ready.status_code == 503
        assert ready.headers["content-type"].startswith("application/problem+json")
        assert ready.headers["Retry-After"] == "5"
        assert "index building" in ready.json()["reasons"] and "model not_loaded" in ready.json()["reasons"]
        assert health.status_code == 200 and health.json()["ready"] is False
        assert health.json()["lookup"]["index"] == "building"
        assert answered_before_ready, "health endpoints must answer while the lookups still wait"
        embedder.gate.set()
        answers = [f.result(timeout=120) for f in pending]
    assert all(a.status_code == 200 for a in answers)
    assert not any(r["code"] == "freshness_unknown" for a in answers for r in a.json()["reasons"])


def test_lookups_answer_at_once_while_not_ready_and_readyz_turns_200(building):
    rt, embedder = building
    assert rt.settings.lookup.ready_timeout == 0  # the default: never hold a thread for the warm-up
    with serve(create_app(runtime=rt)) as base, httpx.Client(base_url=base, timeout=60) as http:
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda _: http.post("/v1/lookup", json={"query": QUESTION}), range(20)))
        assert not embedder.gate.is_set()
        for a in answers:
            assert a.status_code == 200
            assert a.json()["decision"] == "stop_and_ask"
            assert a.json()["reasons"][0]["code"] == "freshness_unknown"
            assert a.headers["Retry-After"] == "5"
        assert http.get("/readyz").status_code == 503
        embedder.gate.set()
        rt.extras["lookup"]._thread.join(60)
        ready = http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
        after = http.post("/v1/lookup", json={"query": QUESTION})
        assert after.status_code == 200
        assert not any(r["code"] == "freshness_unknown" for r in after.json()["reasons"])
        assert "Retry-After" not in after.headers


def test_readyz_reports_an_unreachable_database(building, tmp_path):
    rt, embedder = building
    embedder.gate.set()
    rt.extras["lookup"].warm_up()
    with serve(create_app(runtime=rt)) as base, httpx.Client(base_url=base, timeout=30) as http:
        deadline = time.monotonic() + 30  # parts such as the permission table load in the background at start
        while (first := http.get("/readyz")).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert first.status_code == 200, first.text
        rt.engine.dispose()
        (tmp_path / "fg.db").unlink()
        (tmp_path / "fg.db").mkdir()  # a directory where the file was: SQLite cannot open it
        r = http.get("/readyz")
        assert r.status_code == 503
        assert "database unreachable" in r.json()["reasons"]
        assert http.get("/livez").status_code == 200


class Lagging:
    """A part that is not caught up yet (what a change feed reports through `readiness()`)."""

    behind = "12 changes behind"

    def readiness(self):
        return self.behind


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_readyz_waits_for_every_part_that_reports_readiness(runtime, client, database_url):
    runtime.extras["lookup"].use_embedder(HashingEmbedder())
    runtime.extras["lookup"].warm_up()
    assert client.get("/readyz").status_code == 200
    part = runtime.extras["feed"] = Lagging()
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["reasons"] == ["feed: 12 changes behind"]
    part.behind = None
    assert client.get("/readyz").status_code == 200


class FeedBehind:
    """What the change-feed follower's health() says when this replica lags."""

    def __init__(self, lag_seconds: float, following: bool = True) -> None:
        self.h = {"following": following, "lag_seconds": lag_seconds, "lag_changes": 7, "poll_interval": 0.5,
                  "last_poll_age": 0.2, "last_error": None}

    def health(self):
        return self.h


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_readyz_needs_the_index_caught_up_with_the_change_feed(runtime, client, database_url):
    runtime.extras["lookup"].use_embedder(HashingEmbedder())
    runtime.extras["lookup"].warm_up()
    runtime.extras["feed"] = FeedBehind(0.4)
    assert client.get("/readyz").status_code == 200
    runtime.extras["feed"] = FeedBehind(30.0)
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["reasons"] == ["change feed 30 s behind (7 changes)"]
    assert "freshgate_feed_lag_changes 7.0" in client.get("/metrics").text
    runtime.extras["feed"] = FeedBehind(0.0, following=False)
    assert client.get("/readyz").json()["reasons"] == ["change feed not followed"]
