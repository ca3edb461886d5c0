"""The sentence-level judge: align two passages sentence by sentence and find statements that cannot both hold.

Each sentence becomes a statement: its content lemmas (what it is about), polarity (negation
parity), quantifier, modality and values (numbers, dates, amounts, durations with their bound).
Sentences of the two passages are aligned by shared content lemmas; an aligned pair whose
polarity flips, whose predicate turns into a WordNet antonym, whose rank or degree turns round
(ordinal "third vs last", superlative "largest vs smallest", scalar "huge vs tiny", "higher vs
lower"), whose value under the same subject changes, or whose quantifier or condition turns the
other way is a finding a person can check ("delivery to the UK: within 5 days vs more than 5 days").
`statement_features` summarises the findings for the learned scorer (trained in `train_statements.py`).
Pure functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from freshgate.conflicts import claims as cl
from freshgate.conflicts.lexicon import are_antonyms, graded_base, lemma, opposite_ends

WORD = re.compile(r"[A-Za-z]+(?:n't|'[a-z]+)?|\d+(?:[.,]\d+)*")
NEGATION = frozenset("not n't no never none nobody nothing neither nor cannot without nowhere".split())
# Function-word opposites WordNet does not list as antonyms (it covers content words).
OPPOSITES = [("before", "after"), ("earlier", "later"), ("always", "never"), ("above", "below"), ("within", "after"),
             ("inside", "outside"), ("increase", "reduce"), ("allow", "prohibit"), ("allow", "ban"),
             ("required", "optional"), ("mandatory", "optional"), ("simple", "simplify"), ("complex", "simplify"),
             ("more", "fewer"), ("most", "least"), ("rise", "fall"), ("rose", "fell"), ("gain", "loss"),
             ("success", "failure"), ("succeed", "fail"), ("everyone", "nobody"), ("everything", "nothing")]
_OPP = {frozenset(p) for p in OPPOSITES}
ORDINALS = {w: i + 1 for i, w in enumerate("first second third fourth fifth sixth seventh eighth ninth tenth".split())}
ORDINALS.update(last=99, final=99)
SUPERLATIVES = frozenset("most least best worst".split())
NEG_PREFIXES = ("un", "in", "im", "ir", "il", "dis", "non")
COMPARATIVES = frozenset("more less fewer better worse earlier later".split())
QUANT = {"all": "all", "every": "all", "each": "all", "always": "all", "everyone": "all", "everything": "all",
         "entire": "all", "whole": "all", "no": "none", "none": "none", "never": "none", "nobody": "none", "nothing": "none",
         "some": "some", "several": "some", "sometimes": "some", "few": "few", "rarely": "few", "seldom": "few",
         "many": "many", "most": "many", "often": "many", "usually": "many", "only": "only"}
QUANT_CLASH = {frozenset(p) for p in (("all", "none"), ("all", "few"), ("many", "few"), ("all", "some"),
                                      ("many", "none"), ("only", "all"))}
MODALS = {"must": "must", "shall": "must", "required": "must", "mandatory": "must", "may": "may", "can": "may",
          "allowed": "may", "permitted": "may", "optional": "may", "should": "should"}
STOPWORDS = cl.STOP | {"s", "t", "also", "very", "really", "just", "even", "still", "yet", "here", "now", "well"}


@dataclass(frozen=True)
class Statement:
    """One sentence read as a statement."""

    text: str
    words: tuple[str, ...]         # lower-case tokens
    content: frozenset[str]        # content lemmas (what the sentence is about and says)
    negations: int                 # negation cues, for polarity parity
    quants: frozenset[str]         # quantifier classes used
    modals: frozenset[str]         # modal classes used
    values: tuple                  # claims.Claim values (numbers, dates, amounts, durations)


@dataclass(frozen=True)
class Finding:
    """Two aligned sentences and what flips between them."""

    kind: str        # negation | antonym | ordinal | superlative | scalar | number | date | condition | quantifier
    #                  | modality
    a: str           # the sentence (or value) on side a
    b: str
    detail: str      # the flipped words or values: "has vs lacks", "within 5 days vs more than 5 days"
    subject: str     # shared content words: what both sentences are about
    align: float     # how much of the shorter sentence the other covers


def _lem(w: str) -> str:
    return cl.stem(lemma(w))


@lru_cache(maxsize=16384)
def statement(text: str) -> Statement:
    """Read one sentence."""
    words = tuple(w.lower() for w in WORD.findall(text))
    neg = sum(1 for w in words if w in NEGATION or w.endswith("n't"))
    content = frozenset(_lem(w) for w in words if w not in STOPWORDS and w not in NEGATION and not w.endswith("n't")
                        and len(w) > 1 and not w.isdigit())
    quants = frozenset(QUANT[w] for w in words if w in QUANT)
    modals = frozenset(MODALS[w] for w in words if w in MODALS)
    values = tuple(c for c in cl.extract_cached(text) if c.kind != "modality")
    return Statement(text, words, content, neg, quants, modals, values)


@lru_cache(maxsize=8192)
def statements(text: str) -> tuple[Statement, ...]:
    """A passage's sentences as statements (headings and one-word lines dropped)."""
    out = []
    for s in cl.sentences(text)[:60]:
        if s.lstrip().startswith("#"):
            continue
        st = statement(s)
        if len(st.content) >= 2:
            out.append(st)
    return tuple(out)


def alignment(x: Statement, y: Statement) -> float:
    """Share of the shorter statement's content lemmas that the other has too."""
    if not x.content or not y.content:
        return 0.0
    return len(x.content & y.content) / min(len(x.content), len(y.content))


def _graded(w: str, marked: frozenset[str]) -> bool:
    """A comparative ("more", "higher") or superlative ("most", "largest") form; a function word is none ("after")."""
    return w in marked or (w not in STOPWORDS and graded_base(w) is not None
                           and w.endswith("est" if "most" in marked else "er"))


def _prefix_negated(u: str, v: str) -> bool:
    """One word is the other with a negating prefix ("willing" / "unwilling", "rationally" / "irrationally");
    the stem must be five letters or more ("cover" / "discover" aside, short stems are mostly other words)."""
    short, long_ = sorted((u, v), key=len)
    return len(short) >= 5 and any(long_ == p + short for p in NEG_PREFIXES)


def _opposite_pairs(x: Statement, y: Statement) -> list[tuple[str, str, str]]:
    """Words only one side uses that say opposite things, with the kind of opposition:

    ordinal ("third" / "last"), superlative ("largest" / "smallest", "most" / "least"), scalar (a
    comparative pair, "higher" / "lower", or two ends of one WordNet scale that are not direct antonyms,
    "huge" / "tiny") and antonym (WordNet antonyms, the function-word list, "has" / "lacks", and a word
    against its prefixed negation, "willing" / "unwilling").
    """
    only_x = [w for w in dict.fromkeys(x.words) if w not in y.words and w.isalpha() and len(w) > 2]
    only_y = [w for w in dict.fromkeys(y.words) if w not in x.words and w.isalpha() and len(w) > 2]
    out = []
    for u in only_x:
        for v in only_y:
            if u in ORDINALS or v in ORDINALS:
                if u in ORDINALS and v in ORDINALS and ORDINALS[u] != ORDINALS[v]:
                    out.append((u, v, "ordinal"))
                continue
            bu, bv = graded_base(u) or u, graded_base(v) or v
            direct = (are_antonyms(u, v) or are_antonyms(bu, bv) or frozenset((lemma(u), lemma(v))) in _OPP
                      or frozenset((u, v)) in _OPP or _prefix_negated(u, v))
            # Scales only between content words: quantifiers ("all" / "any") have their own finding.
            if not direct and (not {u, v}.isdisjoint(STOPWORDS | QUANT.keys()) or not opposite_ends(bu, bv)):
                continue
            if _graded(u, SUPERLATIVES) or _graded(v, SUPERLATIVES):
                out.append((u, v, "superlative"))
            elif not direct or _graded(u, COMPARATIVES) or _graded(v, COMPARATIVES):
                out.append((u, v, "scalar"))
            else:
                out.append((u, v, "antonym"))
    return out


DATED = ("date", "month", "year", "time")


def _same(u: float, v: float, kind: str) -> bool:
    """Equal values: calendar values exactly (claims' relative tolerance would let 1 March = 1 April)."""
    return abs(u - v) <= (1e-6 if kind in DATED else 1e-6 + 0.005 * max(abs(u), abs(v)))


def _compatible(a, b) -> bool:
    if a.kind in DATED:
        return a.unit != b.unit if a.kind == "time" and a.unit and b.unit else _same(a.value, b.value, a.kind)
    return cl.compatible(a, b)


def _stated(c, others) -> bool:
    ends = (c.value,) if c.high is None else (c.value, c.high)
    return any(cl.family(o) == cl.family(c) and _same(x, y, c.kind)
               for o in others for x in ends for y in (o.value, o.high) if y is not None)


def _value_flips(x: Statement, y: Statement) -> list[tuple[str, str, str]]:
    """Values of one kind and unit that differ between aligned sentences, or that bind the other way."""
    out = []
    for ca in x.values:
        # Same kind and unit, and the claims' own subject test: "Agents may grant up to 15%" and "Team
        # leads may grant up to 25%", "the Pro plan" and "the Business plan" are about different things.
        peers = [cb for cb in y.values if cl.family(cb) == cl.family(ca) and cl.same_subject(ca, cb)]
        if not peers or any(_compatible(ca, cb) and not _opposite_bounds(ca, cb) for cb in peers):
            continue
        if any(_opposite_bounds(ca, cb) for cb in peers):
            cb = next(cb for cb in peers if _opposite_bounds(ca, cb))
            out.append(("condition", _with_bound(ca, x.text), _with_bound(cb, y.text)))
            continue
        # A value the other side also states is a second fact, not a changed one.
        if _stated(ca, y.values):
            continue
        cb = peers[0]
        if _stated(cb, x.values):
            continue
        kind = "date" if ca.kind in ("date", "month", "year", "time") else "number"
        out.append((kind, _with_bound(ca, x.text), _with_bound(cb, y.text)))
    return out


def _opposite_bounds(a, b) -> bool:
    """The same value bound the other way: "within 5 days" / "more than 5 days"."""
    return (abs(a.value - b.value) <= 1e-6 + 0.005 * abs(a.value) and {a.bound, b.bound} == {"at_most", "at_least"})


def _with_bound(c, sentence: str) -> str:
    """The value with the words that bind it ("more than 5 days")."""
    i = sentence.find(c.text)
    if i < 0 or c.bound == "exact":
        return c.text
    before = sentence[max(0, i - 16):i]
    m = re.search(rf"({cl.AT_MOST}|{cl.AT_LEAST})\s*$", before, re.I)
    return f"{m.group(1)} {c.text}" if m else c.text


def compare(x: Statement, y: Statement) -> list[Finding]:
    """What flips between two aligned sentences."""
    al = alignment(x, y)
    subject = " ".join(sorted(x.content & y.content))[:80]
    out = []
    if (x.negations % 2) != (y.negations % 2):
        out.append(Finding("negation", x.text, y.text, "negated", subject, al))
    seen: set[str] = set()
    for u, v, kind in _opposite_pairs(x, y):
        if kind not in seen:  # one finding of each kind is enough to check
            seen.add(kind)
            out.append(Finding(kind, x.text, y.text, f"{u} vs {v}", subject, al))
    for kind, va, vb in _value_flips(x, y)[:2]:
        out.append(Finding(kind, x.text, y.text, f"{va} vs {vb}", subject, al))
    for qa in x.quants - y.quants:
        for qb in y.quants - x.quants:
            if frozenset((qa, qb)) in QUANT_CLASH:
                out.append(Finding("quantifier", x.text, y.text, f"{qa} vs {qb}", subject, al))
    if x.modals and y.modals and x.modals.isdisjoint(y.modals) and {"must", "may"} <= (x.modals | y.modals):
        out.append(Finding("modality", x.text, y.text, f"{'/'.join(sorted(x.modals))} vs {'/'.join(sorted(y.modals))}",
                           subject, al))
    return out


def values_apart(x: Statement, y: Statement) -> bool:
    """Both sentences state values of one kind, none of them about the same subject: different things
    ("Meals are reimbursed up to €40 per day" / "Hotels are reimbursed up to €150 per night")."""
    fams = {cl.family(c) for c in x.values} & {cl.family(c) for c in y.values}
    return bool(fams) and not any(cl.family(a) == cl.family(b) and cl.same_subject(a, b)
                                  for a in x.values for b in y.values)


def aligned_pairs(a: str, b: str, min_align: float = 0.5, limit: int = 3) -> list[tuple[Statement, Statement, float]]:
    """For each sentence of the shorter passage, its best partner in the other (alignment ≥ min_align)."""
    sa, sb = statements(a), statements(b)
    if not sa or not sb:
        return []
    swap = len(sb) > len(sa)
    small, big = (sa, sb) if not swap else (sb, sa)
    out = []
    for y in small:
        best, score = None, 0.0
        for x in big:
            s = alignment(x, y)
            if s > score and x.text != y.text:
                best, score = x, s
        if best is not None and score >= min_align:
            out.append((best, y, score) if swap else (y, best, score))  # always (a's sentence, b's sentence)
    out.sort(key=lambda t: -t[2])
    return out[: max(limit, 1) * 8]


def findings(a: str, b: str, min_align: float = 0.5) -> list[Finding]:
    """Flips between aligned sentences of a and b, best aligned first."""
    out = []
    for x, y, _ in aligned_pairs(a, b, min_align):
        out += compare(x, y)
    return out


def self_findings(text: str, min_overlap: float = 0.75) -> list[Finding]:
    """Flips between two near-identical sentences of one passage: the passage contradicts itself.

    Near-identical (content lemmas' Jaccard overlap ≥ `min_overlap`, at least 3 shared): a rule and
    its exception inside one section ("up to 40% ... above 40% needs the Head of Sales", "within
    business hours ... outside business hours") share far fewer words and are not contradictions.
    """
    sts = statements(text)
    out = []
    for i, x in enumerate(sts):
        for y in sts[i + 1:]:
            shared = x.content & y.content
            if len(shared) >= 3 and len(shared) / len(x.content | y.content) >= min_overlap:
                out += compare(x, y)
    return out


KINDS = ("negation", "antonym", "number", "date", "condition", "quantifier", "modality", "ordinal", "superlative",
         "scalar")
FEATURES = ["best_align", "mean_align", "n_aligned", "cover_short", "cover_long", "short_new_words", "len_ratio",
            "log_len_short", "log_len_long", "neg_diff_any", "short_adds_negation", "cos",
            *[f"{k}_align" for k in KINDS], *[f"{k}_any" for k in KINDS], "opposites_anywhere", "short_adds_quant",
            "short_more_negations"]
# Quantifier classes that make a claim exclusive or universal: a short side adding one often overstates.
STRONG_QUANTS = frozenset({"all", "none", "only"})


def statement_features(a: str, b: str, cos: float) -> np.ndarray:
    """Feature vector (order: FEATURES) of a passage pair for the learned scorer."""
    if len(b) > len(a):
        a, b = b, a  # order-independent: a is the longer passage, b the shorter
    sa, sb = statements(a), statements(b)
    ca = frozenset().union(*(s.content for s in sa)) if sa else frozenset()
    cb = frozenset().union(*(s.content for s in sb)) if sb else frozenset()
    pairs = aligned_pairs(a, b, 0.3)
    aligns = [p[2] for p in pairs]
    by_kind = {k: 0.0 for k in KINDS}
    for x, y, al in pairs:
        for f in compare(x, y):
            by_kind[f.kind] = max(by_kind[f.kind], al)
    neg_a = sum(s.negations for s in sa)
    neg_b = sum(s.negations for s in sb)
    # Whole passages as bags of words: an opposite pair outside the aligned sentences (a paraphrase aligns
    # poorly), and a universal or exclusive quantifier only the short side states.
    wa, wb = statement(a), statement(b)
    opposites = len({k for _, _, k in _opposite_pairs(wa, wb)})
    return np.array([
        max(aligns, default=0.0), float(np.mean(aligns)) if aligns else 0.0, np.log1p(len(pairs)),
        len(ca & cb) / max(1, len(cb)), len(ca & cb) / max(1, len(ca)), np.log1p(len(cb - ca)),
        min(len(a), len(b)) / max(1, len(a), len(b)), np.log1p(len(a)) / 5, np.log1p(len(b)) / 5,
        float((neg_a % 2) != (neg_b % 2)), float(any(y.negations > x.negations for x, y, _ in pairs[:1])), cos,
        *[by_kind[k] for k in KINDS], *[float(by_kind[k] > 0) for k in KINDS], np.log1p(opposites),
        float(bool((wb.quants - wa.quants) & STRONG_QUANTS)), float(neg_b > neg_a),
    ], dtype=np.float64)


def describe(f: Finding) -> str:
    """One line a person checks in seconds."""
    if f.kind == "negation":
        return f"negated: \u201c{_short(f.a)}\u201d vs \u201c{_short(f.b)}\u201d"
    subject = _short(f.subject, 40)
    return f"{subject}: {f.detail}" if subject else f.detail


def _short(s: str, n: int = 90) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "\u2026"
