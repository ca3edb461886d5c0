"""Evaluate a judge on a labelled pairs file (pairs-dev.jsonl format): P/R/F1 overall, by kind, by origin.

`kind` and `origin` are read here, for the breakdown only; the judge never sees them.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from freshgate.conflicts.judge import Passage

log = logging.getLogger(__name__)


def load_pairs(path: str | Path) -> list[dict]:
    """Records of a pairs JSONL file."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _prf(rows: list[tuple[bool, bool | None]]) -> dict:
    """Precision/recall/F1 of `conflict`; undecided counts as not a conflict."""
    tp = sum(1 for y, p in rows if y and p)
    fp = sum(1 for y, p in rows if not y and p)
    fn = sum(1 for y, p in rows if y and not p)
    tn = len(rows) - tp - fp - fn
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"n": len(rows), "tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": round(prec, 4),
            "recall": round(rec, 4), "f1": round(f1, 4), "flagged_rate": round((tp + fp) / max(1, len(rows)), 4)}


def evaluate_pairs(path: str | Path, judge, embedder=None, batch: int = 64) -> dict:
    """Judge every pair of the file (a vs b) and report quality; the dict is JSON-able."""
    records = load_pairs(path)
    pairs = [(Passage(r["a"]["text"], r["a"].get("title") or ""), Passage(r["b"]["text"], r["b"].get("title") or ""))
             for r in records]
    t0 = time.perf_counter()
    emb_a = emb_b = None
    if embedder is not None:
        emb_a = embedder.encode([a.text for a, _ in pairs])
        emb_b = embedder.encode([b.text for _, b in pairs])
    t_embed = time.perf_counter() - t0
    verdicts = []
    for i in range(0, len(pairs), batch):
        sl = slice(i, i + batch)
        verdicts += judge.judge_many(pairs[sl], None if emb_a is None else emb_a[sl],
                                     None if emb_b is None else emb_b[sl])
    t_judge = time.perf_counter() - t0 - t_embed
    rows = [(r["label"] == "conflict", v.conflict is True) for r, v in zip(records, verdicts)]
    by_kind, by_origin = defaultdict(list), defaultdict(list)
    for r, row in zip(records, rows):
        by_kind[f'{r.get("origin", "?")}:{r.get("kind", "?")}'].append(row)
        by_origin[r.get("origin", "?")].append(row)
    # The curve uses each judge's score before any cap or evidence gate, so it shows what the score can do.
    scores = np.array([v.raw if getattr(v, "raw", None) is not None else v.score for v in verdicts])
    labels = np.array([y for y, _ in rows])
    examples = [{"id": r["id"], "label": r["label"], "kind": r.get("kind"), "score": round(v.score, 3),
                 "explanation": v.explanation} for r, v in zip(records, verdicts) if v.conflict][:20]
    return {
        "file": str(path), "judge": getattr(judge, "name", type(judge).__name__), "pairs": len(records),
        "overall": _prf(rows),
        "by_kind": {k: _prf(v) for k, v in sorted(by_kind.items())},
        "by_origin": {k: _prf(v) for k, v in sorted(by_origin.items())},
        "undecided": sum(1 for v in verdicts if v.conflict is None),
        "curve": _curve(scores, labels),
        "seconds": {"embed": round(t_embed, 2), "judge": round(t_judge, 2)},
        "flagged_examples": examples,
    }


def _curve(scores: np.ndarray, labels: np.ndarray) -> list[dict]:
    """Precision/recall of the raw score at a few thresholds (to choose the operating point)."""
    out = []
    for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
        pred = scores >= t
        out.append({"threshold": t, **{k: v for k, v in _prf(list(zip(labels, pred))).items()
                                        if k in ("precision", "recall", "f1")}})
    return out


def render_pairs_table(result: dict) -> str:
    """Plain-text table of the result: overall, per kind, per origin, confusion."""
    head = f"{'slice':38s} {'n':>5s} {'tp':>4s} {'fp':>4s} {'fn':>4s} {'tn':>4s} {'P':>6s} {'R':>6s} {'F1':>6s}"
    lines = [f"judge={result['judge']}  pairs={result['pairs']}  undecided={result['undecided']}", head,
             "-" * len(head)]

    def row(name, m):
        lines.append(f"{name:38s} {m['n']:5d} {m['tp']:4d} {m['fp']:4d} {m['fn']:4d} {m['tn']:4d} "
                     f"{m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f}")

    row("overall", result["overall"])
    for k, m in result["by_origin"].items():
        row(f"origin {k}", m)
    for k, m in result["by_kind"].items():
        row(f"kind {k}", m)
    o = result["overall"]
    if result.get("curve"):
        lines += ["", "precision/recall of the raw score (before caps and evidence gates)",
                  f"{'threshold':>10s} {'P':>6s} {'R':>6s} {'F1':>6s}"]
        lines += [f"{c['threshold']:10.2f} {c['precision']:6.3f} {c['recall']:6.3f} {c['f1']:6.3f}" for c in result["curve"]]
    lines += ["", "confusion (rows: truth, cols: verdict)", f"{'':14s}{'conflict':>10s}{'no':>8s}",
              f"{'conflict':14s}{o['tp']:10d}{o['fn']:8d}", f"{'no_conflict':14s}{o['fp']:10d}{o['tn']:8d}"]
    return "\n".join(lines)
