"""Notifications against a real local webhook receiver and a real local SMTP server."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from freshgate.app import build_runtime
from freshgate.config import EmbeddingSettings, NotifySettings
from freshgate.freshness.jobs import sweep
from freshgate.notify import webhook
from freshgate.notify.jobs import notify_changes
from freshgate.notify.models import Delivery
from freshgate.reports.jobs import weekly_review
from tests.conftest import NOW, make_settings
from tests.notify.receivers import SmtpReceiver, WebhookReceiver
from tests.reports.helpers import OWNERS, doc, states_kb, sync_at

SECRET = "s3cret"
LATER = NOW + timedelta(days=25)


@pytest.fixture
def hook():
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def smtp():
    with SmtpReceiver() as s:
        yield s


@pytest.fixture
def notify_settings(database_url, hook, smtp):
    """Settings with both channels pointing at the local receivers; retries without waiting."""
    return make_settings(database_url, embedding=EmbeddingSettings(enabled=False), notify=NotifySettings(
        webhook_url=hook.url, webhook_secret=SECRET, smtp_host="127.0.0.1", smtp_port=smtp.port,
        smtp_from="freshgate@example.test", operator_emails=["ops@example.test"], retries=2, backoff=0.0))


@pytest.fixture
def rt(notify_settings):
    r = build_runtime(notify_settings)
    yield r
    r.close()


def _three_of_ann_turn_stale(rt, root):
    """Ann's three documents are fresh at NOW and stale 25 days later; Bob's stays fresh."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "owners.yaml").write_text(OWNERS, encoding="utf-8")
    for name in ("refunds", "pricing", "returns"):
        doc(root, name, "ann", every="30d")
    doc(root, "menu", "bob", every="365d")
    sync_at(rt, root)
    sweep(rt, NOW)  # first sighting: initial states, not a change worth a message


def _deliveries(rt) -> list[Delivery]:
    with Session(rt.engine) as s:
        return list(s.exec(select(Delivery).order_by(Delivery.id)).all())


def test_three_items_turning_stale_make_one_message_per_channel(rt, tmp_path, hook, smtp):
    _three_of_ann_turn_stale(rt, tmp_path / "kb")
    assert notify_changes(rt, NOW)["claimed"] == 0 and not hook.requests and not smtp.messages
    sweep(rt, LATER)
    summary = notify_changes(rt, LATER)
    assert summary["sent"] == 2 and summary["failed"] == 0, summary
    [(headers, body, _)] = hook.delivered()
    assert webhook.verify(SECRET, headers["x-freshgate-timestamp"], body, headers["x-freshgate-signature"])
    assert not webhook.verify("wrong", headers["x-freshgate-timestamp"], body, headers["x-freshgate-signature"])
    msg = json.loads(body)
    assert isinstance(msg["text"], str) and msg["blocks"][0]["type"] == "header"
    assert all(b["type"] in ("header", "section", "context") for b in msg["blocks"])
    listed = " ".join(b["text"]["text"] for b in msg["blocks"] if b["type"] == "section")
    assert all(f"`{d}`" in listed for d in ("refunds", "pricing", "returns")) and "menu" not in listed
    [(rcpts, mail)] = smtp.messages
    assert rcpts == ["ann@example.test"] and "3 items of Ann Lee" in mail["Subject"]
    assert mail.get_content_type() == "multipart/alternative"
    plain, html = mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()
    assert all(d in plain and d in html for d in ("refunds", "pricing", "returns"))
    # nothing new: nothing sent again
    assert notify_changes(rt, LATER + timedelta(minutes=5))["claimed"] == 0
    assert len(hook.requests) == 1 and len(smtp.messages) == 1


def test_weekly_digest_is_sent_once_across_a_restart(notify_settings, rt, tmp_path, smtp, hook):
    sync_at(rt, states_kb(tmp_path / "kb"))
    first = weekly_review(rt, NOW)
    assert first["failed"] == 0 and first["sent"] == first["claimed"] > 0
    got = Counter(r for rcpts, _ in smtp.messages for r in rcpts)
    # owners with rows get their digest, operators the full list; the inactive owner gets nothing
    assert got == Counter({"ann@example.test": 1, "bob@example.test": 1, "ops@example.test": 1})
    ops_mail = next(m for rcpts, m in smtp.messages if rcpts == ["ops@example.test"])
    assert "<svg" in ops_mail.get_body(("html",)).get_content()
    ann_mail = next(m for rcpts, m in smtp.messages if rcpts == ["ann@example.test"])
    assert "refunds" in ann_mail.get_body(("plain",)).get_content()
    assert "lunch-menu" not in ann_mail.get_body(("plain",)).get_content()
    webhooks = len(hook.delivered())
    assert webhooks == 3  # ann, bob, operators
    rt.close()
    again = build_runtime(notify_settings)  # a restart
    try:
        second = weekly_review(again, NOW + timedelta(hours=3))
        assert second["claimed"] == 0
        assert len(smtp.messages) == 3 and len(hook.delivered()) == webhooks
        keys = [d.dedupe_key for d in _deliveries(again)]
        assert len(keys) == len(set(keys)) == 6 and "digest:ann:2026-W47:email:ann@example.test" in keys
        assert weekly_review(again, NOW + timedelta(days=7))["sent"] == 6  # next ISO week: a new digest
    finally:
        again.close()


def test_two_replicas_running_the_digest_at_once_send_each_message_once(notify_settings, rt, tmp_path, smtp):
    sync_at(rt, states_kb(tmp_path / "kb"))
    other = build_runtime(notify_settings)
    try:
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda r: weekly_review(r, NOW), [rt, other]))
    finally:
        other.close()
    assert sum(r["sent"] for r in results) == 6
    assert sorted(r for rcpts, _ in smtp.messages for r in rcpts) == [
        "ann@example.test", "bob@example.test", "ops@example.test"]


def test_failing_webhook_is_retried_recorded_failed_then_sent_on_the_next_run(rt, tmp_path, hook, smtp):
    _three_of_ann_turn_stale(rt, tmp_path / "kb")
    sweep(rt, LATER)
    hook.status = 500
    summary = notify_changes(rt, LATER)
    assert (summary["sent"], summary["failed"]) == (1, 1)  # e-mail went out, webhook did not
    assert [r[2] for r in hook.requests] == [500, 500, 500]  # first try + 2 retries
    [wh] = [d for d in _deliveries(rt) if d.channel == "webhook"]
    assert (wh.status, wh.attempts) == ("failed", 1) and "HTTP 500" in wh.last_error
    hook.status = 200
    retry = notify_changes(rt, LATER + timedelta(minutes=5))
    assert (retry["retried"], retry["sent"], retry["failed"]) == (1, 1, 0)
    [wh] = [d for d in _deliveries(rt) if d.channel == "webhook"]
    assert (wh.status, wh.attempts, wh.last_error) == ("sent", 2, None)
    assert len(hook.delivered()) == 1 and len(smtp.messages) == 1  # nothing duplicated
    assert json.loads(hook.delivered()[0][1]) == json.loads(hook.requests[0][1])  # the same message, resent


def test_a_delivery_gives_up_after_max_attempts(notify_settings, tmp_path, hook):
    notify_settings.notify.max_attempts = 2
    notify_settings.notify.retries = 0
    r = build_runtime(notify_settings)
    try:
        _three_of_ann_turn_stale(r, tmp_path / "kb")
        sweep(r, LATER)
        hook.status = 503
        for k in range(4):
            notify_changes(r, LATER + timedelta(minutes=5 * k))
        [wh] = [d for d in _deliveries(r) if d.channel == "webhook"]
        assert (wh.status, wh.attempts) == ("failed", 2) and len(hook.requests) == 2
    finally:
        r.close()
