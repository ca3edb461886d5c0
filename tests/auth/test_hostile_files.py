"""Hostile files in a synced tree: a YAML alias bomb and symlinks out of the tree are refused with a
reason, the rest of the sync goes on, and nothing else changes (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest

from freshgate.app import run_sync
from freshgate.markdown.parse import ParseError, parse_text
from tests.conftest import write_doc

BOMB = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
updated: [*g,*g,*g,*g,*g,*g,*g,*g,*g]"""


def test_alias_bomb_is_refused_in_one_short_line():
    with pytest.raises(ParseError) as err:
        parse_text(f"---\nowner: x\n{BOMB}\n---\n# T\n\ntext\n", path="bomb.md", now=datetime.now(timezone.utc))
    assert "aliases" in str(err.value) and len(str(err.value)) < 400


def test_long_error_messages_are_capped():
    with pytest.raises(ParseError) as err:
        parse_text("---\nowner: x\ncriticality: " + "h" * 100_000 + "\n---\n# T\n\nt\n", path="long.md",
                   now=datetime.now(timezone.utc))
    assert len(str(err.value)) < 500 and "more characters" in str(err.value)


def test_sync_refuses_bombs_and_symlinks_out_of_the_tree_and_goes_on(runtime, client, tmp_path):
    src = tmp_path / "kb" / "sources"
    write_doc(src, "good.md", "owner: dana\nlast_verified: -1d")
    write_doc(src, "bomb.md", "owner: dana\n" + BOMB)
    outside = tmp_path / "secret"
    write_doc(outside, "secret.md", "owner: mallory\nlast_verified: -1d", "# Secret\n\n## S\n\nroot password\n")
    os.symlink(outside / "secret.md", src / "linked.md")
    os.symlink(outside, src / "linked-dir")
    (src / "owners.yaml").write_text("- id: dana\n  name: &n Dana\n  contact: *n\n")
    big = src / "big.md"
    big.write_bytes(b"---\nowner: dana\n---\n# Big\n\n" + b"x" * 1_100_000)
    report = run_sync(runtime, [src])
    reasons = dict(report.failed)
    # a file under a symlinked directory is either not discovered or refused the same way
    assert all("outside the synced" in r for p, r in report.failed if "linked-dir" in p)
    assert "aliases" in reasons[str(src / "bomb.md")]
    assert "outside the synced directories" in reasons[str(src / "linked.md")]
    assert "not read" in reasons[str(big)]
    assert any("owners.yaml" in p and "aliases" in r for p, r in report.failed)
    assert [d["id"] for d in client.get("/v1/documents").json()] == ["good"]
    assert client.get("/v1/owners/mallory").status_code == 404
    assert all(len(r) < 500 for _, r in report.failed)
