"""The in-memory BM25 index: terms, identifiers, scopes, incremental updates and compaction."""

from __future__ import annotations

from freshgate.embeddings.index import DocMeta, Scope
from freshgate.lookup.lexical import LexicalIndex, identifiers, query_terms, words
from freshgate.markdown.sections import context_texts, heading_paths, split_sections


def idx(**docs) -> LexicalIndex:
    ix = LexicalIndex()
    sid = 0
    for doc_id, texts in docs.items():
        rows = []
        for i, t in enumerate(texts):
            sid += 1
            rows.append((sid, f"s{i}", t))
        ix.replace_document(DocMeta(doc_id.replace("_", "-")), rows)
    return ix


def test_words_are_stemmed_and_stop_words_dropped():
    assert words("How long do UK orders take to arrive?") == ["long", "uk", "order", "take", "arriv"]


def test_identifiers_cover_codes_amounts_capitals_and_acronyms():
    assert identifiers("Page on a Sev-1 within 5 minutes; refunds over €5,000 need GDPR review") >= {
        "sev1", "5", "5000", "gdpr"}
    assert "uk" in identifiers("5–8 business days to the United Kingdom", acronyms=True)
    assert "gdpr" in identifiers("the General Data Protection Regulation applies", acronyms=True)
    assert "uk" not in identifiers("5–8 business days to the United Kingdom")  # questions: no acronyms made up
    assert query_terms("What is a Sev-1?")[1] == ["=sev1"]


def test_bm25_ranks_the_section_with_the_rare_term_first():
    ix = idx(a=["refunds take five days", "refunds are paid to the card"], b=["chargebacks and refunds"])
    hits = ix.search("chargeback refunds", 3)
    assert hits[0].document_id == "b" and 0 < hits[-1].score < hits[0].score < 1


def test_an_acronym_in_the_question_finds_the_spelled_out_name():
    ix = idx(shipping=["Orders leave the warehouse before 14:00.",
                       "Standard shipping takes 5-8 business days to the United Kingdom."])
    hits = ix.search("how long do UK orders take?", 2)
    assert hits[0].anchor == "s1" and hits[0].ids == 1.0
    assert [h.ids for h in hits if h.anchor == "s0"] == [0.0]


def test_scope_replace_remove_and_meta_follow_the_document():
    ix = idx(a=["alpha policy text"], b=["alpha procedure text"])
    assert {h.document_id for h in ix.search("alpha", 5, Scope.of(ids=["b"]))} == {"b"}
    ix.replace_document(DocMeta("a"), [(10, "new", "beta only now")])
    assert [h.document_id for h in ix.search("alpha", 5)] == ["b"]
    assert [(h.document_id, h.anchor) for h in ix.search("beta", 5)] == [("a", "new")]
    ix.update_meta("b", status="retired")
    assert ix.search("alpha", 5, Scope(exclude_retired=True)) == []
    ix.remove_document("b")
    assert ix.search("alpha", 5) == [] and len(ix) == 1


def test_compaction_keeps_every_live_section_findable():
    ix = LexicalIndex()
    for round_ in range(6):  # each round replaces 400 documents: dead rows pass half, rows are compacted
        ix.bulk_replace((DocMeta(f"d{i}"), [(round_ * 1000 + i, "s", f"word{i} round{round_} common")])
                        for i in range(400))
    assert len(ix) == 400
    hits = ix.search("word7 round5", 3)
    assert hits[0].document_id == "d7" and hits[0].section_id == 5007
    assert ix.search("round0", 5) == []


def test_heading_paths_follow_the_outline_and_drop_a_repeated_title():
    assert heading_paths("Shipping policy", [(0, ""), (1, "Shipping policy"), (2, "Delivery times"),
                                             (3, "Standard"), (2, "Costs")]) == [
        "Shipping policy", "Shipping policy", "Shipping policy › Delivery times",
        "Shipping policy › Delivery times › Standard", "Shipping policy › Costs"]
    secs = split_sections("# Shipping policy\n\nIntro.\n\n## Delivery times\n\n### Standard\n\n5-8 days.\n", "d")
    assert context_texts("Shipping policy", secs)[-1] == "Shipping policy › Delivery times › Standard\n5-8 days."


def _all_scores(ix: LexicalIndex, queries) -> list:
    out = []
    for q in queries:
        sec, norm, ids = ix.scores(q)
        order = sec.argsort()
        out.append((sec[order].tolist(), [round(float(x), 6) for x in norm[order]], ids[order].tolist()))
    return out


def test_exported_state_restores_the_same_scores_and_takes_later_updates():
    import random

    rnd = random.Random(5)
    vocab = [f"term{i}" for i in range(300)] + ["GDPR", "Sev-1", "€5,000"]
    docs = {f"d{i}": [(i * 10 + j, f"s{j}", f"Doc {i} › Part {j}\n" + " ".join(rnd.choices(vocab, k=12)))
                      for j in range(3)] for i in range(2500)}
    live = LexicalIndex()
    live.bulk_replace((DocMeta(d, tags=frozenset({"t"}) if i % 2 else frozenset()), rows)
                      for i, (d, rows) in enumerate(docs.items()))  # a bulk load: postings rebased to flat arrays
    for i in range(0, 300, 3):  # then ordinary updates on top of the flat base
        d = f"d{i}"
        docs[d] = [(100_000 + i, "new", "Changed › New\n" + " ".join(rnd.choices(vocab, k=9)))]
        live.replace_document(DocMeta(d), docs[d])
        live.remove_document(f"d{i + 1}")
        docs.pop(f"d{i + 1}")
    queries = [" ".join(rnd.choices(vocab, k=3)) for _ in range(60)] + ["GDPR Sev-1", "€5,000 limit"]
    restored = LexicalIndex()
    restored.import_state(live.export_state())
    assert _all_scores(restored, queries) == _all_scores(live, queries)
    assert restored.search("Sev-1", 5, Scope(tags=frozenset({"t"}))) == live.search("Sev-1", 5, Scope(tags=frozenset({"t"})))
    # The restored index keeps working: the same writes on both give the same answers, and both equal a
    # fresh index of the final documents.
    for ix in (live, restored):
        ix.replace_document(DocMeta("d5"), [(777, "x", "Late › Edit\nterm1 term2 unique-word")])
        ix.remove_document("d8")
    docs["d5"] = [(777, "x", "Late › Edit\nterm1 term2 unique-word")]
    docs.pop("d8")
    fresh = LexicalIndex()
    for d, rows in docs.items():
        fresh.replace_document(DocMeta(d), rows)
    assert _all_scores(restored, queries) == _all_scores(live, queries) == _all_scores(fresh, queries)
    assert restored.locate(777) == ("d5", "x") and restored.search("unique-word", 1)[0].section_id == 777


def test_a_state_whose_parts_do_not_fit_is_refused_and_changes_nothing():
    import pytest

    ix = idx(a=["alpha beta"], b=["beta gamma"])
    state = ix.export_state()
    state["rows"] = state["rows"][:-1]
    other = idx(c=["delta"])
    with pytest.raises(ValueError):
        other.import_state(state)
    assert [h.document_id for h in other.search("delta", 3)] == ["c"]


def _zipf_index(seed: int = 9, docs: int = 800):
    import random

    rnd = random.Random(seed)
    vocab = [f"w{i}" for i in range(1500)]
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    ix = LexicalIndex()
    ix.bulk_replace((DocMeta(f"d{d}", tags=frozenset({"even"}) if d % 2 == 0 else frozenset()),
                     [(d * 10 + j, f"s{j}", f"Doc › Part\n" + " ".join(rnd.choices(vocab, weights, k=30))
                       + (f" code NW-{d:04d}" if d % 7 == 0 else "")) for j in range(4)]) for d in range(docs))
    ix.remove_document("d3")  # dead rows must not count
    queries = [" ".join(rnd.choices(vocab, weights, k=5)) + (f" NW-{q * 7:04d}" if q % 3 == 0 else "")
               for q in range(80)]
    return ix, queries, rnd


def _as_dict(got) -> dict:
    sec, norm, ids = got
    return dict(zip(sec.tolist(), zip(norm.tolist(), ids.tolist())))


def test_below_the_frequent_word_thresholds_candidates_change_nothing():
    ix, queries, rnd = _zipf_index()
    differs = 0
    for q in queries:
        for scope in (None, Scope.of(tags=["even"]), Scope.of(ids=["d4", "d9"])):
            exact = _as_dict(ix.scores(q, scope))
            cands = rnd.sample(range(8000), 50)
            assert _as_dict(ix.scores(q, scope, candidates=cands)) == exact  # defaults: floor 5,000 sections (3,200 here)
            assert _as_dict(ix.scores(q, scope, candidates=cands, frequent_share=0.0, frequent_min=len(ix))) == exact
            differs += _as_dict(ix.scores(q, scope, candidates=cands, frequent_min=100)) != exact
    assert differs > 40  # the same queries with a low floor are pruned (so the comparison above can fail)


def test_frequent_words_are_scored_exactly_for_the_rows_rarer_words_reach_and_the_candidates():
    from freshgate.lookup.terms import query_terms

    ix, queries, rnd = _zipf_index()
    floor, pruned, same_top = 300, 0, 0
    for q in queries:
        for scope in (None, Scope.of(tags=["even"])):
            exact = _as_dict(ix.scores(q, scope))
            cands = rnd.sample(sorted(exact), min(30, len(exact))) + rnd.sample(range(8000), 20)
            got = _as_dict(ix.scores(q, scope, candidates=cands, frequent_min=floor))
            # every section returned has its exact scores (same arithmetic, same order of terms)
            assert all(got[s] == exact[s] for s in got) and set(got) <= set(exact)
            # every matching candidate is returned, even one that shares only frequent words with the query
            assert {s for s in cands if s in exact} <= set(got)
            # and every live in-scope section a non-frequent query term reaches (found from the postings here)
            words, ids = query_terms(q)
            alive = ix._alive[: ix._n]
            post = [ix._postings(t) for t in words + ids]
            rare = [p for p in post if p is not None and 0 < alive[p[0]].sum() <= floor]
            rows = {r for p in rare for r in p[0].tolist() if alive[r]}
            reached = {int(ix._row_section[r]) for r in rows} & set(exact)
            assert reached <= set(got)
            pruned += len(got) < len(exact)

            def top(d, n=20):  # the hybrid's lexical ranking: 0.5 x BM25 + 0.1 x identifiers
                return sorted(d, key=lambda s: (-(0.5 * d[s][0] + 0.1 * d[s][1]), s))[:n]
            exact_top = top(exact)
            if set(exact_top) <= reached | set(cands):  # the exact answer contains a rare word (or is a candidate)
                assert top(got) == exact_top
                same_top += 1
    assert pruned > 80 and same_top > 20  # frequent words were pruned, and the exact-top cases were checked


def _same_as_exact_where_returned(ix, q, cands, floor=300):
    exact = _as_dict(ix.scores(q))
    got = _as_dict(ix.scores(q, candidates=cands, frequent_min=floor))
    assert got and all(got[s] == exact[s] for s in got) and set(got) <= set(exact)
    return got


def test_frequent_word_lookups_follow_every_write_and_stay_within_their_memory_budget(monkeypatch):
    from freshgate.lookup import lexical

    ix, _, rnd = _zipf_index()
    q = "w0 w1 w2 w900"  # w0-w2 are in far more than 300 sections: looked up for the candidate rows only
    _same_as_exact_where_returned(ix, q, rnd.sample(range(8000), 40))
    assert {"w0", "w1", "w2"} <= set(ix._dense)  # kept for the next lookup
    # a new document with the frequent words, a replaced one without them, a removed one
    ix.replace_document(DocMeta("new"), [(90001, "s0", "w0 w0 w0 w1 w2 w2"), (90002, "s1", "nothing shared")])
    ix.replace_document(DocMeta("d10"), [(100, "s0", "w5 w6 w7")])
    ix.remove_document("d12")
    got = _same_as_exact_where_returned(ix, q, [90001, 100, 120] + rnd.sample(range(8000), 40))
    assert 90001 in got and 100 not in got and 120 not in got
    # rows appended after a term's vector was made, in documents without that term, read as "not there"
    ix.replace_document(DocMeta("later"), [(90003, "s0", "w900 only")])
    got = _same_as_exact_where_returned(ix, q, [90003, 90001])
    assert 90003 in got and 90001 in got
    # a budget of one vector: older ones are dropped, the answers stay exact
    assert ix._dense_bytes == sum(a.nbytes for a in ix._dense.values())
    monkeypatch.setattr(lexical, "DENSE_BUDGET", 1)
    _same_as_exact_where_returned(ix, q, rnd.sample(range(8000), 40))
    assert len(ix._dense) == 1 and ix._dense_bytes == next(iter(ix._dense.values())).nbytes
    ix.replace_document(DocMeta("d20"), [(200, "s0", "w0 again")])  # the kept vector's term changes: dropped
    assert ix._dense_bytes == sum(a.nbytes for a in ix._dense.values())


def test_locate_many_leaves_out_sections_no_longer_indexed():
    ix = idx(a=["alpha", "beta"], b=["gamma"])
    ix.remove_document("b")
    assert ix.locate_many([1, 2, 3, 99]) == {1: ("a", "s0"), 2: ("a", "s1")}
