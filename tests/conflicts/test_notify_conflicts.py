"""Owners hear about a new conflict on their document: one message per owner, once."""

from __future__ import annotations

import json

import pytest

from freshgate.notify.jobs import notify_changes
from tests.conftest import NOW
from tests.notify.receivers import WebhookReceiver


@pytest.fixture
def hook():
    with WebhookReceiver() as r:
        yield r


def _texts(hook) -> dict[str, str]:
    """Recipient-agnostic: the text of every webhook message delivered, by the document it names first."""
    out = {}
    for _headers, body, _status in hook.delivered():
        msg = json.loads(body)
        text = " ".join(b["text"]["text"] for b in msg["blocks"] if b["type"] == "section")
        out[msg["blocks"][0]["text"]["text"]] = text
    return out


def test_each_owner_is_told_once_about_a_new_conflict_with_the_evidence(crt, docs, hook):
    crt.settings.notify.webhook_url = hook.url
    crt.settings.notify.webhook_secret = "s"
    crt.settings.notify.backoff = 0.0
    first = notify_changes(crt, NOW)
    assert first["conflicts"] == 1 and first["sent"] == 2, first  # alice and bob, one message each
    texts = _texts(hook)
    assert len(texts) == 2
    alice = next(t for title, t in texts.items() if "alice" in title)
    bob = next(t for title, t in texts.items() if "bob" in title)
    assert "`refunds` contradicts another document" in alice and "faq#refund-window-for-monthly-plans" in alice
    assert "`faq` contradicts another document" in bob and "(owner alice)" in bob
    assert "30 days" in alice and "14 days" in alice
    again = notify_changes(crt, NOW)
    assert again["conflicts"] == 0 and again["claimed"] == 0 and len(hook.delivered()) == 2
