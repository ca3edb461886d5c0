"""The ONNX Runtime backend: same vectors as torch, cached graph, fallbacks (real model)."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from freshgate.embeddings.embedder import EmbedderUnavailable, SentenceTransformerEmbedder, default_model_path
from freshgate.embeddings.onnx import cached_graph

pytestmark = pytest.mark.model

DEV = "/work/shared/eval/decisions-dev.jsonl"


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory):
    """One exported graph for the test session."""
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def torch_embedder():
    e = SentenceTransformerEmbedder(backend="torch")
    e.load()
    return e


def texts():
    docs = []
    try:
        with open(DEV) as fh:
            docs = [d["text"] for line in fh if line.strip() for d in json.loads(line)["documents"]][:120]
    except FileNotFoundError:
        pass
    # short questions, an empty string, a text far past max_seq_length (truncation), mixed batch lengths
    return docs + ["what is our refund window?", "can I give a customer a 20% discount?", "",
                   "who is on call " * 400, "Refund window for monthly plans\n\nMonthly plans: 14 days."]


def test_onnx_vectors_match_torch(onnx_cache, torch_embedder):
    onnx = SentenceTransformerEmbedder(backend="onnx", cache_dir=onnx_cache)
    sample = texts()
    a, b = torch_embedder.encode(sample), onnx.encode(sample)
    assert onnx.backend == "onnx" and b.dtype == np.float32 and b.shape == a.shape
    assert float((a * b).sum(axis=1).min()) >= 0.9999
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    # one at a time (the query path) gives the same vectors as in a padded batch
    single = np.stack([onnx.encode([t])[0] for t in sample[-5:]])
    assert float((single * b[-5:]).sum(axis=1).min()) >= 0.9999


def test_graph_is_cached_by_weights_hash_and_a_damaged_file_is_exported_again(tmp_path, onnx_cache):
    from freshgate.embeddings.embedder import MINILM_SHA256

    cached = list(onnx_cache.glob("*.onnx"))
    assert len(cached) == 1 and MINILM_SHA256[:32] in cached[0].name
    assert not list(onnx_cache.glob("*.tmp"))  # written under a temporary name, renamed into place
    assert cached_graph(default_model_path(), MINILM_SHA256, onnx_cache) == str(cached[0])  # no re-export

    broken = tmp_path / "cache"
    broken.mkdir()
    (broken / cached[0].name).write_bytes(b"not an onnx graph")
    e = SentenceTransformerEmbedder(backend="onnx", cache_dir=broken)
    assert e.encode(["refund window"]).shape == (1, 384) and e.backend == "onnx"
    assert (broken / cached[0].name).stat().st_size == cached[0].stat().st_size


def test_unwritable_cache_keeps_the_graph_in_memory(tmp_path, torch_embedder):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    e = SentenceTransformerEmbedder(backend="onnx", cache_dir=blocker / "cache")  # mkdir fails: not a directory
    v = e.encode(["how fast do we ship orders?"])
    assert e.backend == "onnx" and float(v[0] @ torch_embedder.encode(["how fast do we ship orders?"])[0]) >= 0.9999


def test_a_model_onnx_cannot_reproduce_falls_back_to_torch_on_auto(tmp_path, onnx_cache):
    model = tmp_path / "cls-model"
    shutil.copytree(default_model_path(), model, ignore=shutil.ignore_patterns("model.safetensors"))
    (model / "model.safetensors").symlink_to(default_model_path() / "model.safetensors")
    cfg = json.loads((model / "1_Pooling" / "config.json").read_text())
    cfg.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    (model / "1_Pooling" / "config.json").write_text(json.dumps(cfg))

    auto = SentenceTransformerEmbedder(model, backend="auto", cache_dir=onnx_cache)
    assert auto.encode(["refund window"]).shape == (1, 384) and auto.backend == "torch"
    with pytest.raises(EmbedderUnavailable, match="ONNX backend unavailable"):
        SentenceTransformerEmbedder(model, backend="onnx", cache_dir=onnx_cache).load()


def test_tampered_weights_are_refused_on_every_backend(tmp_path):
    model = tmp_path / "tampered"
    shutil.copytree(default_model_path(), model, ignore=shutil.ignore_patterns("model.safetensors"))
    (model / "model.safetensors").write_bytes(b"\0" * 1024)
    for backend in ("onnx", "auto", "torch"):
        e = SentenceTransformerEmbedder(backend=backend)
        e.model_path = model  # the pinned hash still applies
        with pytest.raises(EmbedderUnavailable, match="sha256"):
            e.load()


def test_onnx_runtime_survives_a_usearch_index_built_first(onnx_cache):
    # usearch loaded before onnxruntime made the first ORT run segfault; a fresh process shows the order.
    code = f"""
import numpy as np
from freshgate.embeddings.index import DocMeta, VectorIndex
from freshgate.embeddings.embedder import SentenceTransformerEmbedder
ix = VectorIndex(8, approximate_above=10, backend="usearch")
v = np.eye(8, dtype=np.float32)[np.arange(60) % 8]
for d in range(12):
    ix.replace_document(DocMeta(f"d{{d}}"), [(d * 5 + j, "s", v[d * 5 + j]) for j in range(5)])
assert ix.approximate and ix.search(v[0], 3)
print(SentenceTransformerEmbedder(backend="onnx", cache_dir={str(onnx_cache)!r}).encode(["refund window"]).shape)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(1, 384)" in proc.stdout


@pytest.mark.parametrize("budget,batch_size", [(512, 32), (0, 7)])
def test_bulk_batches_keep_order_and_equal_one_at_a_time_encodes(onnx_cache, budget, batch_size):
    e = SentenceTransformerEmbedder(backend="onnx", cache_dir=onnx_cache, token_budget=budget, batch_size=batch_size)
    sess = e.load()
    sample = texts()[:60] + texts()[-5:]  # varied passages, short questions, "", one truncated at max_seq_length
    lengths = sess.token_counts(sample)
    batches = sess.batches(lengths)
    assert len(batches) > 3 and sorted(i for b in batches for i in b) == list(range(len(sample)))
    for b in batches:
        if budget:
            assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= budget
        else:
            assert len(b) <= batch_size
    bulk = e.encode(sample)
    alone = np.stack([e.encode([t])[0] for t in sample])
    assert bulk.dtype == np.float32 and np.abs(bulk - alone).max() <= 1e-5  # same row = same text, padding inert
    perm = np.random.default_rng(3).permutation(len(sample))
    assert np.abs(e.encode([sample[i] for i in perm]) - bulk[perm]).max() <= 1e-5
