"""How text becomes BM25 terms (lookup/lexical.py indexes them).

Terms: lowercased words, English-stemmed (Snowball), minus a short stop list. Identifiers get
extra `=` terms: words with a digit, upper-case words and hyphenated names ("Sev-1" -> `=sev1`,
"€5,000" -> `=5000`, "GDPR" -> `=gdpr`), and the initials of capitalised phrases ("United
Kingdom" -> `=uk`), so a question naming an identifier finds the sections that contain it.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_PIECE = re.compile(r"\S+")
_CAPS = re.compile(r"\b(?:[A-Z][\w'’]*(?:\s+(?:of|and|for|the|&)\s+|\s+)){1,5}[A-Z][\w'’]*")
STOP = frozenset("""a an and are as at be been but by can could did do does doing for from had has have how i if in
into is it its may me my no not of on or our ours should so than that the their them then there these they this
those to us was we what when where which who whom why will with would you your yours""".split())


def _stemmer():
    try:
        import Stemmer  # PyStemmer (C Snowball)

        return Stemmer.Stemmer("english").stemWords
    except ImportError:  # pragma: no cover - the dependency is declared; plain words still work
        return lambda words: list(words)


_STEM = _stemmer()


def words(text: str) -> list[str]:
    """Stemmed content words of a text, in order."""
    return _STEM([w for w in _WORD.findall(text.lower()) if w not in STOP])


def _compact(piece: str) -> str:
    return re.sub(r"[\W_]+", "", piece.lower())


def identifiers(text: str, *, acronyms: bool = False) -> set[str]:
    """Identifier terms of a text: words with a digit, upper-case or hyphenated words, and (for
    indexed text) the initials of capitalised phrases."""
    out: set[str] = set()
    for piece in _PIECE.findall(text):
        core = piece.strip(".,;:!?()[]{}\"'’“”")
        letters = [c for c in core if c.isalpha()]
        has_digit = any(c.isdigit() for c in core)
        upper = len(letters) >= 2 and all(c.isupper() for c in letters)
        hyphen = "-" in core.strip("-") and any(c.isalpha() for c in core)
        if has_digit or upper or hyphen:
            c = _compact(core)
            if len(c) >= 2 or has_digit:
                out.add(c)
    if acronyms:
        for m in _CAPS.finditer(text):
            caps = [w[0].lower() for w in m.group(0).split() if w[0].isupper()]
            for i in range(len(caps)):
                for j in range(i + 2, len(caps) + 1):
                    out.add("".join(caps[i:j]))
    return out


HEADING_WEIGHT = 2  # a word of the heading path counts as this many occurrences (BM25F-style field weight)


def terms(text: str) -> list[str]:
    """Every term indexed for a context text (heading path on the first line, then the body): its words,
    the path's words `HEADING_WEIGHT` times, plus `=`-prefixed identifiers (with acronyms)."""
    path, _, body = text.partition("\n")
    return (words(path) * HEADING_WEIGHT + words(body)
            + ["=" + t for t in sorted(identifiers(text, acronyms=True))])


def query_terms(query: str) -> tuple[list[str], list[str]]:
    """A question's distinct words and identifier terms."""
    return list(dict.fromkeys(words(query))), ["=" + t for t in sorted(identifiers(query))]
