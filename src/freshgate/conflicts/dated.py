"""Which side of a conflict is newer: the effective date of each passage.

A passage's effective date is the latest of its document's `updated` (stored as `changed_at`),
its `last_verified`, and a date the text itself gives as its effective date ("as of 2025",
"effective 1 March 2025", "updated 2025-03-01"). The older side's owner is the one to ask.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from freshgate.conflicts.claims import MONTHS

_DATE = (r"(?:(?P<iso>\d{4}-\d{2}-\d{2})|(?P<d1>\d{1,2})(?:st|nd|rd|th)? (?P<m1>[A-Za-z]{3,9})\.?,? (?P<y1>\d{4})|"
         r"(?P<m2>[A-Za-z]{3,9})\.? (?:(?P<d2>\d{1,2})(?:st|nd|rd|th)?,? )?(?P<y2>\d{4})|(?P<y3>(?:19|20)\d\d))")
AS_OF = re.compile(rf"\b(?:as of|as at|effective(?: from| as of)?|updated(?: on)?|last updated|valid from|since)\s+{_DATE}\b",
                   re.I)


def text_date(text: str) -> date | None:
    """The latest effective date a passage states about itself, if any."""
    best = None
    for m in AS_OF.finditer(text):
        g = m.groupdict()
        try:
            if g["iso"]:
                d = date.fromisoformat(g["iso"])
            elif g["y1"]:
                d = date(int(g["y1"]), MONTHS[g["m1"].lower()[:3]], int(g["d1"]))
            elif g["y2"]:
                d = date(int(g["y2"]), MONTHS[g["m2"].lower()[:3]], int(g["d2"] or 1))
            else:
                d = date(int(g["y3"]), 1, 1)
        except (KeyError, ValueError):
            continue
        best = d if best is None or d > best else best
    return best


def effective_date(doc: Any, text: str) -> date | None:
    """Latest of the document's `updated`, `last_verified` and the passage's own "as of" date."""
    found = [text_date(text)]
    if doc is not None:
        for attr in ("changed_at", "last_verified"):
            v = getattr(doc, attr, None)
            found.append(v.date() if isinstance(v, datetime) else v)
    found = [d for d in found if d is not None]
    return max(found) if found else None


def newer_side(da: date | None, db: date | None) -> str | None:
    """'a' or 'b' when one side's effective date is later; None when unknown or equal."""
    if da is None or db is None or da == db:
        return None
    return "a" if da > db else "b"
