"""Verdicts from the sentence-level judge: findings a person can check, scored by a small numpy model.

A pair is a conflict only when both hold: the scorer (trained on MultiNLI training pairs and
synthetic perturbations, `train_statements.py`) puts it at or above the operating point, and an
aligned sentence pair shows a flip (negation, antonym, value, condition, quantifier, modality).
The operating point was chosen on the dev files for precision first (README, Conflicts).
"""

from __future__ import annotations

import json
import logging
from functools import cached_property
from pathlib import Path

import numpy as np

from freshgate.conflicts import statements as st

log = logging.getLogger(__name__)
MODEL_FILE = Path(__file__).with_name("statement_model.json")
# A finding counts only between sentences that share most of their content words.
MIN_ALIGN = 0.5
SELF_ALIGN = 0.6


class StatementModel:
    """Standardise, then logistic regression (numpy only)."""

    def __init__(self, data: dict) -> None:
        if data["features"] != st.FEATURES:
            raise ValueError("statement model was trained on other features; run freshgate.conflicts.train_statements")
        self.mean, self.scale = np.array(data["mean"]), np.array(data["scale"])
        (w, b), = data["layers"]
        self.coef, self.bias = np.array(w)[:, 0], float(b[0])
        self.threshold = float(data.get("threshold", 0.5))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """P(conflict) per row."""
        z = ((np.atleast_2d(X) - self.mean) / self.scale) @ self.coef + self.bias
        return 1.0 / (1.0 + np.exp(-z))


class StatementJudge:
    """Aligned-sentence findings plus the learned score."""

    def __init__(self, threshold: float | None = None, model_path: str | Path | None = None) -> None:
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

    def judge_many(self, pairs, emb_a: np.ndarray, emb_b: np.ndarray) -> list:
        """One verdict per (a, b) passage pair; embeddings give the cosine feature."""
        from freshgate.conflicts.judge import Verdict

        if not pairs:
            return []
        cos = np.einsum("ij,ij->i", np.asarray(emb_a, dtype=np.float64), np.asarray(emb_b, dtype=np.float64))
        X = np.stack([st.statement_features(a.text, b.text, float(cos[k])) for k, (a, b) in enumerate(pairs)])
        scores = self.model.predict(X)
        out = []
        for k, (a, b) in enumerate(pairs):
            s = float(scores[k])
            found = [f for f in st.findings(a.text, b.text, MIN_ALIGN)] if s >= self.threshold else []
            out.append(self._verdict(s, found, "learned"))
        return out

    def judge_self(self, text: str, name: str = "learned"):
        """A passage against itself: two of its sentences that say opposite things."""
        from freshgate.conflicts.judge import Verdict

        best = None
        for f in st.self_findings(text, SELF_ALIGN):
            s = float(self.model.predict(st.statement_features(f.a, f.b, _cos_proxy(f.a, f.b)))[0])
            if best is None or s > best[0]:
                best = (s, f)
        if best is None:
            return Verdict(False, 0.0, [], name, "identical text, no sentence contradicts another", raw=0.0)
        v = self._verdict(best[0], [best[1]] if best[0] >= self.threshold else [], name)
        if v.conflict:
            v.explanation = f"contradicts itself: {v.explanation}"
        return v

    def _verdict(self, s: float, found: list, name: str):
        from freshgate.conflicts.judge import Evidence, Verdict

        if not found:
            return Verdict(False, min(s, 0.49), [], name, "no aligned statements say opposite things", raw=s)
        ev = [_evidence(f) for f in _rank(found)[:2]]
        return Verdict(True, s, ev, name, "; ".join(st.describe(f) for f in _rank(found)[:2]), raw=s)


def _rank(found: list) -> list:
    """Values first (easiest to check), then antonyms, quantifiers, negations; better aligned first."""
    order = {k: i for i, k in enumerate(("number", "date", "condition", "antonym", "quantifier", "modality", "negation"))}
    return sorted(found, key=lambda f: (order.get(f.kind, 9), -f.align))


def _evidence(f):
    from freshgate.conflicts.judge import Evidence

    if f.kind == "negation":
        return Evidence(f.subject, f.a, f.b, "negation")
    va, _, vb = f.detail.partition(" vs ")
    return Evidence(f.subject, va, vb, f.kind)


def _cos_proxy(a: str, b: str) -> float:
    """Two sentences of one passage have no stored embeddings each: word overlap stands in for their cosine."""
    x, y = st.statement(a).content, st.statement(b).content
    return 0.3 + 0.6 * len(x & y) / max(1, len(x | y))
