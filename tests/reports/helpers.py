"""A small knowledge base with one item per review state, dated relative to NOW."""

from __future__ import annotations

from pathlib import Path

from freshgate.app import Runtime, run_sync
from tests.conftest import NOW, write_doc

OWNERS = """
- {id: ann, name: Ann Lee, contact: ann@example.test, active: true}
- {id: bob, name: Bob Stone, contact: bob@example.test, active: true}
- {id: gone, name: Gone Person, contact: gone@example.test, active: false}
"""


def doc(directory: Path, doc_id: str, owner: str, criticality: str = "medium", verified: str = "-10d",
        every: str = "90d", extra: str = "", kind: str = "source") -> None:
    """Write one document file."""
    front = (f"id: {doc_id}\ntitle: {doc_id.replace('-', ' ').title()}\nowner: {owner}\ncriticality: {criticality}\n"
             f"review_every: {every}\nlast_verified: {verified}\nverified_by: {owner}\n{extra}")
    write_doc(directory, f"{doc_id}.md", front, body=f"# {doc_id}\n\n## Facts\n\nText of {doc_id}.\n")


def sync_at(rt: Runtime, root: Path, now=NOW):
    """Sync `root` with the registry clock at `now`."""
    rt.registry_ctx.clock = lambda: now
    report = run_sync(rt, [root])
    assert report.failed == [], report.failed
    return report


def states_kb(root: Path) -> Path:
    """One document per state a review row can have."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "owners.yaml").write_text(OWNERS, encoding="utf-8")
    doc(root, "refunds", "ann", "high", extra="expires: -3d\n")                   # expired
    doc(root, "lunch-menu", "bob", "low", verified="-80d")                         # due in 10 days
    doc(root, "pricing", "ann", "high", verified="-120d")                          # stale 30 days
    doc(root, "ancient", "bob", "low", verified="-600d", every="30d")              # stale > a year: retire
    doc(root, "carriers", "gone")                                                  # orphaned
    doc(root, "status-page", "bob", extra="url: https://status.example.test/page.md\n")  # unreachable (see below)
    doc(root, "fresh-one", "bob")                                                  # fresh: not listed
    write_doc(root, "use-pricing.md", "id: use-pricing\ntitle: Quote a price\nowner: ann\ncriticality: medium\n"
              "review_every: 90d\nlast_verified: -5d\nverified_by: ann\nlane: approval\nsources: [pricing]\nkind: sop",
              body="# Quote\n\n## Steps\n\nLook up the price.\n")            # suspect
    return root
