"""Lexical + vector fusion with the real model, on cases where one signal alone ranks the wrong section first."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from freshgate.lookup.eval_retrieval import markdown
from freshgate.markdown.parse import parse_bytes
from freshgate.registry.service import RegistryService

pytestmark = pytest.mark.model

PARTS = [("Pans", "Part NW-8842 is the handle of the 20 cm frying pan; it ships in 2 days."),
         ("Pots", "Part NW-8824 is the handle of the 24 cm saucepan; it is out of stock until March."),
         ("Lids", "Part NW-8248 is the glass lid for both; it ships in 5 days.")]
DELIVERY = [("Standard", "Standard shipping takes 2–4 business days."),
            ("Packaging", "A returned package must arrive in its original box; we inspect each package when it arrives."),
            ("Copies", "Invoices are in the account under Billing.")]


@pytest.fixture
def engine(runtime, model_embedder):
    lk = runtime.extras["lookup"]
    lk.use_embedder(model_embedder)
    lk.activate()
    with Session(runtime.engine) as session:
        svc = RegistryService(session, runtime.registry_ctx)
        now = runtime.registry_ctx.clock()
        for doc_id, title, secs in (("spare-parts", "Spare parts", PARTS), ("delivery", "Delivery", DELIVERY)):
            doc = {"id": doc_id, "title": title, "sections": [{"heading": h, "text": t} for h, t in secs]}
            svc.register(parse_bytes(markdown(doc, now), path=doc_id, now=now, default_kind="source"), actor="test")
        session.commit()
    return lk


def top(engine, query, method):
    _, hits = engine.retrieve(query, 3, method=method)
    return f"{hits[0].document_id}#{hits[0].anchor}"


@pytest.mark.parametrize("query, expected", [("when does part NW-8248 ship?", "spare-parts#lids"),
                                             ("can we get NW-8824?", "spare-parts#pots")])
def test_an_identifier_only_the_lexical_index_finds(engine, query, expected):
    assert top(engine, query, "vector") != expected  # the model sees three near-identical part numbers
    assert top(engine, query, "bm25") == expected
    assert top(engine, query, "hybrid") == expected


def test_a_paraphrase_only_the_vectors_find(engine):
    q = "how soon does my package arrive?"  # shares no word with the answer; the returns section has two
    assert top(engine, q, "bm25") == "delivery#packaging"
    assert top(engine, q, "vector") == "delivery#standard"
    assert top(engine, q, "hybrid") == "delivery#standard"


def test_sections_are_indexed_with_their_heading_path(engine):
    # The heading ("Lids") and the title ("Spare parts") are searchable words of each section.
    _, hits = engine.retrieve("spare parts lids", 1, method="bm25")
    assert (hits[0].document_id, hits[0].anchor) == ("spare-parts", "lids")
