"""The same sentence-transformers model run by ONNX Runtime: a query in ~4 ms instead of ~14 ms.

The ONNX graph is exported once, locally, from the verified weights (torch.onnx, no download)
and cached under `embedding.cache_dir` keyed by the weights' sha256, so a different or
tampered weights file can never reuse another model's graph. The file is written to a
temporary name and renamed into place (atomic: concurrent processes may both export, each
reads a complete file); when the cache directory is not writable the graph stays in memory.
Right after an export the graph is checked against the torch model on probe texts (cosine
>= 0.9999), so stored section embeddings stay valid whichever backend computed them.

Only what sentence-transformers does for all-MiniLM-L6-v2 is reproduced: the model's fast
tokenizer (truncation at `max_seq_length`), mean pooling over the attention mask and, when
the model has a Normalize module, L2 normalisation. Other model layouts are refused
(EmbedderUnavailable) so `backend = auto` falls back to torch.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from freshgate.embeddings.batching import token_budget_batches

log = logging.getLogger(__name__)

# Bump when the export recipe changes: old cached graphs are then ignored, never reused.
EXPORT_VERSION = "1"
OPSET = 17
MIN_COSINE = 0.9999
# Padded tokens per bulk batch (texts x longest text). On 2 busy cores, 500 passages of ~114 tokens:
# 1024-2048 encoded fastest (24-25 ms/section), 4096 28, a fixed 32 texts per batch 38 (min of 3 rounds).
TOKEN_BUDGET = 2048
PROBES = ["what is our refund window?", "Refund window for monthly plans\n\nMonthly plans can be refunded within 14 days.",
          "hi", "Escalate a security report to the on-call engineer " * 12]


class UnsupportedModel(RuntimeError):
    """The model's pipeline is not plain transformer + mean pooling (+ normalize)."""


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/freshgate` or `~/.cache/freshgate`."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "freshgate"


def pipeline_config(model_dir: Path) -> tuple[int, bool]:
    """(max_seq_length, normalize) of a sentence-transformers directory; UnsupportedModel otherwise."""
    modules_file = model_dir / "modules.json"
    if not (model_dir / "tokenizer.json").is_file() or not modules_file.is_file():
        raise UnsupportedModel("needs tokenizer.json and modules.json")
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads(modules_file.read_text())]
    if modules not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise UnsupportedModel(f"module pipeline {modules} is not transformer + pooling (+ normalize)")
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    if modes != {"pooling_mode_mean_tokens"}:
        raise UnsupportedModel(f"pooling {sorted(modes)} is not mean pooling")
    max_len = 512
    sbert = model_dir / "sentence_bert_config.json"
    if sbert.is_file():
        max_len = int(json.loads(sbert.read_text()).get("max_seq_length") or max_len)
    cfg = json.loads((model_dir / "config.json").read_text())
    return min(max_len, int(cfg.get("max_position_embeddings", max_len))), modules[-1] == "Normalize"


def export_graph(model_dir: Path) -> bytes:
    """The transformer of `model_dir` as ONNX bytes (last_hidden_state), checked against torch."""
    import warnings

    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in tok.model_input_names]
    max_len = pipeline_config(model_dir)[0]
    # Reference vectors first: the model is not fit for use after tracing (measured cosine 0.87).
    probes = []
    for batch in (PROBES, PROBES[:1], PROBES[2:]):  # padded batch, lone short text, mixed lengths
        enc = tok(batch, padding=True, truncation=True, max_length=max_len, return_tensors="np")
        feed = {n: enc[n].astype(np.int64) for n in names}
        with torch.no_grad():
            ref = model(**{n: torch.from_numpy(v) for n, v in feed.items()}).last_hidden_state.numpy()
        probes.append((feed, _unit(_mean_pool(ref, feed["attention_mask"]))))

    class Hidden(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, *args):
            return self.m(**dict(zip(names, args))).last_hidden_state

    sample = tok(PROBES[:2], padding=True, return_tensors="pt")
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter about constant Python bools in HF masking code
        torch.onnx.export(Hidden(model), tuple(sample[n] for n in names), buf, input_names=names,
                          output_names=["last_hidden_state"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]})
    graph = buf.getvalue()
    sess = _session(graph, threads=1)
    for feed, ref in probes:
        got = _unit(_mean_pool(sess.run(None, feed)[0], feed["attention_mask"]))
        worst = float((ref * got).sum(axis=1).min())
        if worst < MIN_COSINE:
            raise RuntimeError(f"exported graph disagrees with torch (cosine {worst:.6f} < {MIN_COSINE})")
    return graph


def usable_cpus() -> int:
    """CPUs this process may run on (taskset / cgroup affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _session(graph: bytes | str, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle ORT threads must not spin: on 2 shared cores they would starve the request threads.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    return ort.InferenceSession(graph, so, providers=["CPUExecutionProvider"])


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[..., None].astype(np.float32)
    return (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.clip(n, 1e-12, None)


def cached_graph(model_dir: Path, weights_sha256: str, cache_dir: Path | None) -> bytes | str:
    """Path of the cached graph for these weights, exporting it first if needed (bytes if not cacheable)."""
    cache_dir = cache_dir or default_cache_dir()
    target = cache_dir / f"minilm-{weights_sha256[:32]}-v{EXPORT_VERSION}-opset{OPSET}.onnx"
    if target.is_file() and target.stat().st_size > 0:
        return str(target)
    log.info("exporting %s to ONNX (once, cached as %s)", model_dir, target)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=target.name + ".", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        log.warning("ONNX cache %s not writable (%s): keeping the exported graph in memory", cache_dir, exc)
        with tempfile.TemporaryDirectory(prefix="freshgate-onnx-") as tmpdir:
            out = Path(tmpdir) / "model.onnx"
            _export_in_subprocess(model_dir, out)
            return out.read_bytes()
    try:
        _export_in_subprocess(model_dir, Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; other users' processes may share the cache
        os.replace(tmp, target)  # atomic: concurrent readers see no file or the complete file
    finally:
        Path(tmp).unlink(missing_ok=True)
    return str(target)


def _export_in_subprocess(model_dir: Path, out: Path) -> None:
    """Export in a fresh interpreter: tracing hangs in a process that has used usearch (two OpenMP
    runtimes), and the server need not keep torch and the torch model in memory afterwards."""
    proc = subprocess.run([sys.executable, "-m", "freshgate.embeddings.onnx", str(model_dir), str(out)],
                          capture_output=True, text=True, timeout=900, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"ONNX export failed (exit {proc.returncode}): {tail[0]}")


def _export_main(argv: list[str]) -> int:
    """`python -m freshgate.embeddings.onnx MODEL_DIR OUT.onnx`: export, check, write with fsync."""
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    graph = export_graph(Path(argv[0]))
    with open(argv[1], "wb") as fh:
        fh.write(graph)
        fh.flush()
        os.fsync(fh.fileno())
    return 0


class OnnxSession:
    """Tokenizer + ONNX Runtime session + pooling: texts in, unit vectors out (thread-safe)."""

    def __init__(self, model_dir: Path, weights_sha256: str, *, cache_dir: Path | None = None,
                 threads: int = 0, batch_size: int = 32, token_budget: int = TOKEN_BUDGET) -> None:
        from tokenizers import Tokenizer

        self.max_len, self.normalize = pipeline_config(model_dir)
        self.batch_size = batch_size
        self.token_budget = token_budget
        self.threads = threads or usable_cpus()
        graph = cached_graph(model_dir, weights_sha256, cache_dir)
        try:
            self.session = _session(graph, self.threads)
        except Exception as exc:  # noqa: BLE001 - a damaged cache file: export again, once
            if not isinstance(graph, str):
                raise
            log.warning("cached ONNX graph %s unusable (%s): exporting again", graph, exc)
            Path(graph).unlink(missing_ok=True)
            self.session = _session(cached_graph(model_dir, weights_sha256, cache_dir), self.threads)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_len)
        self.tokenizer.no_padding()  # each batch is padded here, to its own longest text
        self.pad_id = self.tokenizer.token_to_id("[PAD]") or 0

    def batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """How texts of these token counts are batched: by token budget (batch_size ignored) when
        token_budget > 0, else batch_size texts of similar length per batch."""
        if self.token_budget > 0:
            return token_budget_batches(lengths, self.token_budget)
        return token_budget_batches(lengths, 0, self.batch_size)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text after truncation (what a batch pads to)."""
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts))]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 rows in input order; tokenized once, then encoded in batches of
        similar token counts (see `batches`), so little of what is encoded is padding."""
        enc = self.tokenizer.encode_batch(list(texts))
        if len(enc) <= 1:
            return self._run(enc)
        out: np.ndarray | None = None
        for batch in self.batches([len(e.ids) for e in enc]):
            vecs = self._run([enc[i] for i in batch])
            if out is None:
                out = np.empty((len(enc), vecs.shape[1]), dtype=np.float32)
            out[batch] = vecs
        return out

    def _run(self, enc: list) -> np.ndarray:
        width = max((len(e.ids) for e in enc), default=0)
        ids = np.full((len(enc), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(enc), width), dtype=np.int64)
        for row, e in enumerate(enc):
            ids[row, :len(e.ids)] = e.ids
            mask[row, :len(e.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, {n: feed[n] for n in self.inputs})[0]
        pooled = _mean_pool(hidden, mask)
        return (_unit(pooled) if self.normalize else pooled).astype(np.float32)


if __name__ == "__main__":
    sys.exit(_export_main(sys.argv[1:]))
