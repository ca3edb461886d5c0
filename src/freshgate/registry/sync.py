"""Register `sources/` and `sop_cards/` trees: idempotent, per-file failures, nothing lost."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import yaml
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from freshgate.errors import FreshgateError
from freshgate.markdown.parse import DEFAULT_MAX_BYTES, ParseError, parse_bytes
from freshgate.registry.models import Document
from freshgate.registry.service import RegistryService

log = logging.getLogger(__name__)
OWNERS_FILE = "owners.yaml"


@dataclass
class SyncReport:
    """What a sync did, file by file."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (id, path) registered but gone from disk

    def as_dict(self) -> dict:
        """JSON-able summary."""
        return {
            "added": self.added, "updated": self.updated, "unchanged": len(self.unchanged),
            "failed": [{"path": p, "reason": r} for p, r in self.failed],
            "missing": [{"id": i, "path": p} for i, p in self.missing],
        }


def discover(dirs: Iterable[Path]) -> list[Path]:
    """Markdown files under the directories, in a stable order."""
    files: list[Path] = []
    for d in dirs:
        files.extend(sorted(p for p in d.rglob("*.md") if p.is_file() and p.name.lower() != "readme.md"))
    return files


def _default_kind(path: Path) -> str:
    return "sop" if any(part in ("sop_cards", "sops", "sop") for part in path.parts) else "source"


def load_owners(svc: RegistryService, directory: Path, actor: str, report: SyncReport) -> None:
    """Apply an owners.yaml: create owners, update name/contact, deactivate (never silently re-activate)."""
    path = directory / OWNERS_FILE
    if not path.is_file():
        return
    try:
        entries = yaml.safe_load(path.read_text("utf-8")) or []
        if not isinstance(entries, list):
            raise ValueError("must be a list of {id, name, contact, active}")
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or not e.get("id"):
                raise ValueError(f"entry {i + 1} needs an id")
        with svc.session.begin_nested():  # all of the file or none of it
            for e in entries:
                owner = svc.ensure_owner(str(e["id"]), str(e.get("name", "")), str(e.get("contact", "")), actor)
                if e.get("active", True) is False and owner.active:
                    svc.set_owner_active(owner.id, False, actor=actor)
            svc.session.flush()
    except (ValueError, yaml.YAMLError, UnicodeDecodeError, FreshgateError, SQLAlchemyError) as exc:
        report.failed.append((str(path), f"owners file: {exc}"))


def sync(svc: RegistryService, dirs: list[Path], *, actor: str = "sync",
         progress: Callable[[int, int], None] | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> SyncReport:
    """Register every Markdown file under `dirs`; bad files are reported and skipped."""
    report = SyncReport()
    session = svc.session
    dirs = [Path(d).resolve() for d in dirs]
    for d in dirs:
        if not d.is_dir():
            report.failed.append((str(d), "not a directory"))
    dirs = [d for d in dirs if d.is_dir()]
    for d in dirs:
        load_owners(svc, d, actor, report)
    files = discover(dirs)
    by_path = {doc.path: doc for doc in session.exec(select(Document).where(Document.path.is_not(None))).all()}
    claimed: dict[str, str] = {}  # id -> path, within this run
    now = svc.ctx.clock()
    for n, path in enumerate(files, 1):
        key = str(path)
        try:
            data = path.read_bytes()
            known = by_path.get(key)
            if known is not None and known.file_hash and _same(known.file_hash, data):
                report.unchanged.append(key)
                claimed[known.id] = key
                continue
            parsed = parse_bytes(data, path=key, now=now, default_kind=_default_kind(path), max_bytes=max_bytes)
            doc_id = parsed.meta.id
            if doc_id in claimed:
                raise ParseError(key, "id", f"{doc_id!r} is already defined by {claimed[doc_id]}")
            existing = session.get(Document, doc_id)
            if existing is not None and existing.path and existing.path != key and Path(existing.path).exists():
                raise ParseError(key, "id", f"{doc_id!r} is already registered from {existing.path}")
            with session.begin_nested():
                outcome, _doc = svc.register(parsed, actor=actor, path=key, file_hash=parsed.file_hash)
            claimed[doc_id] = key
            getattr(report, outcome).append(key)
        except ParseError as exc:
            report.failed.append((key, str(exc).removeprefix(key + ": ")))
        except FreshgateError as exc:
            report.failed.append((key, exc.detail))
        except OSError as exc:
            report.failed.append((key, f"cannot read: {exc.strerror or exc}"))
        except SQLAlchemyError as exc:  # the savepoint is rolled back; the rest of the sync goes on
            log.warning("sync of %s rejected by the database: %s", key, exc)
            report.failed.append((key, f"rejected by the database: {type(getattr(exc, 'orig', exc)).__name__}"))
        if progress is not None:
            progress(n, len(files))
    roots = tuple(str(d) + "/" for d in dirs)
    for p, doc in sorted(by_path.items()):
        if claimed.get(doc.id, p) != p:  # moved: registered from its new path in this run
            continue
        if p and p.startswith(roots) and not Path(p).exists():
            report.missing.append((doc.id, p))
    session.flush()
    return report


def _same(stored_hash: str, data: bytes) -> bool:
    import hashlib

    try:
        return hashlib.sha256(data.decode("utf-8-sig").encode("utf-8")).hexdigest() == stored_hash
    except UnicodeDecodeError:
        return False
