"""Message bodies: Slack-compatible webhook JSON and e-mail text/HTML for events, digests and operators."""

from __future__ import annotations

from html import escape
from typing import Any

STATE_VERB = {"due": "is due for review", "stale": "is overdue for review", "expired": "has expired",
              "changed": "changed and needs re-verification", "unreachable": "cannot be fetched from its url",
              "conflict": "contradicts another document"}


def _slack(title: str, lines: list[str], footer: str) -> dict[str, Any]:
    # Slack caps a section's text at 3000 characters; split the list over several sections.
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]
    chunk = ""
    for line in lines:
        if len(chunk) + len(line) + 1 > 2900:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
            chunk = ""
        chunk += line + "\n"
    if chunk:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    return {"text": title + "\n" + "\n".join(lines[:10]), "blocks": blocks}


def _cap(lines: list[str], limit: int) -> list[str]:
    return lines if len(lines) <= limit else lines[:limit] + [f"… and {len(lines) - limit} more"]


def _html(title: str, lines: list[str], footer: str) -> str:
    items = "".join(f"<li>{escape(x)}</li>" for x in lines)
    return (f"<!doctype html><html><body><h2>{escape(title)}</h2><ul>{items}</ul>"
            f"<p style=\"color:#666\">{escape(footer)}</p></body></html>")


def bundle(title: str, lines: list[str], footer: str, limit: int) -> dict[str, Any]:
    """Both channel bodies for one message: {"webhook": slack json, "subject", "text", "html"}."""
    lines = _cap(lines, limit)
    plain = [x.replace("*", "").replace("`", "") for x in lines]
    return {"webhook": _slack(title, lines, footer), "subject": title,
            "text": title + "\n\n" + "\n".join(f"- {x}" for x in plain) + f"\n\n{footer}\n",
            "html": _html(title, plain, footer)}


def event_message(owner_label: str, events: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """One owner's batch of state changes (events: document_id, from_state, to_state, reason)."""
    lines = []
    for e in events:
        verb = STATE_VERB.get(e["to_state"], f"is now {e['to_state']}")
        why = f" — {e['reason']}" if e.get("reason") else ""
        was = "" if e["to_state"] == "conflict" else f" (was {e.get('from_state') or 'new'})"
        lines.append(f"`{e['document_id']}` {verb}{was}{why}")
    n = len(events)
    title = f"Freshgate: {n} item{'s' if n != 1 else ''} of {owner_label} need{'s' if n == 1 else ''} attention"
    return bundle(title, lines, "Verify, update or retire them: `freshgate review --owner <you>`.", limit)


def digest_lines(items: list[dict[str, Any]]) -> list[str]:
    """Review rows as one line each: '*verify* `doc` (stale, high) — why'."""
    out = []
    for i in items:
        what = f"`{i['document_id']}` {i['title']}" if i.get("document_id") else i["title"]
        why = "; ".join(r["message"] for r in i.get("reasons", [])[:2])
        out.append(f"*{i['action']}* {what} ({i['state']}, {i['criticality']}, risk {i['risk']:g}) — {why}")
    return out


def digest_message(owner_label: str, week: str, items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """An owner's weekly review digest: their rows, riskiest first."""
    title = f"Freshgate weekly review {week}: {len(items)} item(s) for {owner_label}"
    return bundle(title, digest_lines(items), "Act on the first lines first: they carry the most risk.", limit)


def operator_message(week: str, summary: str, items: list[dict[str, Any]], limit: int,
                     markdown: str | None = None, html: str | None = None) -> dict[str, Any]:
    """The operators' full weekly list (e-mail carries the rendered report when given)."""
    msg = bundle(f"Freshgate weekly review {week}: {summary}", digest_lines(items),
                 "Full list: `freshgate review --format html`.", limit)
    if markdown:
        msg["text"] = markdown
    if html:
        msg["html"] = html
    return msg
