"""Pair features for the learned judge and the numpy classifier that scores them.

Features describe how two passages relate: embedding similarity, word overlap, which names
and numbers one has and the other lacks, spans swapped between near-copies, negation flips in
near-identical sentences, and the rules' claim evidence. Only numpy at run time.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from freshgate.conflicts.claims import NUMW, sentences

log = logging.getLogger(__name__)

NAMES = ["cos", "jaccard", "containment", "seq_ratio", "swaps", "entity_swaps", "number_swaps", "repeated_swap",
         "caps_missing_min", "caps_missing_max", "nums_missing_min", "nums_missing_max", "shared_caps",
         "claim_evidence", "near_sentences", "near_sentence_value_diff", "negation_flips", "antonym_flips",
         "length_ratio", "log_length", "emb_prod_std", "emb_l1", "emb_maxdiff", "only_insertions"]
READABLE = {"entity_swaps": "a name", "number_swaps": "a number", "repeated_swap": "a name replaced throughout",
            "negation_flips": "a negation", "antonym_flips": "an opposite word", "claim_evidence": "a stated value",
            "near_sentence_value_diff": "a value in the same sentence"}
TOKEN = re.compile(r"[^\W_]+")  # letter/digit runs: scrapes differ in spacing around punctuation, not in words
NEG = re.compile(r"\b(?:not|no(?!\s*\.)|never|none|cannot|can't|won't|isn't|aren't|wasn't|weren't|doesn't|"
                 r"don't|didn't|without|neither|nor)\b", re.I)  # "No. 94" (also scraped as "No .") is a number
ANTONYMS = [("increase", "decrease"), ("before", "after"), ("allowed", "prohibited"), ("always", "never"),
            ("more", "less"), ("earlier", "later"), ("first", "last"), ("maximum", "minimum"), ("accept", "reject"),
            ("enable", "disable"), ("include", "exclude"), ("higher", "lower"), ("above", "below"),
            ("won", "lost"), ("born", "died"), ("larger", "smaller"), ("east", "west"), ("north", "south"),
            ("male", "female"), ("public", "private"), ("open", "closed"), ("success", "failure")]
_ANT = {w: i for i, pair in enumerate(ANTONYMS) for w in pair}


# Superscripts are written both ways in scraped text ("km²" and "km 2"): one spelling for comparison.
SUPERSCRIPTS = str.maketrans({"²": " 2", "³": " 3", "¹": " 1"})


def tokens(text: str) -> list[str]:
    """Word tokens with their case (punctuation dropped, so "Jade's" and "Jade ' s" agree)."""
    return TOKEN.findall(text.translate(SUPERSCRIPTS))[:600]


def _is_name(t: str) -> bool:
    return t[:1].isupper() or any(ch.isdigit() for ch in t)


def _caps(toks: list[str]) -> set[str]:
    return {t for t in toks if t[:1].isupper() and len(t) > 1}


def _nums(toks: list[str]) -> set[str]:
    return {t for t in toks if any(ch.isdigit() for ch in t)}


def _opcodes(ta: list[str], tb: list[str]):
    return difflib.SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes()


def _spelled(span: str) -> str:
    """Lower case with number words as digits: "four" and "4" are one value."""
    return " ".join(str(NUMW[w]) if w in NUMW else w for w in span.lower().split())


def swapped_spans(a: str, b: str, max_len: int = 6) -> list[tuple[str, str]]:
    """Short spans where b replaces a name, number or content word of a (near-copies only), most repeated first.

    A replaced name or number counts anywhere; replaced ordinary words ("defender" -> "forward")
    only between unchanged words on both sides, since the edges of scraped fragments differ anyway.
    """
    ta, tb = tokens(a), tokens(b)
    seen: dict[tuple[str, str], int] = {}
    named: set[tuple[str, str]] = set()
    ops = _opcodes(ta, tb)
    for k, (op, i1, i2, j1, j2) in enumerate(ops):
        if op == "replace" and i2 - i1 <= max_len and j2 - j1 <= max_len:
            xs, ys = ta[i1:i2], tb[j1:j2]
            x, y = " ".join(xs), " ".join(ys)
            if _spelled(x) == _spelled(y):
                continue
            if any(_is_name(t) for t in xs + ys):
                named.add((x, y))
            elif not (_inside(ops, k) and {t.lower() for t in xs} - FUNCTION_WORDS
                      and {t.lower() for t in ys} - FUNCTION_WORDS) or _respelled(x, y):
                continue
            seen[(x, y)] = seen.get((x, y), 0) + 1
    return sorted(seen, key=lambda k: (k not in named, -seen[k]))


def replaced_numbers(a: str, b: str, max_len: int = 3) -> list[tuple[str, str]]:
    """Short spans holding a number that b replaces between unchanged words of a ("21" -> "27")."""
    ta, tb = tokens(a), tokens(b)
    ops = _opcodes(ta, tb)
    out = []
    for k, (op, i1, i2, j1, j2) in enumerate(ops):
        if op == "replace" and i2 - i1 <= max_len and j2 - j1 <= max_len and _inside(ops, k):
            x, y = " ".join(ta[i1:i2]), " ".join(tb[j1:j2])
            if any(ch.isdigit() for ch in x + y) and _spelled(x) != _spelled(y):
                out.append((x, y))
    return out


def _respelled(x: str, y: str) -> bool:
    """"rumours"/"rumors", "colour"/"color": one word in two spellings."""
    return difflib.SequenceMatcher(None, x.lower(), y.lower()).ratio() >= 0.8


FUNCTION_WORDS = frozenset("a an the of in on at to and or for by with from as is was are were be been being it its "
                           "this that these those his her their they he she which who".split())


def _inside(ops, k: int, context: int = 2) -> bool:
    """True when opcode k has at least `context` unchanged tokens on both sides."""
    if k == 0 or k == len(ops) - 1:
        return False
    before, after = ops[k - 1], ops[k + 1]
    return (before[0] == "equal" and before[2] - before[1] >= context and
            after[0] == "equal" and after[2] - after[1] >= context)


@lru_cache(maxsize=8192)
def _profile(text: str):
    """Per-text parts of the features (tokens, their lower-case set, names, numbers, sentences), read once."""
    toks = tokens(text)
    sents = [(s, set(w.lower() for w in tokens(s))) for s in sentences(text)][:40]
    return toks, {t.lower() for t in toks}, _caps(toks), _nums(toks), sents


def _near_sentence_stats(a: str, b: str) -> tuple[int, int, int, int]:
    """Near-identical sentence pairs; of those, ones whose names/numbers, negations or antonyms differ."""
    sa, sb = _profile(a)[4], _profile(b)[4]
    near = value = neg = ant = 0
    for s1, w1 in sa:
        if len(w1) < 4:
            continue
        for s2, w2 in sb:
            if s1 == s2 or len(w2) < 4:
                continue
            j = len(w1 & w2) / len(w1 | w2)
            if j < 0.6:
                continue
            near += 1
            t1, t2 = tokens(s1), tokens(s2)
            value += (_caps(t1) ^ _caps(t2) | _nums(t1) ^ _nums(t2)) != set()
            neg += len(NEG.findall(s1)) != len(NEG.findall(s2))
            ant += any(_ANT.get(x) == _ANT.get(y) for x in w1 - w2 for y in w2 - w1 if x in _ANT and y in _ANT)
    return near, value, neg, ant


def flipped_sentences(a: str, b: str, limit: int = 2) -> list[tuple[str, str, str]]:
    """Near-identical sentence pairs where one side negates or says the opposite: (a's, b's, "negation"|"opposite")."""
    sa, sb = _profile(a)[4], _profile(b)[4]
    out = []
    for s1, w1 in sa:
        for s2, w2 in sb:
            if s1 == s2 or len(w1) < 4 or len(w2) < 4 or len(w1 & w2) / len(w1 | w2) < 0.6:
                continue
            if len(NEG.findall(s1)) != len(NEG.findall(s2)):
                out.append((s1, s2, "negation"))
            elif any(_ANT.get(x) == _ANT.get(y) for x in w1 - w2 for y in w2 - w1 if x in _ANT and y in _ANT):
                out.append((s1, s2, "opposite"))
            if len(out) >= limit:
                return out
    return out


def pair_features(a: str, b: str, ea: np.ndarray, eb: np.ndarray, n_evidence: int = 0) -> np.ndarray:
    """The feature vector (order: NAMES) for passages a and b with their unit embeddings."""
    ta, la, ca, na, _ = _profile(a)
    tb, lb, cb, nb, _ = _profile(b)
    inter = len(la & lb)
    ops = _opcodes(ta, tb)
    swaps = ent = num = 0
    pairs: dict[tuple, int] = {}
    inserted = 0
    for op, i1, i2, j1, j2 in ops:
        if op == "replace" and i2 - i1 <= 6 and j2 - j1 <= 6:
            swaps += 1
            xs, ys = ta[i1:i2], tb[j1:j2]
            ent += any(t[:1].isupper() for t in xs + ys)
            num += any(ch.isdigit() for t in xs + ys for ch in t)
            if any(_is_name(t) for t in xs + ys):
                key = (" ".join(xs), " ".join(ys))
                pairs[key] = pairs.get(key, 0) + 1
        elif op in ("insert", "delete"):
            inserted += 1
    matched = sum(i2 - i1 for op, i1, i2, _, _ in ops if op == "equal")
    seq_ratio = 2 * matched / max(1, len(ta) + len(tb))
    cm = [len(ca - cb) / max(1, len(ca)), len(cb - ca) / max(1, len(cb))]
    nm = [len(na - nb) / max(1, len(na)), len(nb - na) / max(1, len(nb))]
    near, value, neg, ant = _near_sentence_stats(a, b)
    prod = ea * eb
    diff = np.abs(ea - eb)
    return np.array([
        float(ea @ eb), inter / max(1, len(la | lb)), inter / max(1, min(len(la), len(lb))), seq_ratio,
        np.log1p(swaps), np.log1p(ent), np.log1p(num), np.log1p(max(max(pairs.values(), default=1) - 1, 0)),
        min(cm), max(cm), min(nm), max(nm), np.log1p(len(ca & cb)),
        np.log1p(n_evidence), np.log1p(near), np.log1p(value), np.log1p(neg), np.log1p(ant),
        min(len(a), len(b)) / max(1, len(a), len(b)), np.log1p(min(len(a), len(b))),
        float(prod.std()) * 20, float(diff.sum()) / 10, float(diff.max()) * 5, float(swaps == 0 and inserted > 0),
    ], dtype=np.float64)


class PairModel:
    """Standardise, then a one-hidden-layer MLP (or logistic regression when there is no hidden layer)."""

    def __init__(self, data: dict) -> None:
        self.names = data["features"]
        if self.names != NAMES:
            raise ValueError("judge model was trained on other features; retrain it")
        self.mean, self.scale = np.array(data["mean"]), np.array(data["scale"])
        self.layers = [(np.array(w), np.array(b)) for w, b in data["layers"]]
        self.threshold = float(data.get("threshold", 0.5))
        self.meta = data.get("meta", {})

    @classmethod
    def load(cls, path: str | Path) -> "PairModel":
        """Read weights written by `freshgate.conflicts.train`."""
        log.info("loading conflict judge weights from %s", path)
        return cls(json.loads(Path(path).read_text()))

    def raw(self, X: np.ndarray) -> np.ndarray:
        """Uncalibrated probability of conflict for each row."""
        h = (np.atleast_2d(X) - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return 1.0 / (1.0 + np.exp(-h[:, 0]))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Score in [0, 1], shifted so that the model's tuned decision point lands on 0.5."""
        p = np.clip(self.raw(X), 1e-6, 1 - 1e-6)
        t = min(max(self.threshold, 1e-6), 1 - 1e-6)
        logit = np.log(p / (1 - p)) - np.log(t / (1 - t))
        return 1.0 / (1.0 + np.exp(-logit))

    def top_reason(self, x: np.ndarray) -> str:
        """The most telling difference between the passages, in words."""
        z = (x - self.mean) / self.scale
        best = max(READABLE, key=lambda n: z[NAMES.index(n)])
        return READABLE[best]
