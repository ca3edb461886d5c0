"""Antonyms, scales and word forms from Princeton WordNet 3.0, shipped as a small derived file (`lexicon.tsv`).

No PyPI package ships WordNet's data for offline use (`wn` and NLTK download it at run time), so
the antonym pointers and irregular forms are extracted once from WordNet's own database files
(Debian's `wordnet-base`, /usr/share/wordnet) by `python -m freshgate.conflicts.lexicon BUILD_DIR`
and the result ships in the package. WordNet's licence allows this with its notice, kept at the
top of the file.

Besides direct antonyms ("large"/"small") WordNet files an adjective like "huge" or "tiny" as a
satellite similar to one head of a scale; `opposite_ends` reads two words as the two ends of one
scale when their heads are antonyms ("huge"/"tiny", "tiny"/"large").
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

LEXICON_FILE = Path(__file__).with_name("lexicon.tsv")
NOTICE = """# Derived from WordNet 3.0 (antonym pointers '!', adjective similar-to pointers '&', irregular forms *.exc), Debian package wordnet-base.
# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. Permission to use, copy, modify
# and distribute this software and database and its documentation for any purpose and without fee or
# royalty is hereby granted, provided that you agree to comply with the following copyright notice and
# statements, including the disclaimer, and that the same appear on ALL copies of the software, database
# and documentation, including modifications that you make for internal use or for distribution.
# THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO REPRESENTATIONS OR
# WARRANTIES, EXPRESS OR IMPLIED. The name of Princeton University or Princeton may not be used in
# advertising or publicity pertaining to distribution of the software and/or database.
"""
SYNSET_MAX = 6
POS = {"a": "adj", "s": "adj", "v": "verb", "n": "noun", "r": "adv"}


def _synset(root: Path, tpos: str, offset: str) -> list[str]:
    with open(root / f"data.{POS[tpos]}", "rb") as fh:
        fh.seek(int(offset))
        parts = fh.readline().decode("latin-1").split()
    return [parts[4 + 2 * i].lower().split("(")[0] for i in range(int(parts[3], 16))]


def build(root: str | Path, out: str | Path = LEXICON_FILE) -> int:
    """Extract single-word antonym pairs and irregular forms from WordNet's database files; returns rows written."""
    root = Path(root)
    rows: set[tuple[str, str, str]] = set()
    for pos in ("adj", "verb", "noun", "adv"):
        for line in open(root / f"data.{pos}", encoding="latin-1"):
            if line.startswith("  "):
                continue
            parts = line.split("|")[0].split()
            wc = int(parts[3], 16)
            words = [parts[4 + 2 * i].lower().split("(")[0] for i in range(wc)]
            i = 4 + 2 * wc
            for _ in range(int(parts[i])):
                sym, toff, tpos, st = parts[i + 1:i + 5]
                i += 4
                if sym == "!":
                    # Antonymy is stated between two words; their synonyms in small synsets share it
                    # ("permit"/"forbid" -> "allow"/"prohibit").
                    other = _synset(root, tpos, toff)
                    direct = (words[int(st[:2], 16) - 1], other[int(st[2:], 16) - 1])
                    left = words if len(words) <= SYNSET_MAX else [direct[0]]
                    right = other if len(other) <= SYNSET_MAX else [direct[1]]
                    for a in left:
                        for b in right:
                            if "_" not in a and "_" not in b and a != b:
                                rows.add(("ant", pos, *sorted((a, b))))
                elif sym == "&" and pos == "adj" and parts[2] == "s":
                    # A satellite adjective and the head of its scale ("huge" -> "large").
                    for a in words:
                        for b in _synset(root, tpos, toff):
                            if "_" not in a and "_" not in b and a != b:
                                rows.add(("sim", pos, a, b))
    for pos in ("verb", "adj", "noun"):
        for line in open(root / f"{pos}.exc", encoding="latin-1"):
            form, *bases = line.split()
            if bases and "_" not in form:
                rows.add(("exc", pos, form, bases[0]))
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(NOTICE)
        for row in sorted(rows):
            fh.write("\t".join(row) + "\n")
    return len(rows)


@lru_cache(maxsize=1)
def _load() -> tuple[dict[str, frozenset[str]], dict[str, str], dict[str, frozenset[str]]]:
    ant: dict[str, set[str]] = {}
    exc: dict[str, str] = {}
    sim: dict[str, set[str]] = {}
    for line in LEXICON_FILE.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        kind, _pos, a, b = line.split("\t")
        if kind == "ant":
            ant.setdefault(a, set()).add(b)
            ant.setdefault(b, set()).add(a)
        elif kind == "sim":
            sim.setdefault(a, set()).add(b)
        elif a not in exc:
            exc[a] = b
    return {k: frozenset(v) for k, v in ant.items()}, exc, {k: frozenset(v) for k, v in sim.items()}


@lru_cache(maxsize=65536)
def lemma(word: str) -> str:
    """A word's base form: WordNet's irregular forms, then plain English suffix rules ("lacks" -> "lack")."""
    w = word.lower()
    ant, exc, _ = _load()
    if w in exc:
        return exc[w]
    if w in ant:
        return w
    for suffix, repl in (("ies", "y"), ("es", "e"), ("es", ""), ("s", ""), ("ed", "e"), ("ed", ""), ("ing", "e"),
                         ("ing", ""), ("ly", ""), ("er", ""), ("est", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            base = w[: len(w) - len(suffix)] + repl
            if base in ant:
                return base
    return w


def graded_base(word: str) -> str | None:
    """The adjective a comparative or superlative form grades ("lower" -> "low", "largest" -> "large",
    "best" -> "good"), even where the form is a word of its own ("lower" the verb); None otherwise."""
    w = word.lower()
    ant, exc, sim = _load()
    if exc.get(w, w) != w and (w.endswith(("er", "est")) or w in ("best", "worst", "better", "worse")):
        return exc[w]
    for suffix, repl in (("ier", "y"), ("iest", "y"), ("er", "e"), ("er", ""), ("est", "e"), ("est", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            base = w[: len(w) - len(suffix)] + repl
            if len(base) > 2 and base[-1] == base[-2] and base[:-1] in ant:  # "bigger" -> "big"
                return base[:-1]
            if base in ant or base in sim:
                return base
    return None


def antonyms(word: str) -> frozenset[str]:
    """WordNet antonyms of a word's base form (empty when WordNet lists none)."""
    return _load()[0].get(lemma(word), frozenset())


def are_antonyms(a: str, b: str) -> bool:
    """True when WordNet lists the base forms of a and b as antonyms ("has"/"lacks", "complex"/"simple")."""
    return lemma(b) in antonyms(a)


SCALE_SENSES = 2  # a satellite similar to more heads than this has too many senses to place on one scale


def scale_heads(word: str) -> frozenset[str]:
    """The heads of the scale a word's base form lies on: itself if it has antonyms, else the heads it is
    similar to ("huge" -> big, large); none for a satellite of many senses ("new" -> early, late, ...)."""
    w = lemma(word)
    ant, _, sim = _load()
    if w in ant:
        return frozenset({w})
    heads = sim.get(w, frozenset())
    return heads if len(heads) <= SCALE_SENSES else frozenset()


def opposite_ends(a: str, b: str) -> bool:
    """True when a and b lie at opposite ends of one WordNet scale ("huge"/"tiny", "tiny"/"large")."""
    ant = _load()[0]
    hb = scale_heads(b)
    return any(ant.get(h, frozenset()) & hb for h in scale_heads(a))


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/wordnet"), "rows written to", LEXICON_FILE)
