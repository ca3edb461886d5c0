"""Register `sources/` and `sop_cards/` trees: idempotent, per-file failures, nothing lost."""

from __future__ import annotations

import logging
import multiprocessing
import os
import stat
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator

import yaml
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from freshgate.errors import FreshgateError
from freshgate.markdown.parse import DEFAULT_MAX_BYTES, ParsedDocument, ParseError, load_yaml, parse_bytes
from freshgate.registry import merge
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
    fields: list = field(default_factory=list)  # merge.FieldNote: where file and registry disagree (three-way rule)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (owner or path, message)
    notes: list[str] = field(default_factory=list)  # owed work completed or left (feed.owed)

    def as_dict(self) -> dict:
        """JSON-able summary."""
        return {
            "added": self.added, "updated": self.updated, "unchanged": len(self.unchanged),
            "failed": [{"path": p, "reason": r} for p, r in self.failed],
            "missing": [{"id": i, "path": p} for i, p in self.missing],
            "fields": [n.as_dict() for n in self.fields],
            "warnings": [{"item": i, "message": m} for i, m in self.warnings],
            "notes": self.notes,
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
        data, problem = read_file(path, (directory.resolve(),), DEFAULT_MAX_BYTES)
        if problem is not None:
            raise ValueError(problem)
        entries = load_yaml(data.decode("utf-8")) or []
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


BATCH = 200  # files parsed, looked up and (when new) inserted together
PARALLEL_FROM = 1_000  # files in a sync before parsing moves to worker processes (their start costs ~1 s)
PARALLEL_CHUNK = 50  # files to parse in a chunk before it goes to the workers


def sync(svc: RegistryService, dirs: list[Path], *, actor: str = "sync",
         progress: Callable[[int, int], None] | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
         workers: int | None = None, checkpoint: Callable[[], None] | None = None) -> SyncReport:
    """Register every Markdown file under `dirs`; bad files are reported and skipped.

    Large syncs parse in `workers` processes while this one writes (default: one per CPU when
    the machine has an idle CPU; 0: parse here). `checkpoint` is called after each chunk of
    files is written (the edge commits there: a long sync never holds SQLite's write lock for
    long, and what a commit owes — embeddings, conflict checks — is recorded with it)."""
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
    if workers is None:
        workers = _idle_workers() if len(files) >= PARALLEL_FROM else 0
    with _Run(svc, report, actor, by_path, svc.ctx.clock(), max_bytes, workers) as run:
        run.roots = tuple(dirs)  # files resolving outside these are refused (symlinks out of the tree)
        previous: tuple[int, int, list] | None = None
        for start in range(0, len(files) + BATCH, BATCH):
            chunk = files[start:start + BATCH]
            # Read (and start parsing) this chunk, then write the previous one while it parses.
            current = (start, len(chunk), run.read(chunk)) if chunk else None
            if previous is not None:
                run.write(previous[2])
                if checkpoint is not None:
                    checkpoint()
                if progress is not None:
                    for n in range(previous[0] + 1, previous[0] + previous[1] + 1):
                        progress(n, len(files))
            previous = current
            if current is None:
                break
    roots = tuple(str(d) + "/" for d in dirs)
    for p, doc in sorted(by_path.items()):
        if run.claimed.get(doc.id, p) != p:  # moved: registered from its new path in this run
            continue
        if p and p.startswith(roots) and not Path(p).exists():
            report.missing.append((doc.id, p))
    session.flush()
    _warn_unknown_owners(session, report, list(run.claimed))
    return report


def _warn_unknown_owners(session, report: SyncReport, doc_ids: list[str]) -> None:
    """One warning per owner named by synced files that no owners file declares and that has no contact."""
    from freshgate.registry.models import Owner

    counts: dict[str, int] = {}
    for start in range(0, len(doc_ids), 500):
        q = (select(Document.owner_id).join(Owner, Owner.id == Document.owner_id)
             .where(Document.id.in_(doc_ids[start:start + 500]), Owner.contact == ""))
        for owner_id in session.exec(q):
            counts[owner_id] = counts.get(owner_id, 0) + 1
    for owner_id, n in sorted(counts.items()):
        report.warnings.append((owner_id, f"owner {owner_id!r} is not declared in an owners file and has no contact: "
                                          f"its {n} document(s) count as orphaned (owner_unknown) until it has one"))


def read_file(path: Path, roots: tuple[Path, ...], max_bytes: int) -> tuple[bytes | None, str | None]:
    """A file's bytes, or why it is refused: outside the synced tree (a symlink), not a regular file,
    or over the size limit (the size is checked before anything is read)."""
    try:
        real = path.resolve(strict=True)
        if roots and not any(real.is_relative_to(r) for r in roots):
            return None, f"refused: it is a symlink to {real}, outside the synced directories"
        st = real.stat()
        if not stat.S_ISREG(st.st_mode):
            return None, "refused: not a regular file"
        if st.st_size > max_bytes:
            return None, f"file is {st.st_size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit (not read)"
        with open(real, "rb") as fh:
            data = fh.read(max_bytes + 1)  # a file growing after the stat is still capped
        return data, None
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}"


def _idle_workers() -> int:
    """One parse worker per CPU when at least one CPU is idle, else none: on a busy machine the
    workers only add their start-up and pickling to the work (measured: bench/sync_files.py)."""
    cpus = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:
        return 0
    return cpus if cpus > 1 and busy < cpus - 1 else 0


def _parse_job(job: tuple) -> tuple[ParsedDocument | None, str | None]:
    """Parse one file in a worker process: (parsed, None) or, for a bad file, (None, reason)."""
    data, key, now, kind, max_bytes = job
    try:
        return parse_bytes(data, path=key, now=now, default_kind=kind, max_bytes=max_bytes), None
    except ParseError as exc:
        return None, str(exc).removeprefix(key + ": ")
    except Exception:  # noqa: BLE001 - anything else: parsed again where it is reported as usual
        return None, None


class _Run:
    """One sync, chunk by chunk: read and parse the files, look their ids up in one query, insert
    the new documents in bulk and register changed ones one by one; every outcome is reported in
    file order, and each file is isolated from the others."""

    def __init__(self, svc: RegistryService, report: SyncReport, actor: str, by_path: dict[str, Document],
                 now: datetime, max_bytes: int, workers: int) -> None:
        self.svc, self.report, self.actor, self.by_path, self.now, self.max_bytes = (
            svc, report, actor, by_path, now, max_bytes)
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        self.claimed: dict[str, str] = {}  # id -> path, within this run
        self.failed: list[tuple[str, str]] = []  # of the chunk being written
        self.position: dict[str, int] = {}
        self.new: list[tuple[ParsedDocument, str]] = []  # waiting for the bulk insert

    def __enter__(self) -> _Run:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def read(self, paths: list[Path]) -> list:
        """[(path, outcome)] in file order: `unchanged` doc id, `failed` reason, or `data` to parse
        (already being parsed in the workers when there are any)."""
        out: list = []
        for path in paths:
            key = str(path)
            data, problem = read_file(path, getattr(self, "roots", ()), self.max_bytes)
            if problem is not None:
                out.append((key, "failed", problem))
                continue
            known = self.by_path.get(key)
            if known is not None and known.file_hash and _same(known.file_hash, data):
                out.append((key, "unchanged", known.id))
            else:
                out.append((key, "data", (data, _default_kind(path))))
        jobs = [(data, key, self.now, kind, self.max_bytes) for key, what, (data, kind) in
                (e for e in out if e[1] == "data")]
        if self.workers > 1 and len(jobs) >= PARALLEL_CHUNK:
            try:
                if self.pool is None:
                    self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
                results = self.pool.map(_parse_job, jobs, chunksize=max(1, len(jobs) // (4 * self.workers)))
                out.append(("", "parsing", results))
            except Exception as exc:  # noqa: BLE001 - e.g. no child processes allowed here: parse in this one
                log.warning("cannot parse in worker processes (%s); parsing in this process", exc)
                self.workers = 0
        return out

    def write(self, entries: list) -> None:
        """Register a chunk read by `read`; outcomes are reported in file order."""
        results = iter(entries.pop()[2]) if entries and entries[-1][1] == "parsing" else None
        self.position = {key: i for i, (key, _what, _value) in enumerate(entries)}
        self.failed: list[tuple[str, str]] = []
        parsed: list[tuple[str, ParsedDocument]] = []
        for key, what, value in entries:
            if what == "unchanged":
                self.report.unchanged.append(key)
                self.claimed[value] = key
                self.report.fields.extend(merge.unchanged_file_notes(self.svc.session, self.by_path[key], key,
                                                                     self.actor))
                continue
            if what == "failed":
                self.failed.append((key, value))
                continue
            p, reason = None, None
            if results is not None:
                try:
                    p, reason = next(results)
                except Exception as exc:  # noqa: BLE001 - a broken worker: parse here instead
                    log.warning("parse workers failed (%s); parsing in this process", exc)
                    results, self.workers = None, 0
            if reason is not None:
                self.failed.append((key, reason))
                continue
            with self._failures(key):
                parsed.append((key, p or parse_bytes(value[0], path=key, now=self.now, default_kind=value[1],
                                                     max_bytes=self.max_bytes)))
        ids = list({p.meta.id for _key, p in parsed})
        session = self.svc.session
        existing = {d.id: d for d in session.exec(select(Document).where(Document.id.in_(ids))).all()} if ids else {}
        for key, p in parsed:
            with self._failures(key):
                doc_id = p.meta.id
                if doc_id in self.claimed:
                    raise ParseError(key, "id", f"{doc_id!r} is already defined by {self.claimed[doc_id]}")
                known = existing.get(doc_id)
                if known is None:
                    self.new.append((p, key))
                    self.claimed[doc_id] = key
                    continue
                if known.path and known.path != key and Path(known.path).exists():
                    raise ParseError(key, "id", f"{doc_id!r} is already registered from {known.path}")
                self._insert_new()  # keep the audit log in file order
                self._one(p, key)
        self._insert_new()
        self.report.failed.extend(sorted(self.failed, key=lambda f: self.position[f[0]]))

    def _insert_new(self) -> None:
        """Insert the waiting new documents in one savepoint; if the database rejects any of them,
        roll back and register them one by one, so only the bad file fails."""
        if not self.new:
            return
        batch, self.new = self.new, []
        try:
            with self.svc.session.begin_nested():
                self.svc.register_new_batch([(p, key, p.file_hash) for p, key in batch], actor=self.actor)
        except (FreshgateError, SQLAlchemyError) as exc:
            log.info("bulk insert of %d new documents rejected (%s); registering them one by one", len(batch), exc)
            for p, key in batch:
                self.claimed.pop(p.meta.id, None)
            for p, key in batch:
                with self._failures(key):
                    self._one(p, key)
            return
        self.report.added.extend(key for _p, key in batch)

    def _one(self, p: ParsedDocument, key: str) -> None:
        mark = len(self.svc.field_notes)
        try:
            with self.svc.session.begin_nested():
                outcome, _doc = self.svc.register(p, actor=self.actor, path=key, file_hash=p.file_hash)
        except BaseException:
            del self.svc.field_notes[mark:]  # rolled back: nothing to report
            raise
        self.report.fields.extend(self.svc.field_notes[mark:])
        del self.svc.field_notes[mark:]
        self.claimed[p.meta.id] = key
        getattr(self.report, outcome).append(key)

    @contextmanager
    def _failures(self, key: str) -> Iterator[None]:
        """Report a file's failure with its path and reason; the sync goes on."""
        try:
            yield
        except ParseError as exc:
            self.failed.append((key, str(exc).removeprefix(key + ": ")))
        except FreshgateError as exc:
            self.failed.append((key, exc.detail))
        except OSError as exc:
            self.failed.append((key, f"cannot read: {exc.strerror or exc}"))
        except SQLAlchemyError as exc:  # the savepoint is rolled back; the rest of the sync goes on
            log.warning("sync of %s rejected by the database: %s", key, exc)
            self.failed.append((key, f"rejected by the database: {type(getattr(exc, 'orig', exc)).__name__}"))


def _same(stored_hash: str, data: bytes) -> bool:
    import hashlib

    try:
        return hashlib.sha256(data.decode("utf-8-sig").encode("utf-8")).hexdigest() == stored_hash
    except UnicodeDecodeError:
        return False
