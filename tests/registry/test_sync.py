"""Sync from Markdown: idempotent, per-file failures, edits become versions, nothing lost."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from freshgate.app import run_sync
from freshgate.registry.models import AuditEvent, Document, DocumentVersion, Owner
from freshgate.registry.queries import document_detail
from freshgate.registry.service import RegistryService
from tests.conftest import NOW, write_doc

SOURCE = "id: {id}\ntitle: {title}\nowner: dana\nreview_every: 90d\nlast_verified: {lv}\nverified_by: dana"
SOP = "id: {id}\ntitle: {title}\nowner: dana\nlane: approval\nsources: [alpha]\nlast_verified: -5d"


@pytest.fixture
def clock(runtime):
    """Set the registry clock: clock(t) makes every later action happen at t."""
    def set_(t):
        runtime.registry_ctx.clock = lambda: t
    set_(NOW)
    return set_


@pytest.fixture
def tree(tmp_path):
    """A small knowledge base: three sources and one SOP card."""
    src, sop = tmp_path / "kb" / "sources", tmp_path / "kb" / "sop_cards"
    for i, name in enumerate(("alpha", "beta", "gamma")):
        write_doc(src, f"{name}.md", SOURCE.format(id=name, title=name.title(), lv=f"-{10 + i}d"),
                  f"# {name.title()}\n\n## Rule\n\n{name} text.\n")
    write_doc(sop, "do-thing.md", SOP.format(id="do-thing", title="Do the thing"), "# Do the thing\n\n1. Step.\n")
    return [src, sop]


def db_picture(rt) -> dict:
    """Every registered document's identity-relevant fields, and the audit count."""
    with Session(rt.engine) as s:
        docs = {d.id: (d.version, d.content_hash, d.revision, d.last_verified, d.status, d.owner_id, d.path)
                for d in s.exec(select(Document)).all()}
        audits = s.exec(select(func.count()).select_from(AuditEvent)).one()
    return {"docs": docs, "audits": audits}


def state_of(rt, doc_id, now=NOW):
    with Session(rt.engine) as s:
        return document_detail(RegistryService(s, rt.registry_ctx), doc_id, now)


def test_first_sync_registers_everything_and_reports_a_summary(runtime, clock, tree):
    report = run_sync(runtime, tree)
    assert report.failed == [] and report.missing == []
    assert sorted(Path(p).stem for p in report.added) == ["alpha", "beta", "do-thing", "gamma"]
    assert report.as_dict()["unchanged"] == 0
    d = state_of(runtime, "do-thing")
    assert d.kind == "sop" and d.dependencies == ["alpha"] and d.state == "fresh"
    assert state_of(runtime, "alpha").dependents == ["do-thing"]


def test_second_sync_is_idempotent_and_writes_no_audit(runtime, clock, tree):
    run_sync(runtime, tree)
    before = db_picture(runtime)
    clock(NOW + timedelta(hours=1))
    report = run_sync(runtime, tree)
    assert (report.added, report.updated, report.failed) == ([], [], [])
    assert len(report.unchanged) == 4
    assert db_picture(runtime) == before


BAD_FILES = [
    ("bad yaml", "bad.md", b"---\nid: bad\nowner: [oops\n---\n# B\n\nx\n", "not valid YAML"),
    ("unknown lane", "bad.md", b"---\nid: bad\nowner: d\nkind: sop\nlane: yolo\n---\n# B\n\nx\n", "lane"),
    ("negative duration", "bad.md", b"---\nid: bad\nowner: d\nreview_every: -30d\n---\n# B\n\nx\n",
     "review_every: '-30d' must be a positive duration"),
    ("missing owner", "bad.md", b"---\nid: bad\ntitle: B\n---\n# B\n\nx\n", "owner: is required"),
    ("impossible date", "bad.md", b"---\nid: bad\nowner: d\nlast_verified: 2026-02-30\n---\n# B\n\nx\n",
     "last_verified"),
    ("duplicate id", "zeta.md", b"---\nid: alpha\nowner: d\ntitle: Impostor\n---\n# Z\n\nimpostor\n",
     "'alpha' is already"),
    ("non-utf8", "bad.md", b"---\nid: bad\nowner: d\n---\n# B\n\ncaf\xe9\n", "not valid UTF-8"),
    ("5 MB", "bad.md", b"---\nid: bad\nowner: d\n---\n# B\n\n" + b"x" * 5_000_000, "5.0 MB, over the"),
]


@pytest.mark.parametrize("name,filename,data,reason", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_file_is_reported_and_everything_else_syncs(runtime, clock, tree, name, filename, data, reason):
    run_sync(runtime, tree)
    before = db_picture(runtime)
    bad = tree[0] / filename
    bad.write_bytes(data)
    write_doc(tree[0], "delta.md", SOURCE.format(id="delta", title="Delta", lv="-1d"))
    report = run_sync(runtime, tree)
    assert [(p, r) for p, r in report.failed if reason in r] == [(str(bad), next(r for _, r in report.failed))]
    assert len(report.failed) == 1
    assert [Path(p).stem for p in report.added] == ["delta"]
    assert len(report.unchanged) == 4
    after = db_picture(runtime)
    assert {k: v for k, v in after["docs"].items() if k != "delta"} == before["docs"]
    assert state_of(runtime, "alpha").title == "Alpha"


def test_duplicate_id_within_one_first_sync_keeps_the_first_file(runtime, clock, tree):
    twin = write_doc(tree[0], "zz-alpha-twin.md", "id: alpha\nowner: d\ntitle: Twin")
    report = run_sync(runtime, tree)
    assert report.failed == [(str(twin), "id: 'alpha' is already defined by " + str(tree[0] / "alpha.md"))]
    assert state_of(runtime, "alpha").title == "Alpha"


def test_edit_becomes_new_version_and_changed(runtime, clock, tree):
    run_sync(runtime, tree)
    clock(NOW + timedelta(days=1))
    path = tree[0] / "alpha.md"
    path.write_text(path.read_text().replace("alpha text.", "alpha text, now different."))
    report = run_sync(runtime, tree)
    assert [Path(p).stem for p in report.updated] == ["alpha"]
    d = state_of(runtime, "alpha", NOW + timedelta(days=1))
    assert d.version == 2 and [v.version for v in d.versions] == [2, 1]
    assert d.state == "changed" and "changed" in [r.code for r in d.reasons]
    assert "now different" in d.content
    # The SOP card relying on it is suspect until the source is re-verified.
    card = state_of(runtime, "do-thing", NOW + timedelta(days=1))
    assert card.state == "suspect" and card.reasons[0].item == "alpha"


def test_edit_that_also_advances_last_verified_is_not_changed(runtime, clock, tree):
    run_sync(runtime, tree)
    clock(NOW + timedelta(days=1))
    path = tree[0] / "alpha.md"
    text = path.read_text().replace("alpha text.", "alpha text v2.").replace("last_verified: -10d",
                                                                            "last_verified: 2026-11-22")
    path.write_text(text)
    run_sync(runtime, tree)
    d = state_of(runtime, "alpha", NOW + timedelta(days=1))
    assert d.version == 2 and d.state == "fresh"
    assert d.last_verified.date().isoformat() == "2026-11-22"


def test_front_matter_only_edit_updates_fields_without_new_version(runtime, clock, tree):
    run_sync(runtime, tree)
    path = tree[0] / "beta.md"
    path.write_text(path.read_text().replace("review_every: 90d", "review_every: 2w"))
    report = run_sync(runtime, tree)
    assert [Path(p).stem for p in report.updated] == ["beta"]
    d = state_of(runtime, "beta")
    assert (d.version, d.review_every, d.state) == (1, "2w", "due")
    with Session(runtime.engine) as s:
        actions = [e.action for e in RegistryService(s).audit("beta")]
    assert actions == ["update_meta", "register"]


def test_removed_file_is_reported_missing_and_stays_registered(runtime, clock, tree):
    run_sync(runtime, tree)
    (tree[0] / "gamma.md").unlink()
    report = run_sync(runtime, tree)
    assert report.missing == [("gamma", str(tree[0] / "gamma.md"))]
    assert state_of(runtime, "gamma").title == "Gamma"
    with Session(runtime.engine) as s:
        assert s.exec(select(func.count()).select_from(DocumentVersion)
                      .where(DocumentVersion.document_id == "gamma")).one() == 1


def test_renamed_file_is_not_reported_missing(runtime, clock, tree):
    run_sync(runtime, tree)
    (tree[0] / "gamma.md").rename(tree[0] / "gamma-renamed.md")
    report = run_sync(runtime, tree)
    assert report.missing == [] and report.failed == []
    assert state_of(runtime, "gamma").path == str(tree[0] / "gamma-renamed.md")


def test_owners_file_inactive_owner_makes_items_orphaned(runtime, clock, tree):
    (tree[0] / "owners.yaml").write_text(
        "- {id: dana, name: Dana Kim, contact: dana@example.com}\n- {id: marco, name: Marco, active: false}\n")
    write_doc(tree[0], "left.md", "id: left\nowner: marco\nlast_verified: -1d")
    report = run_sync(runtime, tree)
    assert report.failed == []
    assert state_of(runtime, "left").state == "orphaned"
    assert state_of(runtime, "alpha").owner_detail.contact == "dana@example.com"


def test_resync_never_reactivates_an_owner_deactivated_via_the_api(runtime, clock, tree):
    (tree[0] / "owners.yaml").write_text("- {id: dana, name: Dana Kim, active: true}\n")
    run_sync(runtime, tree)
    with Session(runtime.engine) as s:
        RegistryService(s, runtime.registry_ctx).set_owner_active("dana", False, actor="admin")
        s.commit()
    (tree[0] / "owners.yaml").write_text("- {id: dana, name: Dana K., contact: new@example.com, active: true}\n")
    path = tree[0] / "alpha.md"
    path.write_text(path.read_text().replace("alpha text.", "edited."))
    run_sync(runtime, tree)
    with Session(runtime.engine) as s:
        dana = s.get(Owner, "dana")
        assert dana.active is False and dana.contact == "new@example.com"
    assert state_of(runtime, "beta").state == "orphaned"


def test_bad_owners_file_is_reported_and_documents_still_sync(runtime, clock, tree):
    bad = tree[0] / "owners.yaml"
    bad.write_text("- {id: ok-owner, name: Fine}\n- {name: no id}\n")
    report = run_sync(runtime, tree)
    assert report.failed == [(str(bad), "owners file: entry 2 needs an id")]
    assert len(report.added) == 4
    with Session(runtime.engine) as s:  # a half-applied owners file is rolled back as a whole
        assert s.get(Owner, "ok-owner") is None


def test_missing_directory_is_reported(runtime, clock, tree, tmp_path):
    report = run_sync(runtime, [*tree, tmp_path / "nope"])
    assert report.failed == [(str(tmp_path / "nope"), "not a directory")]
    assert len(report.added) == 4
