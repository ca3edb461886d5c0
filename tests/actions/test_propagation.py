"""A server answering action checks from memory sees what other processes commit (real processes:
`freshgate serve`, and `freshgate sync` / `freshgate retire` run separately), on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import httpx

from tests.feed.procs import cli, operator_key, servers

DEADLINE = 20.0  # a timeout for a broken feed, not a performance bar


def _check(base: str, headers: dict, tool: str, params: dict | None = None) -> dict:
    r = httpx.post(base + "/v1/actions/check", json={"tool": tool, "parameters": params or {}}, headers=headers,
                   timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _until(base: str, headers: dict, tool: str, ok) -> dict:
    t0 = time.monotonic()
    while True:
        a = _check(base, headers, tool)
        if ok(a):
            return a
        assert time.monotonic() - t0 < DEADLINE, f"{tool} still answers {a['decision']} {a['reasons']}"
        time.sleep(0.05)


def _run(url: str, *args: str) -> None:
    r = cli(url, *args)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_card_changed_or_retired_elsewhere_changes_the_answer(database_url, kb, tmp_path):
    _run(database_url, "sync", str(kb / "sources"), str(kb / "sop_cards"))
    headers = operator_key(database_url)
    with servers(database_url, tmp_path) as (base,):
        health = httpx.get(base + "/healthz", timeout=10).json()["actions"]
        assert health["cache"] == "ready" and health["rules"] > 10
        assert _check(base, headers, "orders.lookup")["decision"] == "proceed"
        # Another process syncs an edited card: the rule's lane is now approval.
        card = kb / "sop_cards" / "shipping-delay-reply.md"
        text = card.read_text("utf-8")
        edited = text.replace("  - tool: orders.lookup\n    lane: automatic", "  - tool: orders.lookup\n    lane: approval")
        assert edited != text
        card.write_text(edited, "utf-8")
        _run(database_url, "sync", str(kb / "sources"), str(kb / "sop_cards"))
        a = _until(base, headers, "orders.lookup", lambda a: a["decision"] != "proceed")
        assert a["decision"] == "needs_approval" and [r["lane"] for r in a["rules"]] == ["approval"]
        # Another process retires it: the server stops the action.
        _run(database_url, "retire", "shipping-delay-reply", "--as", "ops")
        a = _until(base, headers, "orders.lookup", lambda a: a["decision"] != "needs_approval")
        assert a["decision"] == "stop_and_ask" and a["reasons"][0]["code"] == "retired_no_successor"
        # ... and a source that changed elsewhere stops the actions relying on it.
        _run(database_url, "unretire", "shipping-delay-reply", "--as", "ops")
        _until(base, headers, "orders.lookup", lambda a: a["decision"] == "needs_approval")
        source = kb / "sources" / "shipping-policy.md"
        source.write_text(source.read_text("utf-8") + "\n\n## Weekend\n\nNo parcels leave on Sundays.\n", "utf-8")
        _run(database_url, "sync", str(kb / "sources"), str(kb / "sop_cards"))
        a = _until(base, headers, "orders.lookup", lambda a: a["decision"] == "stop_and_ask")
        assert a["reasons"][0]["code"] == "changed_unverified" and a["reasons"][0]["item"] == "shipping-policy"
        health = httpx.get(base + "/healthz", timeout=10).json()["actions"]
        assert health["watermark"] == health["db_watermark"]
