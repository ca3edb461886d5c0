"""Train the sentence-level scorer: statement features -> P(conflict), shipped as numpy weights.

Training data: synthetic perturbations of sentences (negation, WordNet antonym, changed number,
condition turned round, quantifier flipped, rank or degree turned round; and harmless edits as negatives) made from the
example knowledge base and the premises of `pairs-nli-train.jsonl`, plus that file's labelled
pairs. Never the eval files. Run: `python -m freshgate.conflicts.train_statements [TRAIN_JSONL]`.
"""

from __future__ import annotations

import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

from freshgate.conflicts import claims as cl
from freshgate.conflicts.lexicon import antonyms, graded_base, lemma
from freshgate.conflicts.statements import FEATURES, ORDINALS, statement_features

MODEL_FILE = Path(__file__).with_name("statement_model.json")
DEFAULT_TRAIN = Path("../shared/train/pairs-nli-train.jsonl")  # relative to the checkout, as the eval files are
AUX = re.compile(r"\b(is|are|was|were|can|will|must|should|may|has|have|had|does|do|did|could|would)\b")
SWAP_Q = {"all": "no", "always": "never", "every": "no", "never": "always", "many": "few", "few": "many",
          "most": "few", "some": "no"}


def _negate(s: str) -> str | None:
    m = re.search(r"\b(is|are|was|were|can|will|must|should|may|does|do|did|could|would) not\b", s)
    if m:
        return s[: m.end(1)] + s[m.end():]  # drop the "not"
    m = AUX.search(s)
    if not m:
        return None
    return s[: m.end()] + " not" + s[m.end():]


def _antonym(s: str, rng: random.Random) -> str | None:
    words = re.findall(r"[A-Za-z]{4,}", s)
    rng.shuffle(words)
    for w in words:
        opts = sorted(antonyms(w))
        if opts and w.lower() not in cl.STOP:
            return re.sub(rf"\b{re.escape(w)}\b", rng.choice(opts), s, count=1)
    return None


def _number(s: str, rng: random.Random) -> str | None:
    m = list(re.finditer(r"\b\d+\b", s))
    if not m:
        return None
    x = rng.choice(m)
    n = int(x.group(0))
    new = n + rng.choice([1, 2, 5, 10, -1]) if n > 1 else n + 2
    return s[: x.start()] + str(max(new, 0) if new != n else n + 3) + s[x.end():]


def _condition(s: str) -> str | None:
    for a, b in (("within", "more than"), ("up to", "more than"), ("at least", "less than"), ("before", "after"),
                 ("more than", "less than"), ("over", "under")):
        if re.search(rf"\b{a}\b", s):
            return re.sub(rf"\b{a}\b", b, s, count=1)
    return None


def _quantifier(s: str) -> str | None:
    for a, b in SWAP_Q.items():
        if re.search(rf"\b{a}\b", s, re.I):
            return re.sub(rf"\b{a}\b", b, s, count=1, flags=re.I)
    return None


GRADED_SWAP = {"most": "least", "least": "most", "best": "worst", "worst": "best", "better": "worse", "worse": "better",
               "more": "less", "less": "more"}


def _degree(s: str, rng: random.Random) -> str | None:
    """Turn a rank or degree round: an ordinal ("third" -> "last"), a marked degree ("most" -> "least"), or a
    regular comparative or superlative to its WordNet antonym's ("largest" -> "smallest", "higher" -> "lower")."""
    words = re.findall(r"[A-Za-z]{4,}", s)
    rng.shuffle(words)
    ranks = [w for w in ORDINALS if w != "final"]
    for w in words:
        lw = w.lower()
        if lw in ORDINALS:
            new = rng.choice([r for r in ranks if ORDINALS[r] != ORDINALS[lw]])
        elif lw in GRADED_SWAP:
            new = GRADED_SWAP[lw]
        else:
            base = graded_base(lw)
            opp = [o for o in sorted(antonyms(base)) if o.isalpha()] if base and lw.startswith(base[:-1]) else []
            if not opp:
                continue
            o = rng.choice(opp)
            new = (o[:-1] if o.endswith("e") else o) + ("est" if lw.endswith("est") else "er")
        return re.sub(rf"\b{re.escape(w)}\b", new, s, count=1)
    return None


def _harmless(s: str, rng: random.Random) -> str | None:
    """Edits that keep the meaning or only drop detail: truncation, a clause removed, a word dropped."""
    words = s.split()
    if len(words) < 8:
        return None
    k = rng.choice([0, 1, 2])
    if k == 0:
        return " ".join(words[: max(5, int(len(words) * 0.6))]).rstrip(",;") + "."
    if k == 1 and "," in s:
        parts = s.split(",")
        return ",".join(p for i, p in enumerate(parts) if i != rng.randrange(len(parts))).strip()
    i = rng.randrange(len(words))
    return " ".join(w for j, w in enumerate(words) if j != i)


def synthetic(sentences: list[str], seed: int = 7) -> list[tuple[str, str, int]]:
    """(a, b, label) pairs perturbed from plain sentences; a sentence may sit inside its neighbours."""
    rng = random.Random(seed)
    out = []
    for i, s in enumerate(sentences):
        makers = [lambda s: _negate(s), lambda s: _antonym(s, rng), lambda s: _number(s, rng), _condition, _quantifier,
                  lambda s: _degree(s, rng)]
        made = [t for t in (make(s) for make in makers) if t and t != s]
        for t in rng.sample(made, min(2, len(made))):
            out.append((s, t, 1))
        h = _harmless(s, rng)
        if h and h != s:
            out.append((s, h, 0))
        other = sentences[(i + 1 + rng.randrange(5)) % len(sentences)]
        if other != s:
            out.append((s, other, 0))  # a neighbouring statement on a related topic
        if "not" in s.split() or "never" in s.split():
            out.append((s, s.replace(",", ""), 0))  # a negation on both sides is no flip
    return out


def example_sentences(root: Path) -> list[str]:
    """Sentences of the example knowledge base's Markdown files."""
    out = []
    for p in sorted(list((root / "sources").glob("**/*.md")) + list((root / "sop_cards").glob("**/*.md"))):
        text = p.read_text(encoding="utf-8").split("---", 2)[-1]
        out += [s for s in cl.sentences(text) if not s.startswith("#") and len(s.split()) >= 5]
    return out


def fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1e-2, steps: int = 3000, lr: float = 0.1):
    """Weighted logistic regression by gradient descent on standardised features; returns (mean, scale, coef, bias)."""
    mean, scale = X.mean(0), X.std(0) + 1e-6
    Z = (X - mean) / scale
    coef, bias = np.zeros(Z.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(Z @ coef + bias)))
        g = (p - y) * w
        coef -= lr * (Z.T @ g / w.sum() + l2 * coef)
        bias -= lr * g.sum() / w.sum()
    return mean, scale, coef, bias


def pca(E: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the top-k principal directions of the rows of E."""
    mean = E.mean(0)
    _, _, vt = np.linalg.svd(E - mean, full_matrices=False)
    return mean, vt[:k]


def embed_texts(embedder, texts: list[str]) -> dict[str, np.ndarray]:
    """Each distinct text embedded once."""
    uniq = list(dict.fromkeys(texts))
    return dict(zip(uniq, np.asarray(embedder.encode(uniq), dtype=np.float64)))


def main(train_path: str | Path = DEFAULT_TRAIN, embedder=None, synthetic_weight: float = 0.1, components: int = 8,
         threshold: float = 0.5, bare_threshold: float = 1.0, cache: dict | None = None,
         max_premises: int = 1000) -> dict:
    """Build the training set, fit, and write `statement_model.json`."""
    t0 = time.perf_counter()
    root = Path(__file__).resolve().parents[3]
    recs = [json.loads(line) for line in open(train_path, encoding="utf-8") if line.strip()]
    premises = list(dict.fromkeys(r["a"]["text"] for r in recs))
    pairs = [(r["a"]["text"], r["b"]["text"], int(r["label"] == "conflict"), 1.0) for r in recs]
    syn = synthetic(example_sentences(root) + premises[:max_premises]) if synthetic_weight > 0 else []
    pairs += [(a, b, y, synthetic_weight) for a, b, y in syn]
    if embedder is None:
        from freshgate.config import Settings
        from freshgate.lookup.engine import default_embedder

        embedder = default_embedder(Settings())
    emb = cache if cache is not None else {}
    missing = [t for p in pairs for t in p[:2] if t not in emb]
    if missing:
        emb.update(embed_texts(embedder, missing))
    t_embed = time.perf_counter() - t0
    ea = np.stack([emb[p[0]] for p in pairs])
    eb = np.stack([emb[p[1]] for p in pairs])
    X = np.stack([statement_features(a, b, float(ea[i] @ eb[i])) for i, (a, b, _, _) in enumerate(pairs)])
    pmean, comps = pca(np.hstack([ea * eb, np.abs(ea - eb)]), components)
    Xf = np.hstack([X, (np.hstack([ea * eb, np.abs(ea - eb)]) - pmean) @ comps.T])
    y = np.array([p[2] for p in pairs], dtype=np.float64)
    w = np.array([p[3] for p in pairs])
    mean, scale, coef, bias = fit(Xf, y, w)
    data = {"features": FEATURES, "mean": mean.tolist(), "scale": scale.tolist(), "pca_mean": pmean.tolist(),
            "pca": comps.tolist(), "layers": [[coef.reshape(-1, 1).tolist(), [bias]]], "threshold": threshold,
            "bare_threshold": bare_threshold,
            "meta": {"train_pairs": len(recs), "synthetic_pairs": len(syn), "synthetic_weight": synthetic_weight,
                     "components": components, "embed_seconds": round(t_embed, 1),
                     "seconds": round(time.perf_counter() - t0, 1),
                     "source": "pairs-nli-train.jsonl + synthetic perturbations (negation, antonym, number, "
                               "condition, quantifier, degree; harmless edits as negatives)"}}
    MODEL_FILE.write_text(json.dumps(data))
    return data["meta"]


def set_operating_point(threshold: float, bare_threshold: float, path: Path = MODEL_FILE) -> None:
    """Write the operating point chosen on the dev files into the shipped weights."""
    data = json.loads(path.read_text())
    data["threshold"], data["bare_threshold"] = threshold, bare_threshold
    path.write_text(json.dumps(data))


if __name__ == "__main__":
    # python -m freshgate.conflicts.train_statements [TRAIN_JSONL]
    # python -m freshgate.conflicts.train_statements --operating-point 0.55 0.6
    if sys.argv[1:2] == ["--operating-point"]:
        set_operating_point(float(sys.argv[2]), float(sys.argv[3]))
    else:
        print(main(*sys.argv[1:2], synthetic_weight=0.1))
