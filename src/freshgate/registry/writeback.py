"""`freshgate sync --write-back`: rewrite front matter so files say what the registry says.

Only the fields a sync kept from the registry (merge.FieldNote outcome `kept`) are rewritten,
line by line, so the change is a small, reviewable diff for teams that keep docs in git.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from freshgate.markdown.parse import format_duration
from freshgate.registry.merge import FieldNote


def _yaml(v: Any) -> str:
    s = str(v)
    return s if re.fullmatch(r"[A-Za-z0-9_.@+/-][A-Za-z0-9_.@+/ -]*", s) and s.strip() == s else repr(s)


def _lines_for(note: FieldNote) -> dict[str, str | None]:
    """front-matter key -> new value text (None: remove the key)."""
    v = note.value
    if note.field == "owner":
        return {"owner": _yaml(v)}
    if note.field == "last_verified":
        day, by = v
        return {"last_verified": day[:10] if day else None, "verified_by": _yaml(by) if by else None}
    if note.field == "status":
        status, succ = v
        return {"status": status, "successor": _yaml(succ) if succ else None}
    if note.field == "review_every":
        return {"review_every": format_duration(v)}
    if note.field == "expires":
        return {"expires": v[:10] if v else None}
    if note.field == "tags":
        return {"tags": "[" + ", ".join(_yaml(t) for t in v) + "]"}
    return {note.field: _yaml(v)}


def rewrite(text: str, changes: dict[str, str | None]) -> str:
    """The file text with front-matter keys set (or removed); a key spanning indented lines is replaced whole."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        raise ValueError("no front matter")
    end = next(i for i in range(1, len(lines)) if lines[i].rstrip() == "---")
    front = lines[1:end]
    for key, value in changes.items():
        start = next((i for i, ln in enumerate(front) if re.match(rf"^{re.escape(key)}\s*:", ln)), None)
        if start is None:
            if value is not None:
                front.append(f"{key}: {value}")
            continue
        stop = start + 1
        while stop < len(front) and (front[stop].startswith((" ", "\t", "- ")) or not front[stop].strip()):
            stop += 1
        front[start:stop] = [] if value is None else [f"{key}: {value}"]
    return "\n".join([lines[0], *front, *lines[end:]])


def write_back(notes: list[FieldNote]) -> list[str]:
    """Rewrite the files of `kept` notes (atomically, one file at a time); the paths written."""
    by_path: dict[str, dict[str, str | None]] = {}
    for n in notes:
        if n.outcome == "kept" and n.path:
            by_path.setdefault(n.path, {}).update(_lines_for(n))
    written = []
    for path, changes in by_path.items():
        p = Path(path)
        new = rewrite(p.read_text("utf-8"), changes)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(new)
        os.chmod(tmp, p.stat().st_mode & 0o7777)
        os.replace(tmp, p)
        written.append(path)
    return written
