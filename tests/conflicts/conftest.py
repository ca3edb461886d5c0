"""Conflict fixtures: a runtime whose lookup index uses the hashing embedder and the rules judge."""

from __future__ import annotations

from pathlib import Path

import pytest

from freshgate import db
from freshgate.app import run_sync
from freshgate.embeddings.embedder import HashingEmbedder
from tests.conftest import write_doc

FRONT = """id: {id}
title: {title}
owner: {owner}
criticality: medium
review_every: 90d
last_verified: -5d
verified_by: {owner}
status: {status}"""

REFUNDS = "# Refunds\n\n## Refund window for monthly plans\n\nRefunds for monthly plans are available within 30 days of the charge date.\n"
FAQ = "# Billing FAQ\n\n## Refund window for monthly plans\n\nRefunds for monthly plans are available within 14 days of the charge date.\n"
SHIPPING = "# Shipping\n\n## Parcel carriers\n\nParcels leave the warehouse in Venlo with DHL or PostNL every working day.\n"


def faq_body(days: int) -> str:
    """The FAQ with another refund window."""
    return FAQ.replace("14 days", f"{days} days")


def add_doc(directory: Path, doc_id: str, owner: str, body: str, status: str = "active") -> Path:
    """Write one registry file."""
    return write_doc(directory, f"{doc_id}.md", FRONT.format(id=doc_id, title=doc_id.title(), owner=owner, status=status),
                     body)


@pytest.fixture
def crt(runtime):
    """The runtime with a built (hashing) index, the rules judge, and incremental checks on."""
    runtime.settings.conflicts.judge = "rules"
    runtime.settings.lookup.relevance_threshold = 0.2
    lk = runtime.extras["lookup"]
    lk.use_embedder(HashingEmbedder())
    lk.warm_up()
    return runtime


@pytest.fixture
def docs(crt, tmp_path) -> Path:
    """refunds (alice, 30 days) and faq (bob, 14 days) disagree; shipping (carol) is unrelated. Synced."""
    d = tmp_path / "docs"
    add_doc(d, "refunds", "alice", REFUNDS)
    add_doc(d, "faq", "bob", FAQ)
    add_doc(d, "shipping", "carol", SHIPPING)
    assert run_sync(crt, [d]).failed == []
    return d


def hub(rt):
    """The conflict hub of a runtime."""
    return rt.extras["conflicts"]


def conflicts(rt, **filters) -> list[dict]:
    """Conflicts as the API describes them."""
    with db.session_scope(rt.engine) as session:
        svc = hub(rt).service(session)
        return svc.describe(svc.list(**filters))


def registry_call(rt, fn):
    """Run a registry write and commit (as an edge does)."""
    from freshgate.registry.service import RegistryService

    with db.session_scope(rt.engine) as session:
        return fn(RegistryService(session, rt.registry_ctx))
