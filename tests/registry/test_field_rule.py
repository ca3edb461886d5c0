"""Files and the API share a document's fields (issue 10, item 4): a sync applies a field from the
file only when the file changed it since the last sync; kept registry values are reported."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from freshgate.app import run_sync
from freshgate.registry.models import Document
from freshgate.registry.service import RegistryService
from tests.conftest import NOW, write_doc
from tests.feed.procs import cli

FRONT = ("id: depot\ntitle: Depot rules\nowner: {owner}\ncriticality: {crit}\nreview_every: 90d\n"
         "last_verified: 2026-10-01\nverified_by: marco.rossi")
OWNERS = ("- {id: marco.rossi, contact: marco@x.example}\n- {id: team-logistics, contact: logistics@x.example}\n"
          "- {id: dana.kim, contact: dana@x.example}\n- {id: lena, contact: lena@x.example}\n")


@pytest.fixture
def kb(tmp_path, runtime):
    runtime.registry_ctx.clock = lambda: NOW
    root = tmp_path / "kb" / "sources"
    root.mkdir(parents=True)
    (root / "owners.yaml").write_text(OWNERS, encoding="utf-8")
    return root


def put(root, owner="marco.rossi", crit="medium", body="# Depot\n\n## Hours\n\nOpen 8-18.\n"):
    write_doc(root, "depot.md", FRONT.format(owner=owner, crit=crit), body)


def act(rt, fn):
    with Session(rt.engine, expire_on_commit=False) as s:
        out = fn(RegistryService(s, rt.registry_ctx))
        s.commit()
        return out


def doc(rt) -> Document:
    with Session(rt.engine) as s:
        return s.get(Document, "depot")


def lines(report) -> list[str]:
    return [n.line() for n in report.fields]


def test_transfer_then_sync_of_an_edited_file_keeps_the_transfer_and_says_so(runtime, kb):
    put(kb)
    assert run_sync(runtime, [kb]).failed == []
    act(runtime, lambda svc: svc.transfer("depot", "team-logistics", actor="dana.kim"))
    put(kb, body="# Depot\n\n## Hours\n\nOpen 7-18.\n")  # an edit that leaves the owner line alone
    report = run_sync(runtime, [kb])
    assert doc(runtime).owner_id == "team-logistics" and doc(runtime).version == 2
    assert lines(report) == ["depot: owner: registry says team-logistics (transfer by dana.kim, 2026-11-21); file says "
                             "marco.rossi: kept team-logistics — update the file to match"]
    # An untouched file: the same line on every sync, nothing reverted.
    report = run_sync(runtime, [kb])
    assert doc(runtime).owner_id == "team-logistics" and [n.field for n in report.fields] == ["owner"]


def test_verify_then_sync_keeps_the_verification(runtime, kb):
    put(kb)
    run_sync(runtime, [kb])
    later = NOW + timedelta(days=3)
    runtime.registry_ctx.clock = lambda: later
    act(runtime, lambda svc: svc.verify("depot", actor="dana.kim"))
    put(kb, body="# Depot\n\n## Hours\n\nOpen 7-18.\n")
    report = run_sync(runtime, [kb])
    d = doc(runtime)
    assert d.last_verified.date() == later.date() and d.verified_by == "dana.kim"
    assert [(n.field, n.outcome) for n in report.fields] == [("last_verified", "kept")]
    assert "verify by dana.kim" in report.fields[0].line()


def test_a_file_change_of_another_field_after_an_api_change_applies_only_that_field(runtime, kb):
    put(kb)
    run_sync(runtime, [kb])
    act(runtime, lambda svc: svc.transfer("depot", "team-logistics", actor="dana.kim"))
    put(kb, crit="high")
    report = run_sync(runtime, [kb])
    d = doc(runtime)
    assert (d.owner_id, d.criticality) == ("team-logistics", "high")
    assert [(n.field, n.outcome) for n in report.fields] == [("owner", "kept")]


def test_file_changes_a_field_after_the_api_did_the_file_wins_and_says_so(runtime, kb):
    put(kb)
    run_sync(runtime, [kb])
    act(runtime, lambda svc: svc.transfer("depot", "team-logistics", actor="dana.kim"))
    put(kb, owner="lena")
    report = run_sync(runtime, [kb])
    assert doc(runtime).owner_id == "lena"
    assert lines(report) == ["depot: owner: registry said team-logistics (transfer by dana.kim, 2026-11-21); "
                             "file changed it to lena: both changed, the file wins"]
    assert run_sync(runtime, [kb]).fields == []  # agreed now


def test_a_file_change_without_an_api_change_is_applied_silently(runtime, kb):
    put(kb)
    run_sync(runtime, [kb])
    put(kb, owner="lena", crit="low")
    report = run_sync(runtime, [kb])
    assert (doc(runtime).owner_id, doc(runtime).criticality) == ("lena", "low") and report.fields == []


def test_retire_through_the_api_survives_a_sync_and_unretire_in_the_file_is_applied(runtime, kb):
    put(kb)
    run_sync(runtime, [kb])
    act(runtime, lambda svc: svc.retire("depot", actor="dana.kim"))
    put(kb, body="# Depot\n\n## Hours\n\nOpen 7-18.\n")
    report = run_sync(runtime, [kb])
    assert doc(runtime).status == "retired" and [n.field for n in report.fields] == ["status"]


def test_check_prints_drift_and_writes_nothing_then_write_back_makes_the_file_agree(runtime, kb, database_url):
    put(kb)
    run_sync(runtime, [kb])
    act(runtime, lambda svc: svc.transfer("depot", "team-logistics", actor="dana.kim"))
    put(kb, owner="marco.rossi", crit="high")  # a file change that --check must not write
    before = (doc(runtime).criticality, doc(runtime).revision)
    out = cli(database_url, "sync", str(kb), "--check", "--no-embed")
    assert out.returncode == 0, out.stderr
    assert "kept team-logistics" in out.stdout and "nothing was written" in out.stdout
    assert (doc(runtime).criticality, doc(runtime).revision) == before
    out = cli(database_url, "sync", str(kb), "--write-back", "--no-embed")
    assert out.returncode == 0, out.stderr
    text = (kb / "depot.md").read_text()
    assert "owner: team-logistics" in text and "criticality: high" in text and "marco.rossi" in text  # verified_by
    assert doc(runtime).criticality == "high"
    assert run_sync(runtime, [kb]).fields == []  # the file now says what the registry says
    assert doc(runtime).owner_id == "team-logistics"
