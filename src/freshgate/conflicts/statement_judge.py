"""Verdicts from the sentence-level judge: findings a person can check, scored by a small numpy model.

A pair is a conflict only when both hold: the scorer (trained on MultiNLI training pairs and
synthetic perturbations, `train_statements.py`) puts it at or above the operating point, and an
aligned sentence pair shows a flip (negation, antonym, ordinal, superlative, scalar, value, condition,
quantifier, modality).
The operating point was chosen on the dev files for precision first (README, Conflicts).
"""

from __future__ import annotations

import json
import logging
from functools import cached_property
from pathlib import Path

import numpy as np

from freshgate.conflicts import statements as st
from freshgate.conflicts.verdicts import Evidence, Verdict

log = logging.getLogger(__name__)
MODEL_FILE = Path(__file__).with_name("statement_model.json")
# A finding counts only between sentences that share most of their content words.
MIN_ALIGN = 0.5
SELF_ALIGN = 0.75  # Jaccard overlap of two sentences of one passage (statements.self_findings)
# Without a flipped word or value, the score alone decides (at its own, stricter operating point);
# the evidence is then the two best-aligned sentences, which need share only a fifth of their words.
BARE_ALIGN = 0.2
MAX_STATEMENTS = 2


def plain(text: str) -> bool:
    """A passage of at most MAX_STATEMENTS statements (a heading line aside): what this judge is calibrated on.

    Longer passages are left to the claims and near-copy judges: on multi-paragraph web text
    (pairs-dev.jsonl) the statement score separated nothing (precision below 0.5 at any threshold),
    while on passages of up to two statements it added 15 true conflicts and no false one.
    """
    return 0 < len(st.statements(text)) <= MAX_STATEMENTS


class StatementModel:
    """Statement features plus a few principal directions of the embedding interaction [a*b, |a-b|],
    standardised, then logistic regression (numpy only)."""

    def __init__(self, data: dict) -> None:
        if data["features"] != st.FEATURES:
            raise ValueError("statement model was trained on other features; run freshgate.conflicts.train_statements")
        self.mean, self.scale = np.array(data["mean"]), np.array(data["scale"])
        self.pca_mean, self.pca = np.array(data["pca_mean"]), np.array(data["pca"])
        (w, b), = data["layers"]
        self.coef, self.bias = np.array(w)[:, 0], float(b[0])
        self.threshold = float(data.get("threshold", 0.5))
        self.bare_threshold = float(data.get("bare_threshold", 1.0))

    def inputs(self, X: np.ndarray, ea: np.ndarray, eb: np.ndarray) -> np.ndarray:
        """The model's input rows: statement features and the embedding projection."""
        ea, eb = np.atleast_2d(ea).astype(np.float64), np.atleast_2d(eb).astype(np.float64)
        E = np.hstack([ea * eb, np.abs(ea - eb)]) - self.pca_mean
        return np.hstack([np.atleast_2d(X), E @ self.pca.T])

    def predict(self, X: np.ndarray, ea: np.ndarray, eb: np.ndarray) -> np.ndarray:
        """P(conflict) per row."""
        z = ((self.inputs(X, ea, eb) - self.mean) / self.scale) @ self.coef + self.bias
        return 1.0 / (1.0 + np.exp(-z))


class StatementJudge:
    """Aligned-sentence findings plus the learned score."""

    def __init__(self, embedder=None, threshold: float | None = None, model_path: str | Path | None = None) -> None:
        self.embedder = embedder
        self.model_path = Path(model_path) if model_path else MODEL_FILE
        self._threshold = threshold

    @cached_property
    def model(self) -> StatementModel:
        """The scorer, read on first use."""
        return StatementModel(json.loads(self.model_path.read_text()))

    @property
    def threshold(self) -> float:
        """Operating point: the setting if given, else the one shipped with the weights."""
        return self._threshold if self._threshold is not None else self.model.threshold

    def scores(self, pairs: list[tuple[str, str]], emb_a: np.ndarray, emb_b: np.ndarray) -> np.ndarray:
        """The learned score of each (a, b) text pair."""
        ea, eb = np.asarray(emb_a, dtype=np.float64), np.asarray(emb_b, dtype=np.float64)
        cos = np.einsum("ij,ij->i", ea, eb)
        X = np.stack([st.statement_features(a, b, float(cos[k])) for k, (a, b) in enumerate(pairs)])
        return self.model.predict(X, ea, eb)

    def judge_many(self, pairs, emb_a: np.ndarray, emb_b: np.ndarray) -> list:
        """One verdict per (a, b) passage pair; None for pairs that are not plain statements (not judged here)."""
        out: list = [None] * len(pairs)
        todo = [k for k, (a, b) in enumerate(pairs) if plain(a.text) and plain(b.text)]
        if not todo:
            return out
        scores = self.scores([(pairs[k][0].text, pairs[k][1].text) for k in todo],
                             np.asarray(emb_a)[todo], np.asarray(emb_b)[todo])
        for k, s in zip(todo, scores):
            out[k] = self._verdict(float(s), pairs[k][0].text, pairs[k][1].text, "learned")
        return out

    def judge_self(self, text: str, name: str = "learned"):
        """A passage against itself: two of its sentences that say opposite things."""
        found = st.self_findings(text, SELF_ALIGN)
        if not found or self.embedder is None:
            return Verdict(False, 0.0, [], name, "identical text, no sentence contradicts another", raw=0.0)
        sents = list(dict.fromkeys([f.a for f in found] + [f.b for f in found]))
        emb = dict(zip(sents, np.asarray(self.embedder.encode(sents), dtype=np.float64)))
        scores = self.scores([(f.a, f.b) for f in found], np.stack([emb[f.a] for f in found]),
                             np.stack([emb[f.b] for f in found]))
        k = int(np.argmax(scores))
        v = self._verdict(float(scores[k]), found[k].a, found[k].b, name, found=[found[k]])
        if v.conflict:
            v.explanation = f"contradicts itself: {v.explanation}"
        return v

    def _verdict(self, s: float, a: str, b: str, name: str, found: list | None = None):
        if s >= self.threshold:
            found = st.findings(a, b, MIN_ALIGN) if found is None else found
            if found:
                ev = [_evidence(f) for f in _rank(found)[:2]]
                return Verdict(True, s, ev, name, "; ".join(st.describe(f) for f in _rank(found)[:2]), raw=s)
        if s >= self.model.bare_threshold:
            # No single flipped word or value, but the score is high and two sentences line up: show them.
            pairs = [p for p in st.aligned_pairs(a, b, BARE_ALIGN) if not st.values_apart(p[0], p[1])]
            if pairs:
                x, y, _ = pairs[0]
                subject = " ".join(sorted(x.content & y.content))[:80]
                return Verdict(True, s, [Evidence(subject, x.text, y.text, "statement")], name,
                               f"opposite statements: \u201c{st._short(x.text)}\u201d vs \u201c{st._short(y.text)}\u201d", raw=s)
        return Verdict(False, min(s, 0.49), [], name, "no aligned statements say opposite things", raw=s)


def _rank(found: list) -> list:
    """Values first (easiest to check), then antonyms, quantifiers, negations; better aligned first."""
    order = {k: i for i, k in enumerate(("number", "date", "condition", "ordinal", "superlative", "scalar", "antonym",
                                          "quantifier", "modality", "negation"))}
    return sorted(found, key=lambda f: (order.get(f.kind, 9), -f.align))


def _evidence(f):
    if f.kind == "negation":
        return Evidence(f.subject, f.a, f.b, "negation")
    va, _, vb = f.detail.partition(" vs ")
    return Evidence(f.subject, va, vb, f.kind)


def _cos_proxy(a: str, b: str) -> float:
    """Two sentences of one passage have no stored embeddings each: word overlap stands in for their cosine."""
    x, y = st.statement(a).content, st.statement(b).content
    return 0.3 + 0.6 * len(x & y) / max(1, len(x | y))
