"""The in-memory vector index: exact search, scope filters, incremental updates, ANN recall."""

import threading

import numpy as np
import pytest

from freshgate.embeddings.index import DocMeta, Scope, VectorIndex


def unit(rng, n, dim=32):
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def fill(index, vecs, per_doc=4, **meta):
    for d in range(len(vecs) // per_doc):
        rows = [(d * per_doc + j, f"s{j}", vecs[d * per_doc + j]) for j in range(per_doc)]
        index.replace_document(DocMeta(f"doc{d}", **meta), rows)


def test_exact_search_finds_the_nearest_section():
    rng = np.random.default_rng(1)
    vecs = unit(rng, 40)
    idx = VectorIndex(32)
    fill(idx, vecs)
    hits = idx.search(vecs[13], k=3)
    assert hits[0].section_id == 13 and hits[0].document_id == "doc3" and hits[0].anchor == "s1"
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_scope_filters_by_id_tag_kind_and_retired():
    rng = np.random.default_rng(2)
    vecs = unit(rng, 8)
    idx = VectorIndex(32)
    idx.replace_document(DocMeta("a", kind="source", tags=frozenset({"billing"})), [(1, "x", vecs[0])])
    idx.replace_document(DocMeta("b", kind="sop", tags=frozenset({"shipping"})), [(2, "x", vecs[1])])
    idx.replace_document(DocMeta("c", kind="source", status="retired"), [(3, "x", vecs[2])])
    docs = lambda scope: {h.document_id for h in idx.search(vecs[0], k=10, scope=scope)}  # noqa: E731
    assert docs(None) == {"a", "b", "c"}
    assert docs(Scope.of(ids=["b", "c"])) == {"b", "c"}
    assert docs(Scope.of(tags=["billing"])) == {"a"}
    assert docs(Scope.of(kinds=["sop"])) == {"b"}
    assert docs(Scope.of(exclude_retired=True)) == {"a", "b"}
    idx.update_meta("c", status="active")
    assert docs(Scope.of(exclude_retired=True)) == {"a", "b", "c"}


def test_replacing_a_document_drops_its_old_sections():
    rng = np.random.default_rng(3)
    old, new = unit(rng, 2)
    idx = VectorIndex(32)
    idx.replace_document(DocMeta("doc"), [(1, "old", old)])
    idx.replace_document(DocMeta("doc"), [(2, "new", new)])
    assert len(idx) == 1
    assert idx.search(old, k=5)[0].anchor == "new"  # the only section left
    assert idx.search(new, k=1, min_score=0.99)[0].section_id == 2
    assert idx.search(old, k=1, min_score=0.99) == []
    idx.remove_document("doc")
    assert idx.search(new, k=1) == [] and len(idx) == 0


def test_section_scores_are_the_same_with_or_without_their_documents_named():
    rng = np.random.default_rng(4)
    vecs = unit(rng, 40)
    idx = VectorIndex(32)
    fill(idx, vecs)
    idx.replace_document(DocMeta("doc2"), [(100, "s0", vecs[8])])  # sections 8-11 replaced by 100
    idx.remove_document("doc5")  # sections 20-23 gone
    q = vecs[0]
    want = [1, 9, 100, 21, 37, 999]
    doc_of = {1: "doc0", 9: "doc2", 100: "doc2", 21: "doc5", 37: "doc9", 999: "doc1"}
    full = idx.score_sections(q, want)
    assert set(full) == {1, 100, 37}  # dead, removed and unknown sections are left out
    assert full[1] == pytest.approx(float(vecs[1] @ q)) and full[100] == pytest.approx(float(vecs[8] @ q))
    assert idx.score_sections(q, want, doc_of=doc_of) == full
    assert idx.score_sections(q, [37], doc_of={37: "doc0"}) == {}  # only the named documents' rows are read
    assert idx.score_sections(q, [], doc_of={}) == {} == idx.score_sections(q, [])


def test_compaction_keeps_results_right():
    rng = np.random.default_rng(4)
    idx = VectorIndex(32)
    for round_ in range(5):  # each round replaces every document: dead rows pile up, then compact
        vecs = unit(rng, 800)
        fill(idx, vecs, per_doc=8)
    assert len(idx) == 800
    assert idx.search(vecs[123], k=1)[0].section_id == 123


@pytest.mark.parametrize("backend", ["usearch", "hnswlib"])
def test_approximate_index_recall_against_exact(backend):
    rng = np.random.default_rng(5)
    centers = unit(rng, 50)
    vecs = centers[rng.integers(0, 50, 3000)] + 0.3 * unit(rng, 3000)
    vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
    idx = VectorIndex(32, approximate_above=1000, backend=backend)
    fill(idx, vecs, per_doc=5)
    assert idx.approximate
    queries = unit(rng, 50) * 0.5 + centers[:50] * 0.5
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    recall = []
    for q in queries:
        approx = {h.section_id for h in idx.search(q, k=10)}
        exact = {h.section_id for h in idx.search(q, k=10, exact=True)}
        recall.append(len(approx & exact) / 10)
    assert np.mean(recall) >= 0.95
    # Filters still apply on the approximate path, and updates reach it.
    hits = idx.search(queries[0], k=5, scope=Scope.of(ids=[f"doc{i}" for i in range(300)]))
    assert hits and all(int(h.document_id[3:]) < 300 for h in hits)
    idx.replace_document(DocMeta("doc0"), [(99999, "new", queries[1])])
    assert idx.search(queries[1], k=1)[0].section_id == 99999


def test_concurrent_searches_during_updates_do_not_fail():
    rng = np.random.default_rng(6)
    vecs = unit(rng, 400)
    idx = VectorIndex(32)
    fill(idx, vecs)
    errors = []

    def reader():
        try:
            for i in range(300):
                assert len(idx.search(vecs[i % 400], k=5)) == 5
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for round_ in range(30):
        fill(idx, unit(rng, 400))
    for t in threads:
        t.join()
    assert errors == []


def test_hnsw_links_per_node_follow_the_lookup_setting(tmp_path):
    from freshgate.app import build_runtime
    from tests.conftest import make_settings

    s = make_settings(f"sqlite:///{tmp_path / 'fg.db'}")
    s.embedding.kind = "hashing"
    s.lookup.approximate_above, s.lookup.hnsw_m = 10, 24
    rt = build_runtime(s)
    try:
        idx = rt.extras["lookup"].index
        fill(idx, unit(np.random.default_rng(5), 40, dim=idx.dim))
        assert idx.approximate and idx._ann.M == 24
    finally:
        rt.close()


def test_search_breadth_scales_with_the_index_when_unset():
    from freshgate.embeddings.index import scaled_ef

    assert scaled_ef(50) == scaled_ef(100_000) == 128
    assert scaled_ef(300_000) == 384 and scaled_ef(1_000_000) == 1280  # in proportion above 100k
    assert scaled_ef(10_000_000) == 2048  # bounded
    sizes = [100_001, 200_000, 500_000, 2_000_000]
    assert [scaled_ef(n) for n in sizes] == sorted(scaled_ef(n) for n in sizes)
    assert scaled_ef(1_000_000, base=64, at=1000, cap=10**6) == 64_000


def test_unset_search_breadth_follows_the_graph_and_a_set_one_wins():
    rng = np.random.default_rng(6)
    idx = VectorIndex(32, approximate_above=10, ef_search=None)
    assert idx.ef == 128  # no graph yet
    vecs = unit(rng, 80)
    fill(idx, vecs)
    assert idx.approximate and idx.ef == 128  # a small graph: the base breadth
    assert idx.search(vecs[7], k=1)[0].section_id == 7
    assert idx._ann.ef == 128  # what the search ran with
    idx.ef_search = 40
    idx.search(vecs[7], k=1)
    assert idx.ef == 40 and idx._ann.ef == 40


def test_the_lookup_setting_leaves_the_breadth_to_the_index_size_by_default(tmp_path):
    from freshgate.app import build_runtime
    from tests.conftest import make_settings

    s = make_settings(f"sqlite:///{tmp_path / 'fg.db'}")
    s.embedding.kind = "hashing"
    assert s.lookup.ef_search is None
    rt = build_runtime(s)
    try:
        assert rt.extras["lookup"].index.ef_search is None
    finally:
        rt.close()
