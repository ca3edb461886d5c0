"""Sync inserts new documents in bulk: the same rows, audit events and announcements as one-by-one
registration, and a file the database (or a listener) rejects still fails alone."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlmodel import Session, select

from freshgate.app import build_runtime, run_sync
from freshgate.errors import Invalid
from freshgate.markdown.parse import parse_bytes
from freshgate.registry import sync as sync_module
from freshgate.registry.models import AuditEvent, Dependency, Document, DocumentVersion, Owner, Section
from freshgate.registry.service import RegistryService
from freshgate.registry.sync import discover
from tests.conftest import NOW, _drop_schema, make_settings, write_doc

SOURCE = "id: {id}\ntitle: {title}\nowner: {owner}\nreview_every: 90d\nlast_verified: -{age}d\nverified_by: dana\n" \
         "tags: [a, b]\nexpires: 2027-01-01"
SOP = "id: {id}\ntitle: {title}\nowner: dana\nlane: approval\nsources: [src-1, src-2, missing]\nlast_verified: -5d"


@pytest.fixture
def kb_tree(tmp_path) -> list[Path]:
    """Six sources (three owners, one declared only here) and two SOP cards."""
    src, sop = tmp_path / "kb" / "sources", tmp_path / "kb" / "sop_cards"
    for i in range(6):
        write_doc(src, f"src-{i}.md", SOURCE.format(id=f"src-{i}", title=f"Source {i}", owner=f"team-{i % 3}", age=i),
                  f"# Source {i}\n\n## Rule\n\nrule {i}\n\n## Rule\n\nsame heading twice\n")
    for i in range(2):
        write_doc(sop, f"sop-{i}.md", SOP.format(id=f"sop-{i}", title=f"Card {i}"), "# Card\n\n1. Step.\n")
    return [src, sop]


@pytest.fixture
def twin(runtime, tmp_path):
    """A second, empty runtime on the same kind of database."""
    url = runtime.settings.database_url
    if url.startswith("sqlite"):
        other = f"sqlite:///{tmp_path / 'twin.db'}"
        schema = None
    else:
        import psycopg

        base = url.split("?", 1)[0]
        schema = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(base.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        other = f"{base}?options=-csearch_path%3D{schema}"
    rt = build_runtime(make_settings(other))
    yield rt
    rt.close()
    if schema:
        _drop_schema(url.split("?", 1)[0], schema)


def picture(rt) -> dict:
    """Everything registration writes, without surrogate ids."""
    with Session(rt.engine) as s:
        def rows(model, skip=("id",)):
            cols = [c.name for c in model.__table__.columns if c.name not in skip]
            return sorted((tuple(repr(getattr(r, c)) for c in cols) for r in s.exec(select(model)).all()))
        return {"documents": rows(Document, ()), "owners": rows(Owner, ()), "versions": rows(DocumentVersion),
                "sections": rows(Section), "dependencies": rows(Dependency, ()), "audit": rows(AuditEvent)}


def test_bulk_first_sync_writes_what_one_by_one_registration_writes(runtime, twin, kb_tree):
    for rt in (runtime, twin):
        rt.registry_ctx.clock = lambda: NOW
    announced: list = []
    runtime.registry_ctx.listeners.append(lambda session, change: announced.append(change))
    report = run_sync(runtime, kb_tree)
    assert report.failed == [] and len(report.added) == 8
    # The reference: the same files through RegistryService.register, one at a time.
    with Session(twin.engine) as s:
        svc = RegistryService(s, twin.registry_ctx)
        for path in discover(kb_tree):
            kind = "sop" if "sop_cards" in path.parts else "source"
            parsed = parse_bytes(path.read_bytes(), path=str(path), now=NOW, default_kind=kind)
            svc.register(parsed, actor="sync", path=str(path), file_hash=parsed.file_hash)
        s.commit()
    assert picture(runtime) == picture(twin)
    assert sorted((c.document_id, c.action, c.version) for c in announced) == sorted(
        (Path(p).stem, "registered", 1) for p in report.added)


def test_a_rejected_new_document_fails_alone_and_the_rest_of_its_batch_syncs(runtime, kb_tree):
    runtime.registry_ctx.clock = lambda: NOW
    announced: list[str] = []

    def veto(session, change):
        if change.document_id == "src-3":
            raise Invalid("src-3 is not allowed here")
        announced.append(change.document_id)

    runtime.registry_ctx.listeners.append(veto)
    report = run_sync(runtime, kb_tree)
    assert [(Path(p).name, why) for p, why in report.failed] == [("src-3.md", "src-3 is not allowed here")]
    # Every added document is announced (those announced before the veto are announced again when
    # their batch is retried one by one: listeners only remember ids until the commit).
    assert len(report.added) == 7 and set(announced) == {Path(p).stem for p in report.added}
    with Session(runtime.engine) as s:
        ids = set(s.exec(select(Document.id)).all())
        audited = s.exec(select(AuditEvent.document_id).where(AuditEvent.action == "register")).all()
    assert "src-3" not in ids and len(ids) == 7
    assert sorted(audited) == sorted(ids)  # one register event per document, none for the rejected one


def test_chunks_mix_new_changed_and_duplicate_files_in_file_order(runtime, kb_tree, monkeypatch):
    runtime.registry_ctx.clock = lambda: NOW
    assert run_sync(runtime, [kb_tree[0]]).failed == []  # the sources first
    src = kb_tree[0]
    (src / "src-2.md").write_text((src / "src-2.md").read_text().replace("rule 2", "rule 2, edited"))
    write_doc(src, "src-1b.md", SOURCE.format(id="src-1", title="Again", owner="dana", age=1))  # duplicate id
    write_doc(src, "src-7.md", SOURCE.format(id="src-7", title="Seven", owner="new-team", age=1))
    monkeypatch.setattr(sync_module, "BATCH", 3)
    report = run_sync(runtime, kb_tree)
    assert [Path(p).name for p in report.updated] == ["src-2.md"]
    assert sorted(Path(p).name for p in report.added) == ["sop-0.md", "sop-1.md", "src-7.md"]
    assert [(Path(p).name, why) for p, why in report.failed] == [
        ("src-1b.md", f"id: 'src-1' is already defined by {src / 'src-1.md'}")]
    with Session(runtime.engine) as s:
        events = s.exec(select(AuditEvent.action, AuditEvent.document_id).order_by(AuditEvent.id)).all()
        assert s.get(Document, "src-2").version == 2
        assert s.get(Owner, "new-team") is not None
    tail = [e for e in events if e[0] in ("register", "update")][-4:]
    assert tail == [("update", "src-2"), ("register", "src-7"), ("register", "sop-0"), ("register", "sop-1")]


def test_parsing_in_worker_processes_gives_the_same_sync(runtime, twin, kb_tree, monkeypatch):
    """A large sync parses in worker processes; outcomes, reasons and rows are those of a serial sync."""
    src = kb_tree[0]
    (src / "broken.md").write_text("---\nid: broken\ntitle: [unclosed\n---\n# Broken\n")
    write_doc(src, "src-1b.md", SOURCE.format(id="src-1", title="Again", owner="dana", age=1))
    for rt in (runtime, twin):
        rt.registry_ctx.clock = lambda: NOW
    monkeypatch.setattr(sync_module, "BATCH", 4)
    monkeypatch.setattr(sync_module, "PARALLEL_CHUNK", 1)
    with Session(runtime.engine) as s:
        parallel = sync_module.sync(RegistryService(s, runtime.registry_ctx), kb_tree, workers=2)
        s.commit()
    with Session(twin.engine) as s:
        serial = sync_module.sync(RegistryService(s, twin.registry_ctx), kb_tree, workers=0)
        s.commit()
    assert parallel.as_dict() == serial.as_dict()
    assert [Path(p).name for p, _why in parallel.failed] == ["broken.md", "src-1b.md"]
    assert len(parallel.added) == 8
    assert picture(runtime) == picture(twin)
