"""The command line on both databases: sync, list, show, verify, update, retire, transfer, owners, status."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from freshgate.cli import app
from tests.conftest import NOW, write_doc


@pytest.fixture
def cli(database_url, tmp_path, monkeypatch):
    """Run `freshgate --database-url URL ...`; returns (exit code, stdout, stderr)."""
    # The fixtures name owners without contacts; the unknown-owner rule has its own tests (tests/feed).
    monkeypatch.setenv("FRESHGATE_FRESHNESS__OWNER_CONTACT_REQUIRED", "false")
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        r = runner.invoke(app, ["--database-url", database_url, *args], input=input, catch_exceptions=False)
        return r.exit_code, r.stdout, r.stderr
    run.database_url = database_url
    return run


@pytest.fixture
def kbdir(tmp_path):
    src, sop = tmp_path / "kb" / "sources", tmp_path / "kb" / "sop_cards"
    write_doc(src, "refunds.md", "owner: dana\ntags: [billing]\nlast_verified: -10d")
    write_doc(src, "shipping.md", "owner: lena\nlast_verified: -200d")
    write_doc(src, "old.md", "owner: lena\nlast_verified: -5d")
    write_doc(sop, "refund-card.md", "owner: dana\nlane: approval\nsources: [refunds]\nlast_verified: -5d")
    return src, sop


def listed(cli, *args) -> dict[str, dict]:
    code, out, _ = cli("list", "--json", *args)
    assert code == 0
    return {d["id"]: d for d in json.loads(out)}


def test_sync_list_show_status(cli, kbdir):
    code, out, err = cli("sync", *map(str, kbdir))
    assert code == 0, err
    assert "added" in out and "4" in out
    code, out, _ = cli("sync", *map(str, kbdir))  # idempotent
    assert code == 0 and "4" in out.splitlines()[-2]
    docs = listed(cli)
    assert {k: v["state"] for k, v in docs.items()} == {"old": "fresh", "refund-card": "fresh", "refunds": "fresh",
                                                         "shipping": "stale"}
    assert set(listed(cli, "--kind", "sop")) == {"refund-card"}
    assert set(listed(cli, "--state", "stale")) == {"shipping"}
    assert set(listed(cli, "--owner", "lena")) == {"old", "shipping"}
    assert set(listed(cli, "--tag", "billing")) == {"refunds"}
    code, out, _ = cli("list")
    assert code == 0 and "shipping" in out and "stale" in out
    code, out, _ = cli("show", "refund-card")
    assert code == 0 and "relies on: refunds" in out and "lane approval" in out and "#title" in out
    code, out, _ = cli("show", "refunds", "--json")
    assert json.loads(out)["dependents"] == ["refund-card"]
    code, out, _ = cli("status", "--json")
    assert json.loads(out) == {"retired": 0, "expired": 0, "changed": 0, "orphaned": 0, "unreachable": 0,
                               "stale": 1, "suspect": 0, "due": 0, "fresh": 3}


def test_sync_reports_bad_files_and_exits_2(cli, kbdir):
    bad = kbdir[0] / "bad.md"
    bad.write_text("---\nowner: x\nreview_every: -1d\n---\n# B\n\nb\n")
    code, out, err = cli("sync", *map(str, kbdir))
    assert code == 2
    assert f"failed {bad}: review_every: '-1d' must be a positive duration" in " ".join(err.split())
    assert set(listed(cli)) == {"old", "refund-card", "refunds", "shipping"}


def test_owner_workflow(cli, kbdir, tmp_path):
    cli("sync", *map(str, kbdir))
    code, out, _ = cli("verify", "shipping", "--as", "lena", "--note", "checked")
    assert code == 0 and "shipping: fresh (revision 2)" in out
    body = tmp_path / "new.md"
    body.write_text("# Refunds\n\nNow 14 days.\n")
    code, out, _ = cli("update", "refunds", str(body), "--as", "dana")
    assert code == 0 and "refunds: changed" in out
    assert listed(cli)["refund-card"]["state"] == "suspect"
    code, out, _ = cli("update", "refunds", "-", "--as", "dana", "--verify", input="# Refunds\n\n15 days.\n")
    assert code == 0 and "refunds: fresh" in out
    assert json.loads(cli("show", "refunds", "--json")[1])["version"] == 3
    code, out, _ = cli("retire", "old", "--as", "lena", "--successor", "refunds", "--reason", "merged")
    assert code == 0 and "old: retired" in out
    code, out, _ = cli("unretire", "old", "--as", "lena")
    assert code == 0 and "old: fresh" in out
    code, out, _ = cli("transfer", "old", "dana", "--as", "boss")
    assert code == 0 and listed(cli)["old"]["owner"] == "dana"


def test_actions_fail_with_one_line_and_nonzero_exit(cli, kbdir):
    cli("sync", *map(str, kbdir))
    code, _, err = cli("retire", "old", "--as", "x", "--successor", "ghost")
    assert code == 1 and "successor 'ghost' does not exist" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("verify", "nope", "--as", "x")
    assert code == 1 and "no document with id 'nope'" in err
    code, _, err = cli("transfer", "old", "nobody", "--as", "x")
    assert code == 1 and "no owner with id 'nobody'" in err
    assert listed(cli)["old"]["status"] == "active"


def test_owners_list_deactivate_activate(cli, kbdir):
    cli("sync", *map(str, kbdir))
    code, out, _ = cli("owners", "deactivate", "lena", "--as", "admin")
    assert code == 0 and "lena: inactive" in out
    assert {k: v["state"] for k, v in listed(cli, "--owner", "lena").items()} == {"old": "orphaned",
                                                                               "shipping": "orphaned"}
    code, out, _ = cli("owners")
    row = next(line for line in out.splitlines() if "lena" in line)
    assert "no" in row and "2" in row
    code, out, _ = cli("owners", "activate", "lena", "--as", "admin")
    assert code == 0 and listed(cli)["old"]["state"] == "fresh"
    code, _, err = cli("owners", "deactivate", "nobody", "--as", "admin")
    assert code == 1 and "nobody" in err


def test_show_of_unknown_document_is_one_line_error_not_traceback(database_url):
    """Read commands map our errors to a one-line message and exit 1, like write commands."""
    from typer.testing import CliRunner

    from freshgate.cli import app as cli_app

    result = CliRunner().invoke(cli_app, ["--database-url", database_url, "show", "no-such-doc"])
    assert result.exit_code == 1
    assert "no document with id 'no-such-doc'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.model
def test_cli_sync_alone_finds_the_example_contradictions(cli, kb):
    """`freshgate sync` embeds and checks like the server does: no server needed to see conflicts."""
    code, _out, _err = cli("sync", str(kb / "sources"), str(kb / "sop_cards"))
    assert code == 0
    code, out, _err = cli("conflicts", "list", "--json")
    assert code == 0
    found = json.loads(out)
    pairs = {tuple(sorted((c["a"]["document_id"], c["b"]["document_id"]))) for c in found}
    assert pairs == {("billing-faq", "refund-policy"), ("discount-approval-limits", "sales-playbook")}
    code, _out, _err = cli("sync", "--no-embed", str(kb / "sources"), str(kb / "sop_cards"))
    assert code == 0


# ---- the local administrator is recorded as both: `--as` and the OS user ----------------------------------------

def os_user() -> str:
    """Who runs the tests, from the uid (what the audit must name, whatever --as says)."""
    import os
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _open_conflict(database_url: str, doc_a: str, doc_b: str) -> int:
    """A real open conflict row between the first sections of two registered documents."""
    from sqlmodel import Session, select

    from freshgate import db
    from freshgate.conflicts.models import ConflictRecord, pair_key
    from freshgate.registry.models import Section

    engine = db.make_engine(database_url)
    with Session(engine) as s:
        sa, sb = (s.exec(select(Section).where(Section.document_id == d).order_by(Section.id)).first()
                  for d in (doc_a, doc_b))
        c = ConflictRecord(pair_key=pair_key(sa.text_hash, sb.text_hash), doc_a=doc_a, version_a=sa.version,
                           anchor_a=sa.anchor, hash_a=sa.text_hash, text_a=sa.text, doc_b=doc_b, version_b=sb.version,
                           anchor_b=sb.anchor, hash_b=sb.text_hash, text_b=sb.text, similarity=0.9, score=0.9,
                           judge="test", detected_at=NOW, updated_at=NOW)
        s.add(c)
        s.commit()
        cid = c.id
    engine.dispose()
    return cid


def last_audit(database_url: str) -> tuple[str, str, str | None, str | None]:
    """(action, actor, document, owner) of the newest audit event."""
    from sqlmodel import Session, select

    from freshgate import db
    from freshgate.registry.models import AuditEvent

    engine = db.make_engine(database_url)
    with Session(engine) as s:
        e = s.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    engine.dispose()
    return e.action, e.actor, e.document_id, e.owner_id


# command -> (setup commands run first, the command, the audit action and the document or owner it must record;
# a conflict verdict records one event per side, the newest on side b)
WRITES = {
    "verify": ([], ["verify", "shipping", "--as", "maria"], "verify", "shipping"),
    "update": ([], ["update", "refunds", "-", "--as", "maria"], "update", "refunds"),
    "retire": ([], ["retire", "old", "--as", "maria", "--reason", "gone"], "retire", "old"),
    "unretire": ([["retire", "old", "--as", "lena"]], ["unretire", "old", "--as", "maria"], "unretire", "old"),
    "transfer": ([], ["transfer", "old", "dana", "--as", "maria"], "transfer", "old"),
    "owners deactivate": ([], ["owners", "deactivate", "lena", "--as", "maria"], "owner_deactivated", "lena"),
    "owners activate": ([["owners", "deactivate", "lena", "--as", "lena"]], ["owners", "activate", "lena", "--as",
                                                                             "maria"], "owner_activated", "lena"),
    "sync": ([], ["sync", "--no-embed", "--as", "maria", "{new}"], "register", "added"),
    "conflicts confirm": ([], ["conflicts", "confirm", "{conflict}", "--as", "maria"], "conflict_confirmed", "old"),
    "conflicts dismiss": ([], ["conflicts", "dismiss", "{conflict}", "--as", "maria", "--reason", "same rule"],
                          "conflict_dismissed", "old"),
    "conflicts reopen": ([["conflicts", "dismiss", "{conflict}", "--as", "lena", "--reason", "x"]],
                         ["conflicts", "reopen", "{conflict}", "--as", "maria", "--reason", "it is real"],
                         "conflict_reopened", "old"),
}


@pytest.mark.parametrize("command", list(WRITES))
def test_every_cli_write_records_as_and_the_os_user(command, cli, kbdir, database_url, tmp_path):
    """The CLI is a local administrator: its audit actor is `<--as> (by local:<OS user>)`, the API's on-behalf form."""
    setup, args, action, subject = WRITES[command]
    assert cli("sync", "--no-embed", *map(str, kbdir))[0] == 0
    new = tmp_path / "more"
    write_doc(new, "added.md", "owner: dana\nlast_verified: -1d")
    conflict = str(_open_conflict(database_url, "refunds", "old")) if command.startswith("conflicts") else ""

    def fill(a: list[str]) -> list[str]:
        return [x.format(new=new, conflict=conflict) for x in a]

    for step in setup:
        assert cli(*fill(step))[0] == 0
    code, out, err = cli(*fill(args), input="# Refunds\n\nNow 14 days.\n")
    assert code == 0, err
    got_action, actor, doc, owner = last_audit(database_url)
    assert (got_action, doc or owner) == (action, subject)
    assert actor == f"maria (by local:{os_user()})"


def test_keys_record_the_os_user(cli):
    """`keys create|revoke` act for nobody else: the OS user alone."""
    code, out, _ = cli("keys", "create", "--role", "agent", "--label", "bot", "--json")
    assert code == 0
    assert last_audit(cli.database_url)[:2] == ("key_created", f"local:{os_user()}")
    assert cli("keys", "revoke", json.loads(out)["id"])[0] == 0
    assert last_audit(cli.database_url)[:2] == ("key_revoked", f"local:{os_user()}")


def test_a_long_or_odd_as_name_never_hides_the_os_user(cli, kbdir):
    """A 1,000-character --as is shortened, not the OS user; control characters are refused and change nothing."""
    cli("sync", "--no-embed", *map(str, kbdir))
    assert cli("verify", "shipping", "--as", "m" * 1000)[0] == 0
    _, actor, _, _ = last_audit(cli.database_url)
    assert actor.startswith("mmm") and actor.endswith(f" (by local:{os_user()})") and len(actor) <= 200
    code, _, err = cli("verify", "shipping", "--as", "eve\nadmin")
    assert code == 1 and "control characters" in err
    assert last_audit(cli.database_url)[1] == actor
