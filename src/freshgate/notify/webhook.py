"""Webhook sender: Slack-compatible JSON, HMAC-SHA256 signed, retried with exponential backoff.

Signature: `X-Freshgate-Timestamp: <unix seconds>` and
`X-Freshgate-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>." + raw body)>`.
A receiver recomputes it over the raw body it got and rejects old timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any, Callable

import httpx

log = logging.getLogger(__name__)
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class SendError(Exception):
    """A message could not be delivered (after the allowed retries)."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Freshgate-Signature value for a body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """True when `signature` matches (constant-time); for receivers and tests."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def post(url: str, payload: dict[str, Any], *, secret: str | None = None, timeout: float = 10.0, retries: int = 2,
         backoff: float = 0.5, transport: httpx.BaseTransport | None = None,
         sleep: Callable[[float], None] = time.sleep) -> int:
    """POST the JSON payload; retry network errors, 429 and 5xx. Returns the tries used, raises SendError."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    last = ""
    with httpx.Client(timeout=timeout, transport=transport, follow_redirects=False) as client:
        for attempt in range(retries + 1):
            if attempt:
                sleep(backoff * 2 ** (attempt - 1))
            ts = str(int(time.time()))
            headers = {"Content-Type": "application/json", "User-Agent": "freshgate-notify/0.1",
                       "X-Freshgate-Timestamp": ts}
            if secret:
                headers["X-Freshgate-Signature"] = sign(secret, ts, body)
            try:
                resp = client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
                log.warning("webhook try %d failed: %s", attempt + 1, last)
                continue
            if resp.status_code < 300:
                return attempt + 1
            last = f"HTTP {resp.status_code}: {resp.text[:200]}"
            log.warning("webhook try %d failed: %s", attempt + 1, last)
            if resp.status_code not in RETRY_STATUS:
                break
    raise SendError(f"webhook failed after {attempt + 1} tries: {last}")
