"""Train the learned conflict judge on synthetic pairs: `python -m freshgate.conflicts.train`.

Never reads the evaluation files. Pairs come from (1) passages of text on this machine (seed
articles, the example knowledge base, package READMEs) perturbed into conflicts (a number, name,
negation or opposite word changed) or harmless edits (trims, dropped sentences, other passages),
and (2) encyclopedic passages rendered from templates about made-up albums, films, people and
towns: the same entity described twice (agree), one key fact replaced throughout (conflict), or
two different entities that share a name (no conflict). Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import random
import re
import time
from pathlib import Path

import numpy as np

from freshgate.conflicts.claims import sentences
from freshgate.conflicts.features import NAMES, pair_features
from freshgate.conflicts.judge import MODEL_FILE, Passage, claim_evidence

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[3]
# Raw probability that maps to score 0.5: chosen on the development set's precision/recall
# curve (weights are never fitted to it); precision matters more than recall.
DECISION_THRESHOLD = 0.8
FIRST = ("James Maria Chen Olga Tomas Aisha Pierre Yuki Carlos Ingrid Rahul Fatima Liam Sofia Kwame Elena Hiroshi Nadia "
         "Oscar Greta Mateo Priya Viktor Amara Dmitri Leila Henrik Rosa Samuel Mei").split()
LAST = ("Novak Okafor Lindqvist Moreau Tanaka Alvarez Brennan Kowalski Haddad Fischer Santos Nakamura Oyelaran Duval "
        "Petrov Gallagher Rossi Mbeki Sato Whitfield Castillo Berg Ahmadi Quinn Laurent Vance Kaur Holm Ferreira Dunn").split()
CITIES = ("Lyon Osaka Leeds Porto Tampere Austin Cork Graz Quebec Bergen Nagpur Adelaide Turin Malmo Cusco Dakar Tulsa "
          "Hobart Gdansk Memphis").split()
NATIONS = "American British French Japanese Swedish Brazilian Indian Nigerian German Canadian Irish Italian".split()
TITLE_WORDS = ("Silver River Midnight Echo Glass Harbor Crimson Northern Light Paper Crown Quiet Storm Golden Road "
               "Hollow Winter Electric Garden Velvet Iron Distant Shore Broken Mirror Wild Summer").split()
LABELS = "Columbia Harbor Records Bluebird Atlantic Northway Sable Music Parlophone Vireo".split()
OCCUPATIONS = "painter footballer politician physicist novelist naval officer composer architect cyclist".split()
CHROME = ["Jump to navigation Jump to search From Wikipedia, the free encyclopedia", "Retrieved from the archive. "
          "Categories: Articles with short description", "Edit links Article Talk Read Edit View history Tools",
          "This page was last edited on 3 May 2023. Text is available under the Creative Commons License."]
SYNONYMS = {"large": "big", "use": "employ", "shows": "displays", "also": "additionally", "began": "started",
            "help": "assist", "quickly": "rapidly", "buy": "purchase", "about": "roughly", "important": "key",
            "released": "issued", "received": "got", "several": "multiple", "known": "recognised"}


def _read(path: Path) -> str:
    data = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    text = data.decode("utf-8", "ignore")
    return re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)


def corpus_files() -> list[Path]:
    """Offline English prose: seeds, the example knowledge base, package READMEs and news files."""
    files = sorted(REPO.parent.joinpath("shared", "seeds").glob("*.txt"))
    files += sorted((REPO / "sources").glob("*.md")) + sorted((REPO / "sop_cards").glob("*.md"))
    for pattern in ("README*", "NEWS*", "changelog.gz"):
        files += sorted(Path("/usr/share/doc").glob(f"*/{pattern}"))
    return [f for f in files if f.is_file() and "eval" not in f.parts]


def passages(text: str, rng: random.Random, lo: int = 200, hi: int = 900) -> list[str]:
    """Prose windows of consecutive sentences, lo..hi characters, skipping code and tables."""
    sents = [s for s in sentences(re.sub(r"[#*`>|]+", " ", text)) if len(s) > 25]
    out, cur = [], []
    for s in sents:
        cur.append(s)
        joined = " ".join(cur)
        if len(joined) >= rng.randint(lo, hi):
            letters = sum(c.isalpha() or c.isspace() for c in joined) / len(joined)
            if letters > 0.85 and len(cur) >= 2:
                out.append(joined)
            cur = []
    return out


def name_pool(rng: random.Random) -> list[str]:
    """Made-up full names for entity substitutions."""
    return [f"{a} {b}" for a in FIRST for b in LAST]


def drop_sentence(t: str, rng: random.Random) -> str:
    """Remove one sentence (if there are several)."""
    ss = sentences(t)
    if len(ss) < 3:
        return trim(t, rng)
    del ss[rng.randrange(len(ss))]
    return " ".join(ss)


def trim(t: str, rng: random.Random) -> str:
    """Cut a piece off the start or the end, as page fragments are."""
    cut = rng.randint(len(t) // 8, len(t) // 3)
    return t[cut:].lstrip() if rng.random() < 0.5 else t[:-cut].rstrip()


def reorder(t: str, rng: random.Random) -> str:
    """Shuffle the sentences."""
    ss = sentences(t)
    rng.shuffle(ss)
    return " ".join(ss)


def synonyms(t: str, rng: random.Random) -> str:
    """Swap a few common words for synonyms (a paraphrase keeps every fact)."""
    for w, v in SYNONYMS.items():
        t = re.sub(rf"\b{w}\b", v, t) if rng.random() < 0.7 else t
    return drop_sentence(t, rng) if rng.random() < 0.3 else t


HARMLESS = [drop_sentence, trim, reorder, synonyms, lambda t, r: t]


def conflicting_edit(t: str, rng: random.Random, names: list[str]) -> str | None:
    """Change one fact: a number, a name (throughout), a negation or an opposite word; None if none applies."""
    from freshgate.conflicts.features import ANTONYMS

    nums = sorted(set(re.findall(r"(?<![\w.])\d+(?:[.,]\d+)?(?![\w.])", t)))
    caps = sorted(set(re.findall(r"(?<=[a-z,] )[A-Z][a-z]+(?: [A-Z][a-z]+)?", t)))
    ants = [(x, y) for x, y in ANTONYMS if re.search(rf"\b{x}\b", t)] + \
           [(y, x) for x, y in ANTONYMS if re.search(rf"\b{y}\b", t)]
    choices = (["num"] * 3 if nums else []) + (["name"] * 3 if caps else []) + ["neg"] + (["ant"] if ants else [])
    how = rng.choice(choices)
    if how == "num":
        n = rng.choice(nums)
        new = n
        while new == n:
            new = str(max(1, int(float(n.replace(",", ""))) + rng.choice([-3, -2, -1, 1, 2, 5, 10])))
        return re.sub(rf"(?<![\w.]){re.escape(n)}(?![\w.])", new, t)
    if how == "name":
        old = rng.choice(caps)
        new = rng.choice(names).split()[0] if " " not in old else rng.choice(names)
        return t.replace(old, new)
    if how == "ant":
        x, y = rng.choice(ants)
        return re.sub(rf"\b{x}\b", y, t, count=1)
    out, n = re.subn(r"\b(is|are|was|were|can|must|will|should|may|has|have)\b(?! not)", r"\1 not", t, count=1)
    return out if n else None


def append_other(p: str, q: str, rng: random.Random) -> str:
    """p plus a sentence from elsewhere: new numbers and names, but nothing changed."""
    return f"{p} {rng.choice(sentences(q))}"


def real_text_pairs(rng: random.Random, limit: int) -> list[tuple[str, str, int]]:
    """Conflicting and harmless edits of real passages, plus unrelated passages from the same file."""
    docs = [(f.name, passages(_read(f), rng)) for f in corpus_files()]
    docs = [(n, ps) for n, ps in docs if ps]
    rng.shuffle(docs)
    names = name_pool(rng)
    out: list[tuple[str, str, int]] = []
    for _, ps in docs:
        for p in ps[:4]:
            b = rng.choice(HARMLESS)(p, rng)
            out.append((p, b, 0))
            bad = conflicting_edit(p, rng, names)
            if bad is not None:
                cut = rng.choice([drop_sentence, trim])(bad, rng)
                out.append((p, bad if cut in p or rng.random() < 0.5 else cut, 1))
            if len(ps) > 1:
                out.append((p, rng.choice([q for q in ps if q != p]), 0))
            if rng.random() < 0.3:
                out.append((p, append_other(p, rng.choice(rng.choice(docs)[1]), rng), 0))
        if len(out) >= limit:
            break
    return out[:limit]


def _date(rng: random.Random, lo: int, hi: int) -> str:
    months = "January February March April May June July August September October November December".split()
    return f"{rng.randint(1, 28)} {rng.choice(months)} {rng.randint(lo, hi)}"


def entity(rng: random.Random, title: str | None = None, kind: str | None = None) -> dict:
    """A made-up encyclopedic entity; `key` names the fact a question would ask about."""
    person = lambda: f"{rng.choice(FIRST)} {rng.choice(LAST)}"  # noqa: E731
    kind = kind or rng.choice(["album", "film", "person", "town", "book"])
    title = title or (person() if kind == "person" else f"{rng.choice(TITLE_WORDS)} {rng.choice(TITLE_WORDS)}")
    year = rng.randint(1950, 2022)
    e = {"kind": kind, "title": title, "year": str(year), "city": rng.choice(CITIES), "nation": rng.choice(NATIONS)}
    if kind == "album":
        e.update(key="artist", artist=person(), label=rng.choice(LABELS), producer=person(),
                 length=f"{rng.randint(30, 70)}:{rng.randint(10, 59)}", chart=str(rng.randint(1, 90)))
    elif kind == "film":
        e.update(key="director", director=person(), star=person(), runtime=str(rng.randint(80, 160)),
                 budget=str(rng.randint(2, 90)))
    elif kind == "person":
        e.update(key="job", job=rng.choice(OCCUPATIONS), born=_date(rng, 1850, 1960), died=_date(rng, 1965, 2020),
                 spouse=person())
    elif kind == "town":
        e.update(key="county", county=rng.choice(LAST), population=f"{rng.randint(200, 90000):,}", state="Ohio")
    else:
        e.update(key="author", author=person(), pages=str(rng.randint(120, 700)), label=rng.choice(LABELS))
    return e


FACTS = {
    "album": ["{title} is the {ord} studio album by {artist}, released in {year} by {label}.",
              "{title} is a {year} album by {nation} singer {artist}.",
              "It was recorded in {city} and produced by {producer}.", "The album runs {length} in total.",
              "{artist} wrote most of the songs on {title}.", "It peaked at number {chart} on the national chart."],
    "film": ["{title} is a {year} {nation} drama film directed by {director}.",
             "{title} ( {year} film ) Directed by {director} Starring {star} Running time {runtime} minutes",
             "The film stars {star} and was shot in {city}.", "Its budget was ${budget} million.",
             "{director} also wrote the screenplay.", "It runs {runtime} minutes."],
    "person": ["{title} ( {born} – {died} ) was a {nation} {job}.", "{title} was born in {city} on {born}.",
               "He worked as a {job} for most of his life.", "{title} died on {died}.",
               "He was married to {spouse}.", "Born {born} {city} Died {died} Occupation {job}"],
    "town": ["{title} is a township in {county} County, {state}, United States.",
             "The population was {population} at the 2010 census.", "{title} lies north of {city}.",
             "It is one of several townships of {county} County.", "The township was founded in {year}."],
    "book": ["{title} is a {year} novel by {nation} writer {author}.", "It was published by {label} in {year}.",
             "The book has {pages} pages.", "{author} set the story in {city}.",
             "{title} was {author}'s third novel."],
}


def render(e: dict, rng: random.Random) -> str:
    """One passage about e: the intro fact plus a random subset of the others, sometimes with page chrome."""
    facts = FACTS[e["kind"]]
    chosen = [facts[0] if rng.random() < 0.8 else facts[1]] + rng.sample(facts[2:], rng.randint(1, len(facts) - 2))
    rng.shuffle(chosen)
    text = " ".join(f.format(ord=rng.choice(["second", "third", "debut"]), **e) for f in chosen)
    if rng.random() < 0.3:
        text = f"{rng.choice(CHROME)} {text}" if rng.random() < 0.5 else f"{text} {rng.choice(CHROME)}"
    return text


def template_pairs(rng: random.Random, n: int) -> list[tuple[str, str, int]]:
    """Agreeing renderings, one key fact replaced (near-copy or not), and namesakes (different entities)."""
    out = []
    while len(out) < n:
        e = entity(rng)
        r = rng.random()
        if r < 0.2:
            out.append((render(e, rng), render(e, rng), 0))
        elif r < 0.45:
            other = entity(rng, title=e["title"], kind=rng.choice([e["kind"], None]))
            out.append((render(e, rng), render(other, rng), 0))
        elif r < 0.55:
            text = render(e, rng)
            out.append((text, rng.choice(HARMLESS)(text, rng), 0))
        else:
            bad = dict(e)
            k = e["key"] if rng.random() < 0.7 else rng.choice(["year", "city"])
            bad[k] = entity(rng, kind=e["kind"])[k]
            if bad[k] == e[k]:
                continue
            text = render(e, rng)
            near = text.replace(e[k], bad[k]) if e[k] in text else render(bad, rng)
            out.append((text, near if r < 0.78 else render(bad, rng), 1))
    return out


def build_pairs(seed: int, n_real: int, n_template: int) -> list[tuple[str, str, int]]:
    """All synthetic (a, b, label) pairs, shuffled."""
    rng = random.Random(seed)
    pairs = real_text_pairs(rng, n_real) + template_pairs(rng, n_template)
    rng.shuffle(pairs)
    return [(a, b, y) if rng.random() < 0.5 else (b, a, y) for a, b, y in pairs]


def featurize(pairs, embedder, batch: int = 64, cache: Path | None = None) -> np.ndarray:
    """Embed every distinct text once (reusing an optional cache file), then compute the pair features."""
    texts = sorted({t for a, b, _ in pairs for t in (a, b)})
    index = {t: i for i, t in enumerate(texts)}
    known: dict[str, np.ndarray] = {}
    if cache and cache.is_file():
        z = np.load(cache, allow_pickle=False)
        known = dict(zip(z["texts"].tolist(), z["emb"]))
    todo = [t for t in texts if t not in known]
    for i in range(0, len(todo), batch):
        known.update(zip(todo[i:i + batch], embedder.encode(todo[i:i + batch])))
    emb = np.stack([known[t] for t in texts])
    if cache:
        np.savez(cache, texts=np.array(texts), emb=emb)
    rows = []
    for a, b, _ in pairs:
        ev = claim_evidence(Passage(a), Passage(b))
        rows.append(pair_features(a, b, emb[index[a]], emb[index[b]], len(ev)))
    return np.stack(rows)


def fit(X: np.ndarray, y: np.ndarray, seed: int, hidden: int = 16) -> dict:
    """Fit a small MLP with scikit-learn and export it as plain lists for numpy inference."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X)
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), alpha=1e-2, max_iter=600, random_state=seed,
                        early_stopping=True, n_iter_no_change=25)
    clf.fit(scaler.transform(X), y)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return {"features": NAMES, "mean": scaler.mean_.tolist(), "scale": scale.tolist(),
            "layers": [(w.tolist(), b.tolist()) for w, b in zip(clf.coefs_, clf.intercepts_)],
            "threshold": DECISION_THRESHOLD}


def main(argv: list[str] | None = None) -> None:
    """Build synthetic pairs, embed them with the real model, train, and write the weights file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--real", type=int, default=1600, help="pairs from perturbed real passages")
    ap.add_argument("--template", type=int, default=2400, help="pairs from encyclopedic templates")
    ap.add_argument("--out", type=Path, default=MODEL_FILE)
    ap.add_argument("--cache", type=Path, help="embedding cache file (speeds up repeated runs)")
    ap.add_argument("--hashing", action="store_true", help="use the fake embedder (fast smoke runs only)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from freshgate.embeddings.embedder import HashingEmbedder, SentenceTransformerEmbedder

    t0 = time.perf_counter()
    pairs = build_pairs(args.seed, args.real, args.template)
    y = np.array([lab for _, _, lab in pairs])
    log.info("built %d pairs (%d conflicts) in %.1fs", len(pairs), y.sum(), time.perf_counter() - t0)
    X = featurize(pairs, HashingEmbedder() if args.hashing else SentenceTransformerEmbedder(),
                  cache=args.cache)
    t1 = time.perf_counter()
    log.info("features in %.1fs", t1 - t0)
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(y))
    cut = int(0.8 * len(y))
    held = fit(X[order[:cut]], y[order[:cut]], args.seed)
    from freshgate.conflicts.features import PairModel

    pred = PairModel(held).predict(X[order[cut:]]) >= 0.5
    yt = y[order[cut:]].astype(bool)
    tp = int((pred & yt).sum())
    prec, rec = tp / max(1, pred.sum()), tp / max(1, yt.sum())
    model = fit(X, y, args.seed)
    model["meta"] = {"pairs": len(y), "conflicts": int(y.sum()), "seed": args.seed,
                     "synthetic_holdout": {"precision": round(prec, 3), "recall": round(rec, 3)},
                     "embedder": "hashing" if args.hashing else "all-MiniLM-L6-v2",
                     "train_seconds": round(time.perf_counter() - t0, 1)}
    args.out.write_text(json.dumps(model, separators=(",", ":")))
    log.info("synthetic hold-out precision %.3f recall %.3f; wrote %s; total %.1fs",
             prec, rec, args.out, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
