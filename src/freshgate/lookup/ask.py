"""The suggested question to put to an owner: it names the problem and quotes the question."""

from __future__ import annotations

from datetime import datetime

from freshgate.lookup.decide import Decision


def _d(dt: datetime | None) -> str:
    return dt.date().isoformat() if dt else "unknown"


def _q(query: str, limit: int = 160) -> str:
    q = " ".join(query.split())
    return q if len(q) <= limit else q[:limit].rsplit(" ", 1)[0] + "…"


def suggest(query: str, decision: Decision, target, newer: str | None = None) -> str | None:
    """A question for the owner of `target` (a citation) about the first reason; None when clean.

    `newer`: for a conflict, the cite of the newer side that `target` (the older) disagrees with.
    """
    q = _q(query)
    if not decision.reasons:
        return None
    r = decision.reasons[0]
    if r.code == "freshness_unknown":
        return f"Freshgate could not check freshness ({r.message.split(': ', 1)[-1]}). Who can confirm the answer to “{q}”?"
    if r.code == "no_source":
        return f"Nothing registered answers “{q}”. Who owns this topic, and where is it written down?"
    if target is None:
        return f"Can you confirm the answer to “{q}”?"
    t = f"the {target.title}" if target.title else target.document_id
    if r.code == "conflict" and newer:
        return f"{t} ({target.cite}) is older than {newer}, which says otherwise. Should it be updated about “{q}”?"
    return {
        "forbidden_lane": f"{target.title} is not allowed for agents. Can you handle “{q}” yourself?",
        "approval_required": f"May I go ahead with “{q}” following {t} ({target.cite})?",
        "conflict": f"{t} conflicts with another document. Which one is right about “{q}”?",
        "expired": f"Is {t} (expired) still correct about “{q}”, or what replaces it?",
        "changed_unverified": f"{t} changed and was not re-verified since {_d(target.last_verified)}. "
                              f"Is it correct about “{q}”?",
        "retired_no_successor": f"{t} is retired with no successor. What is the current answer to “{q}”?",
        "orphaned": f"{t} has no active owner. Who can confirm it is still correct about “{q}”?",
        "stale_high_stakes": f"Is {t} (stale since {_d(target.next_review)}) still correct about “{q}”?",
        "stale": f"Is {t} (stale since {_d(target.next_review)}) still correct about “{q}”?",
        "superseded": f"{target.substituted_for} was replaced by {t}. Does {target.cite} answer “{q}”?",
        "sop_suspect": f"{t} relies on sources that are not fresh. Is it still safe for “{q}”?",
        "due": f"{t} is due for review on {_d(target.next_review)}. Is it still correct about “{q}”?",
    }.get(r.code, f"Is {t} still correct about “{q}”?")
