"""Comparable claims in a passage: amounts, durations, dates, times, limits, ranges and modality.

A claim is a value plus what it is about (its subject) and how it binds (exact, at least,
at most, range). `disagreements` aligns the claims of two passages by subject and kind and
returns the pairs whose values cannot both be true. Pure functions, regular expressions only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

NUMW = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
        "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40,
        "forty-five": 45, "sixty": 60, "ninety": 90, "hundred": 100}
MONTHS = {m: i + 1 for i, m in enumerate(["january", "february", "march", "april", "may", "june", "july",
                                          "august", "september", "october", "november", "december"])}
MONTHS.update({m[:3]: i for m, i in list(MONTHS.items())})
MONTHS["sept"] = 9
CURRENCY = {"$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "us$": "USD", "€": "EUR", "eur": "EUR",
            "euro": "EUR", "euros": "EUR", "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP", "¥": "JPY",
            "jpy": "JPY", "yen": "JPY", "chf": "CHF", "francs": "CHF", "inr": "INR", "rupees": "INR", "cad": "CAD",
            "aud": "AUD"}
MULT = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "bn": 1e9, "b": 1e9, "billion": 1e9}
DAYS = {"minute": 1 / 1440, "hour": 1 / 24, "day": 1, "week": 7, "fortnight": 14, "month": 30, "year": 365}
SIZE = {"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12}
LENGTH = {"mm": 1e-3, "cm": 1e-2, "m": 1, "km": 1e3, "metres": 1, "meters": 1, "kilometres": 1e3,
          "kilometers": 1e3, "miles": 1609.34, "mi": 1609.34, "feet": 0.3048, "ft": 0.3048}
MASS = {"g": 1e-3, "kg": 1, "grams": 1e-3, "kilograms": 1, "tonnes": 1e3, "tons": 1e3, "lb": 0.4536, "pounds": 0.4536}
STOP = set("""a an the of to in on at for by with from and or but as is are was were be been being it its this that
these those there their they them he she his her we our you your i which who whom whose what when where how than
then so such not no nor do does did has have had will would shall should can could may might must also only any all
each every per within up least most more less no later before after until till about approximately around over under
into out if unless except while whereas other same new one above below during need needs""".split())
PRONOUNS = {"we", "you", "they", "i", "he", "she", "it"}
AT_MOST = r"(?:up to|at most|no more than|not more than|maximum(?: of)?|max\.?|not (?:to )?exceed|less than|fewer than|under|below|within|no later than|before|by|until|capped at)"
AT_LEAST = r"(?:at least|no less than|not less than|minimum(?: of)?|min\.?|more than|over|above|after|from|starting|exceeding|or more)"
SCOPE = re.compile(r"\b(?:for|except|excluding|unless|if|when|where|only|on|during|in|outside|between)\s+"
                   r"(?:(?:the|a|an|all|any|our|their|its)\s+)?((?:[A-Za-z-]+\s*){1,3})", re.I)
ABBREV = re.compile(r"(?:\b[ap]\.m\.|\be\.g\.|\bi\.e\.|\b[A-Z]\.|\b(?:Mr|Mrs|Ms|Dr|St|No|vs|etc|Inc|Ltd|Jr|Sr|approx)\.)$")
NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
WNUM = "|".join(sorted(NUMW, key=len, reverse=True))
CUR_SYM = r"(?:US\$|[$€£¥]|USD|EUR|GBP|CHF|JPY|INR|CAD|AUD)"
CUR_WORD = r"(?:USD|EUR|GBP|CHF|JPY|INR|CAD|AUD|dollars?|euros?|pounds?|francs|yen|rupees)"
MULT_RE = r"(?:thousand|million|billion|bn|mn|[kKmMbB])\b"
TZ = r"(?:CET|CEST|UTC|GMT|BST|EST|EDT|CST|CDT|PST|PDT|IST|JST|AEST|local time)"

PATTERNS: list[tuple[str, re.Pattern]] = [
    ("date", re.compile(r"\b(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})\b")),
    ("date", re.compile(r"\b(?P<mname>[A-Z][a-z]{2,8})\.? (?P<d>\d{1,2})(?:st|nd|rd|th)?,? (?P<y>\d{4})\b")),
    ("date", re.compile(r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)? (?:of )?(?P<mname>[A-Z][a-z]{2,8})\.?,? (?P<y>\d{4})\b")),
    ("month", re.compile(r"\b(?P<mname>[A-Z][a-z]{2,8}) (?P<y>\d{4})\b")),
    ("time", re.compile(rf"\b(?P<h>\d{{1,2}})(?::(?P<mi>\d{{2}}))?\s?(?P<ap>[ap])\.?\s?m\b\.?(?:\s?(?P<tz>{TZ}))?", re.I)),
    ("time", re.compile(rf"\b(?P<h>[01]?\d|2[0-3]):(?P<mi>[0-5]\d)\b(?:\s?(?P<tz>{TZ}))?")),
    ("money", re.compile(rf"(?P<cur>{CUR_SYM})\s?(?P<n>{NUM})(?:\s?[-–]\s?(?:{CUR_SYM})?\s?(?P<n2>{NUM}))?\s?(?P<mult>{MULT_RE})?")),
    ("money", re.compile(rf"\b(?P<n>{NUM})(?:\s?[-–]\s?(?P<n2>{NUM}))?\s?(?P<mult>{MULT_RE})?\s?(?P<cur>{CUR_WORD})\b", re.I)),
    ("percent", re.compile(rf"\b(?P<n>{NUM})(?:\s?(?:%|percent|per cent)?\s?(?:[-–]|to)\s?(?P<n2>{NUM}))?\s?(?:%|percent\b|per cent\b)", re.I)),
    ("duration", re.compile(rf"\b(?P<n>{NUM}|{WNUM})(?:\s?(?:[-–]|to)\s?(?P<n2>{NUM}|{WNUM}))?[\s-](?P<q>calendar |business |working )?(?P<u>minute|hour|day|week|fortnight|month|year)s?\b", re.I)),
    ("size", re.compile(rf"\b(?P<n>{NUM})\s?(?P<u>KB|MB|GB|TB)\b", re.I)),
    ("length", re.compile(rf"\b(?P<n>{NUM})\s?(?P<u>mm|cm|km|m|metres|meters|kilometres|kilometers|miles|mi|feet|ft)\b")),
    ("mass", re.compile(rf"\b(?P<n>{NUM})\s?(?P<u>kg|g|grams|kilograms|tonnes|tons|lb)\b")),
    ("year", re.compile(r"\b(?P<y>1[5-9]\d\d|20\d\d)\b")),
    ("count", re.compile(rf"\b(?P<n>{NUM}|{WNUM})(?:\s?(?:[-–]|to)\s?(?P<n2>{NUM}))?\s+(?P<u>[a-z][a-z-]{{2,20}})\b", re.I)),
]
MODAL = re.compile(r"\b(?P<neg>must not|mustn't|shall not|may not|cannot|can't|can not|is not allowed|are not allowed|"
                   r"not permitted|is prohibited|are prohibited|prohibited|forbidden|never|is not required|are not required|"
                   r"need not|do not|does not|don't)\b|\b(?P<pos>must|shall|is required|are required|required to|"
                   r"is allowed|are allowed|allowed to|may|can|permitted|always|is mandatory|are mandatory)\b", re.I)


@dataclass(frozen=True)
class Claim:
    """One comparable statement: subject, kind, normalised value(s), bound and the surface text."""

    kind: str            # money | percent | duration | date | month | time | year | count | size | length | mass | modality
    value: float         # normalised: days, amount in currency units, fraction, ordinal day, minutes, polarity ±1
    high: float | None   # upper end of a range
    bound: str           # exact | at_least | at_most | range
    unit: str            # currency, "business days", "%", a count's noun, time zone, modal verb
    text: str            # the surface span, e.g. "30 days"
    subject: str         # readable subject, e.g. "refund window for monthly plans"
    words: frozenset = field(default_factory=frozenset)  # subject content words (crudely stemmed)
    scope: frozenset = field(default_factory=frozenset)  # words of qualifying phrases ("for annual plans")
    head: frozenset = field(default_factory=frozenset)   # content words of the readable subject ("pro plan")
    names: frozenset = field(default_factory=frozenset)  # capitalised names in the clause ("Germany", "Business")


def stem(word: str) -> str:
    """Lower-case a word and strip a plural / possessive ending (crude, enough for alignment)."""
    w = word.lower().strip("'’")
    if w.endswith(("'s", "’s")):
        w = w[:-2]
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if re.search(r"(?:ss|sh|ch|x|z)es$", w):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3:
        return w[:-1]
    return w


def content_words(text: str) -> list[str]:
    """Stemmed non-stopword alphabetic tokens of a text."""
    return [stem(t) for t in re.findall(r"[A-Za-z][A-Za-z'’-]+", text) if t.lower() not in STOP and len(t) > 1]


_WRAP = re.compile(r"(?m)^(?![ \t]*#)(.*[^\s.!?:;])[ \t]*\n(?![ \t]*(?:\n|[-*•#>|]|\d+[.)]\s))[ \t]*")


def sentences(text: str) -> list[str]:
    """Split a passage into sentences and list items (abbreviation-tolerant enough for policies)."""
    # A hard-wrapped line continues its sentence; blank lines, headings and list items start new ones.
    text = _WRAP.sub(r"\1 ", text)
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])|\n\s*(?:[-*•]|\d+[.)])?\s*|;\s+", text)
             if p and p.strip()]
    out: list[str] = []
    for p in parts:
        if out and ABBREV.search(out[-1]):
            out[-1] = f"{out[-1]} {p}"
        else:
            out.append(p)
    return out


def _num(s: str | None) -> float | None:
    if s is None:
        return None
    s = s.lower()
    return float(NUMW[s]) if s in NUMW else float(s.replace(",", ""))


def _bound(before: str, after: str) -> str:
    before = before[-28:].lower()
    if re.search(AT_MOST + r"\s*$", before) or re.match(r"\s*(?:or (?:less|fewer|earlier)|at (?:the )?most|max)", after, re.I):
        return "at_most"
    if re.search(AT_LEAST + r"\s*$", before) or re.match(r"\s*(?:or (?:more|later)|\+|at (?:the )?least)", after, re.I):
        return "at_least"
    return "exact"


def _subject(sentence: str, start: int, end: int) -> tuple[str, frozenset, frozenset, frozenset, frozenset]:
    """The noun phrase a value is about, its content words, its qualifying scope words, the content words
    of the phrase itself (its head) and the capitalised names of the clause."""
    # Parentheticals are examples, not the subject: "Refunds for monthly plans (Plus Monthly, and ...) are".
    before = re.sub(r"\([^()]*\)", " ", sentence[:start])
    left = re.split(r"[;:]|,\s*(?:but|while|whereas|and)\s|\b(?:but|whereas)\b", before)[-1]
    right = re.split(r"[;:,.]|\b(?:but|and|while|whereas)\b", sentence[end:])[0]
    clause = left + " " + right
    words = frozenset(w for w in content_words(clause) if w not in _UNIT_WORDS)
    scope = frozenset(w for m in SCOPE.finditer(clause) for w in content_words(_np(m.group(1))) if w not in _UNIT_WORDS)
    head = re.sub(rf"\s*\b(?:{AT_MOST}|{AT_LEAST}|is|are|was|were|be|of|costs?|takes?|has|have|about|around|"
                  rf"approximately|is set to|equals?|amounts? to|the)\s*$", "", left.strip(), flags=re.I)
    head = re.split(r"(?<=\w)\s+(?:is|are|was|were|must|may|can|will|shall|should|need|needs|takes?|get|gets|"
                    r"become|becomes|remain|remains)\b", head, maxsplit=1)[0]
    toks = re.findall(r"[\w'’%-]+", head)
    if len(toks) > 2 and toks[0].lower() in PRONOUNS:
        toks = toks[2:]  # "We retain call recordings for": the pronoun and its verb are not the subject
    while toks and toks[0].lower() in STOP:
        toks.pop(0)
    while toks and toks[-1].lower() in STOP:
        toks.pop()
    readable = " ".join(toks[-6:]) or " ".join(content_words(right)[:4])
    head = frozenset(w for w in content_words(" ".join(toks[-6:])) if w not in _UNIT_WORDS)
    # Names inside the clause (not its first word, which is capitalised anyway): "within Germany", "Business plan".
    names = frozenset(stem(t) for t in re.findall(r"(?<=[\w,;] )[A-Z][\w-]+", clause) if t.lower() not in STOP)
    return readable, words, scope, head, names


def _np(phrase: str) -> str:
    """The words of a qualifying phrase up to its first function word ("annual plans are" -> "annual plans")."""
    out = []
    for tok in phrase.split():
        if tok.lower() in STOP:
            break
        out.append(tok)
    return " ".join(out)


_UNIT_WORDS = set(MONTHS) | {"day", "week", "month", "year", "hour", "minute", "calendar", "business", "working", "percent", "cent",
               "dollar", "euro", "pound", "usd", "eur", "gbp", "least", "most", "p.m", "a.m", "thousand", "million", "billion"}


def _value(kind: str, m: re.Match) -> tuple[float, float | None, str] | None:
    g = m.groupdict()
    if kind in ("date", "month"):
        mo = MONTHS.get((g.get("mname") or "").lower()) if g.get("mname") else int(g["mo"])
        if not mo:
            return None
        try:
            return float(date(int(g["y"]), mo, int(g.get("d") or 1)).toordinal()), None, kind
        except ValueError:
            return None
    if kind == "year":
        return float(g["y"]), None, "year"
    if kind == "time":
        h = int(g["h"]) % 12 + (12 if (g.get("ap") or "").lower() == "p" else 0) if g.get("ap") else int(g["h"])
        return float(h * 60 + int(g.get("mi") or 0)), None, (g.get("tz") or "").upper()
    n, n2 = _num(g.get("n")), _num(g.get("n2"))
    if kind == "money":
        mult = MULT.get((g.get("mult") or "").lower(), 1.0)
        return n * mult, (n2 * mult if n2 is not None else None), CURRENCY.get(g["cur"].lower(), g["cur"].upper())
    if kind == "percent":
        return n / 100, (n2 / 100 if n2 is not None else None), "%"
    if kind == "duration":
        f = DAYS[g["u"].lower()]
        q = (g.get("q") or "").strip().lower()
        unit = "business days" if q in ("business", "working") else "days"
        return n * f, (n2 * f if n2 is not None else None), unit
    if kind in ("size", "length", "mass"):
        table = {"size": SIZE, "length": LENGTH, "mass": MASS}[kind]
        key = g["u"] if kind != "size" else g["u"].lower()
        return n * table.get(key, 1), None, kind
    if kind == "count":
        noun = stem(g["u"])
        if noun in STOP or noun in _UNIT_WORDS or noun in MONTHS:
            return None
        return n, n2, noun
    return None


def extract(text: str) -> list[Claim]:
    """All comparable claims of a passage, in reading order."""
    return list(extract_cached(text))


@lru_cache(maxsize=8192)
def extract_cached(text: str) -> tuple[Claim, ...]:
    """`extract`, memoised per text: a section is compared with up to ten neighbours, read once."""
    return tuple(_extract(text))


def _extract(text: str) -> list[Claim]:
    out: list[Claim] = []
    for sent in sentences(text):
        taken: list[tuple[int, int]] = []
        for kind, pat in PATTERNS:
            for m in pat.finditer(sent):
                if any(m.start() < e and s < m.end() for s, e in taken):
                    continue
                val = _value(kind, m)
                if val is None:
                    continue
                value, high, unit = val
                bound = "range" if high is not None else _bound(sent[: m.start()], sent[m.end():])
                taken.append((m.start(), m.end()))
                subj, words, scope, head, names = _subject(sent, m.start(), m.end())
                if kind == "count":
                    words, subj = words | {unit}, subj or m.group("u")
                out.append(Claim(kind, value, high, bound, unit, m.group(0).strip(), subj, words, scope, head, names))
        out.extend(_modal_claims(sent))
    return out


def _modal_claims(sent: str) -> list[Claim]:
    m = MODAL.search(sent)
    if not m:
        return []
    pol = -1.0 if m.group("neg") else 1.0
    if pol > 0 and re.search(r"\bnot\b|\bno\b|n't\b", sent[m.end(): m.end() + 12], re.I):
        pol = -1.0
    subj, words, scope, head, names = _subject(sent, m.start(), m.end())
    action = " ".join(content_words(sent[m.end():])[:5])
    return [Claim("modality", pol, None, "exact", m.group(0).lower(), m.group(0), f"{subj} {action}".strip(),
                  words, scope, head, names)]


def family(c: Claim) -> str:
    """What claims must share to be comparable: kind plus unit (currency, count noun, time zone)."""
    if c.kind in ("duration", "money", "count", "modality"):
        return f"{c.kind}:{c.unit}" if c.kind != "modality" else "modality"
    return c.kind


def _norm(words: frozenset) -> frozenset:
    """Words folded a little further for comparison: "acknowledged" / "acknowledge", "reimbursed" / "reimburse"."""
    return frozenset(w[:-2] if w.endswith("ed") and len(w) > 5 else w[:-1] if w.endswith("e") and len(w) > 4 else w
                     for w in words)


def same_subject(a: Claim, b: Claim, min_overlap: float = 0.5, strict: bool = False,
                 context: tuple[frozenset, frozenset] = (frozenset(), frozenset())) -> bool:
    """True when two claims are about the same thing in the same scope.

    Two values are about different things when each subject names something the other clause does
    not mention ("Meals are reimbursed" / "Hotels are reimbursed", "Agents may grant" / "Team leads
    may grant"), or each clause names a place or product the other lacks ("within Germany" / "to
    other EU countries", "the Pro plan" / "the Business plan"). `strict` (for sections whose
    headings have no word in common): the clauses share two subject words, and neither subject may
    name anything the other clause or its heading (`context`) does not ("the status page is updated every 30 minutes" / "a SEV1 page is
    acknowledged within 5 minutes").
    """
    if not a.words or not b.words:
        return False
    if (a.scope ^ b.scope) - (a.scope & b.words) - (b.scope & a.words) or a.scope ^ b.scope and a.kind == "modality":
        return False
    wa, wb = _norm(a.words), _norm(b.words)
    only_a, only_b = _norm(a.head) - wb - _norm(context[1]), _norm(b.head) - wa - _norm(context[0])
    if (only_a or only_b) if strict else (only_a and only_b):
        return False
    if a.names - b.names - b.words and b.names - a.names - a.words:
        return False
    shared = len(wa & wb)
    overlap = shared / min(len(wa), len(wb))
    need = 0.7 if a.kind == "modality" else min_overlap
    return overlap >= need and shared >= (2 if strict or a.kind == "modality" else 1)


def compatible(a: Claim, b: Claim) -> bool:
    """Whether two claims about the same subject can both be true (ranges and limits contain values)."""
    if a.kind == "time" and a.unit and b.unit and a.unit != b.unit:
        return True  # different time zones: not comparable without a conversion table
    tol = 1e-6 + 0.005 * max(abs(a.value), abs(b.value))
    lo_a, hi_a = _interval(a)
    lo_b, hi_b = _interval(b)
    if a.bound == b.bound and a.bound != "range":
        return abs(a.value - b.value) <= tol
    return lo_a <= hi_b + tol and lo_b <= hi_a + tol


def _interval(c: Claim) -> tuple[float, float]:
    inf = float("inf")
    return {"exact": (c.value, c.value), "at_most": (-inf, c.value), "at_least": (c.value, inf),
            "range": (c.value, c.high if c.high is not None else c.value)}[c.bound]


def _stated(c: Claim, others) -> bool:
    """Whether a passage states the value of `c` anywhere (same kind and unit, either end of a range)."""
    ends = (c.value,) if c.high is None else (c.value, c.high)
    for o in others:
        if family(o) == family(c):
            for x in ends:
                if any(abs(x - y) <= 1e-6 + 0.005 * max(abs(x), abs(y)) for y in (o.value, o.high) if y is not None):
                    return True
    return False


def disagreements(a, b, strict: bool = False, context: tuple[frozenset, frozenset] = (frozenset(), frozenset())
                  ) -> list[tuple[Claim, Claim]]:
    """Claim pairs about the same subject whose values contradict, with no agreeing claim to excuse them.

    `strict`, `context`: see `same_subject`.
    """
    out = []
    for ca in a:
        peers = [cb for cb in b if family(cb) == family(ca) and
                 same_subject(ca, cb, strict=strict, context=context)]
        if not peers or any(compatible(ca, cb) for cb in peers):
            continue
        # A value the other passage also states elsewhere is a different fact, not a changed one:
        # thresholds on a ladder ("over €500 ... over €5,000") agree when both passages name both.
        if _stated(ca, b):
            continue
        peers = [cb for cb in peers if not _stated(cb, a)]
        if not peers:
            continue
        best = max(peers, key=lambda cb: len(ca.words & cb.words))
        out.append((ca, best))
    return out


HEADING_GENERIC = {"what", "how", "why", "who", "policy", "rule", "overview", "faq", "question", "answer", "section",
                   "note", "detail", "general", "about", "step"}


def heading_words(text: str, anchor: str = "") -> frozenset:
    """Content words of a section's heading (its first line when that is a Markdown heading, else its anchor)."""
    first = text.lstrip().split("\n", 1)[0]
    head = first.lstrip("#").strip() if first.startswith("#") else anchor.replace("-", " ")
    return frozenset(w for w in content_words(head) if w not in HEADING_GENERIC)


def same_topic(head_a: frozenset, head_b: frozenset) -> bool:
    """Whether two headings can be about the same thing: one's words contain the other's, or most are shared.

    "Refund window for monthly plans" / "What is the refund window for monthly plans?" and
    "Discount limits for agents" / "Discount limits for support agents" are; "Northwind Plus
    prices" / "Northwind Business prices" are not (each has a qualifier the other lacks).
    """
    if not head_a or not head_b:
        return True
    shared = head_a & head_b
    return shared == head_a or shared == head_b or len(shared) / len(head_a | head_b) >= 0.6
