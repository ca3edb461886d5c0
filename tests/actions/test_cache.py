"""The permission table in memory (actions/cache.py): same answers as the database, read-your-writes in
the serving process, and stop_and_ask whenever it cannot be trusted."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine
from sqlmodel import Session

from freshgate.actions.cache import RuleCache
from freshgate.actions.schemas import ActionCheckIn
from freshgate.actions.service import ActionService
from freshgate.registry.service import RegistryService
from tests.actions.conftest import check, codes
from tests.conftest import make_settings


@pytest.fixture
def settings(database_url):
    """No start-up conflict scan: it would judge pairs in a thread while answers are being compared."""
    s = make_settings(database_url)
    s.conflicts.scan_on_start = False
    return s

CALLS = [
    ("orders.lookup", {}),
    ("stripe.refund", {"amount": "120 EUR"}),
    ("stripe.refund", {"amount": "7000 EUR"}),
    ("stripe.refund", {}),
    ("stripe.credit_note", {"invoice": "in_9"}),
    ("zendesk.reply", {"macro": "order-on-its-way"}),
    ("zendesk.reply", {"macro": "something-else"}),
    ("crm.delete_account", {}),
    ("privacy.export", {"customer": {"email": "a@b.example"}}),
    ("crm.export_contacts", {}),
]


def _answer(out):
    """What a user sees of an answer (receipt ids and times differ by construction)."""
    return (out.decision, out.lane, [(r.code, r.message, r.item) for r in out.reasons],
            [(c.id, c.version, c.state) for c in out.cards], [(s.id, s.version, s.state, s.card) for s in out.sources],
            [(r.card, r.position, r.lane, r.status, r.governing) for r in out.rules], out.owner, out.rollback,
            out.ask.owner, out.ask.contact)


def test_the_server_answers_from_memory_like_the_database(example, runtime):
    hub = runtime.extras["actions"]
    assert hub.cache is not None and hub.health()["cache"] == "ready" and hub.health()["rules"] > 10
    with Session(runtime.engine) as s:
        # a source changed and an owner left: states the in-memory table must compute the same way
        RegistryService(s, runtime.registry_ctx).update_content(
            "shipping-policy", "# Shipping\n\n## Cut-off\n\nOrders leave at noon.\n", actor="test")
        s.commit()
    with Session(runtime.engine) as s:
        RegistryService(s, runtime.registry_ctx).set_owner_active("team-billing", False, actor="ops")
        s.commit()
    for tool, params in CALLS:
        with Session(runtime.engine) as s:
            mem = hub.service(s).check(ActionCheckIn(tool=tool, parameters=params))
            db = ActionService(s, RegistryService(s, runtime.registry_ctx), runtime.settings.actions,
                               runtime.extras.get("conflicts")).check(ActionCheckIn(tool=tool, parameters=params))
            s.rollback()
        assert _answer(mem) == _answer(db), (tool, _answer(mem), _answer(db))
    assert {check(example, t, p)["decision"] for t, p in CALLS} >= {"stop_and_ask", "forbidden", "needs_approval"}


def test_own_changes_are_seen_at_once(example, runtime):
    assert check(example, "orders.lookup")["decision"] == "proceed"
    r = example.post("/v1/documents/shipping-delay-reply/retire", json={})
    assert r.status_code == 200, r.text
    a = check(example, "orders.lookup")  # no feed poll in between: the commit refreshed the table
    assert a["decision"] == "stop_and_ask" and codes(a)[0] == "retired_no_successor"
    assert example.post("/v1/documents/shipping-delay-reply/unretire", json={}).status_code == 200
    assert check(example, "orders.lookup")["decision"] == "proceed"


def test_a_table_not_loaded_or_not_following_stops(example, runtime):
    hub = runtime.extras["actions"]
    live = hub.cache
    try:
        hub.cache = RuleCache(runtime.engine)  # never built
        a = check(example, "orders.lookup")
        assert a["decision"] == "stop_and_ask" and codes(a) == ["freshness_unknown"]
        assert "loading" in a["reasons"][0]["message"] and a["receipt_id"]
        hub.cache = live
        follower = live.follower
        follower.engine = create_engine("sqlite:////nonexistent-dir/freshgate.db")  # every poll now fails
        deadline = time.monotonic() + 30  # a broken test, not a performance bar
        while not follower.last_error:
            assert time.monotonic() < deadline, "the follower never reported the failing poll"
            follower.wake()
            time.sleep(0.05)
        a = check(example, "orders.lookup")
        assert a["decision"] == "stop_and_ask" and codes(a) == ["freshness_unknown"]
        assert "change feed" in a["reasons"][0]["message"]
        assert hub.health()["cache"] == "not_ready"
        ready = example.get("/readyz")  # a replica whose checks would all stop gets no traffic
        assert ready.status_code == 503 and "actions: the change feed cannot be read" in ready.text
    finally:
        hub.cache = live
        live.follower.engine = runtime.engine
    deadline = time.monotonic() + 30
    while live.follower.last_error:  # the next poll succeeds again
        assert time.monotonic() < deadline, live.follower.last_error
        live.follower.wake()
        time.sleep(0.05)
    assert check(example, "orders.lookup")["decision"] == "proceed"


def test_a_feed_that_stopped_being_read_stops(example, runtime):
    hub = runtime.extras["actions"]
    follower = hub.cache.follower
    follower.stop()  # the process no longer follows other processes' changes
    a = check(example, "orders.lookup")
    assert a["decision"] == "stop_and_ask" and codes(a) == ["freshness_unknown"]


@pytest.mark.parametrize("kind", ["feed", "own"])
def test_a_change_without_this_process_listening_arrives_by_the_feed(example, runtime, kind):
    """A change committed without this process's listeners (as another process commits) reaches the
    table by the feed only; one committed here is seen at once."""
    from freshgate.registry.service import RegistryContext

    hub = runtime.extras["actions"]
    assert check(example, "orders.lookup")["decision"] == "proceed"
    ctx = runtime.registry_ctx if kind == "own" else RegistryContext(rules=runtime.registry_ctx.rules)
    with Session(runtime.engine) as s:
        RegistryService(s, ctx).retire("shipping-delay-reply", actor="elsewhere")
        s.commit()
    if kind == "feed":
        hub.cache.follower.poll()  # what the follower thread does every poll interval
    a = check(example, "orders.lookup")
    assert a["decision"] == "stop_and_ask" and codes(a)[0] == "retired_no_successor"


def test_a_table_behind_the_pruned_point_reloads_instead_of_missing_changes(example, runtime):
    """Pruning never lets the permission table skip a change: behind the pruned point it reloads whole."""
    from datetime import datetime, timedelta, timezone

    from freshgate.feed import prune
    from freshgate.registry.service import RegistryContext

    hub = runtime.extras["actions"]
    follower = hub.cache.follower
    follower.stop()  # no heartbeat from here on: this table does not hold pruning back
    with Session(runtime.engine) as s:  # committed as another process would: only the feed says so
        RegistryService(s, RegistryContext(rules=runtime.registry_ctx.rules)).retire(
            "shipping-delay-reply", actor="elsewhere")
        s.commit()
    with Session(runtime.engine) as s:  # a second change: pruning always keeps the newest entry
        RegistryService(s, RegistryContext(rules=runtime.registry_ctx.rules)).update_content(
            "shipping-policy", "# Shipping\n\n## Cut-off\n\nOrders leave at noon.\n", actor="elsewhere")
        s.commit()
    later = datetime.now(timezone.utc) + timedelta(days=30)
    assert prune.prune(runtime.engine, retention_days=7, consumer_timeout=0, now=later)["pruned"] > 0
    follower.poll()
    assert follower.gaps == 1 and hub.cache.watermark == follower.db_watermark
    docs = hub.cache.store.docs  # the reload saw both changes
    assert docs["shipping-delay-reply"].status == "retired" and docs["shipping-policy"].version > 1
