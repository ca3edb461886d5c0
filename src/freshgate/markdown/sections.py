"""Split a Markdown body into heading-delimited sections with stable anchors."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

MAX_ANCHOR = 200  # leaves room for a "-N" suffix within the 300-character column
MAX_HEADING = 500


@dataclass(frozen=True)
class Section:
    """One heading and the text under it, up to the next heading."""

    anchor: str
    heading: str
    level: int
    position: int
    text: str

    @property
    def text_hash(self) -> str:
        """sha256 of the section text: unchanged text keeps its embedding and verdicts."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def slugify(text: str) -> str:
    """GitHub-style heading anchor: lowercase, punctuation dropped, spaces to hyphens."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text.lower()).strip()
    return re.sub(r"[\s]+", "-", text)[:MAX_ANCHOR].rstrip("-") or "section"


@lru_cache(maxsize=1)
def _parser():
    """The CommonMark parser, built on first use: importing markdown-it costs CLI commands that parse nothing."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark")


def split_sections(body: str, doc_id: str) -> list[Section]:
    """Sections of `body`; text before the first heading becomes the `overview` section."""
    lines = body.splitlines()
    tokens = _parser().parse(body)
    heads: list[tuple[int, int, str]] = []  # (start line, level, heading text)
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.map:
            inline = tokens[i + 1]
            heads.append((tok.map[0], int(tok.tag[1]), inline.content.strip()))
    out: list[Section] = []
    seen: dict[str, int] = {}
    taken: set[str] = set()

    def add(heading: str, level: int, start: int, end: int) -> None:
        text = "\n".join(lines[start:end]).strip()
        if not text:
            return
        base = slugify(heading) if heading else "overview"
        n = seen.get(base, 0)
        anchor = base if n == 0 else f"{base}-{n}"
        while anchor in taken:  # "FAQ", "FAQ", "FAQ 1" must not both become faq-1
            n += 1
            anchor = f"{base}-{n}"
        seen[base] = n + 1
        taken.add(anchor)
        out.append(Section(anchor=anchor, heading=heading[:MAX_HEADING], level=level, position=len(out), text=text))

    first = heads[0][0] if heads else len(lines)
    add("", 0, 0, first)
    for idx, (start, level, heading) in enumerate(heads):
        end = heads[idx + 1][0] if idx + 1 < len(heads) else len(lines)
        # A heading with no body of its own (e.g. an H1 title right above an H2) still
        # yields a section holding just the heading, so every anchor cited resolves.
        add(heading, level, start, end)
    return out


PATH_SEPARATOR = " › "


def heading_paths(title: str, heads: Sequence[tuple[int, str]]) -> list[str]:
    """Per section `(level, heading)` in document order, its path: "Title › Parent heading › Heading"."""
    stack: list[tuple[int, str]] = []
    out: list[str] = []
    for level, heading in heads:
        if level > 0 and heading:
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading))
        names: list[str] = []
        for name in [title] + [h for _, h in stack if level > 0 and heading]:
            name = " ".join(name.split())
            if name and (not names or names[-1].casefold() != name.casefold()):
                names.append(name)
        out.append(PATH_SEPARATOR.join(names))
    return out


def body_of(text: str) -> str:
    """A section's text without its own heading line."""
    lines = text.strip().splitlines()
    if lines and lines[0].lstrip().startswith("#"):
        lines = lines[1:]
    return "\n".join(lines).strip()


def context_texts(title: str, sections: Sequence) -> list[str]:
    """What is embedded and indexed per section (objects with level, heading, position, text):
    the heading path, then the body ("Shipping policy › Standard shipping delivery times\\n5–8 days…")."""
    ordered = sorted(range(len(sections)), key=lambda i: sections[i].position)
    paths = heading_paths(title, [(sections[i].level, sections[i].heading) for i in ordered])
    out = [""] * len(sections)
    for i, path in zip(ordered, paths):
        body = body_of(sections[i].text)
        out[i] = f"{path}\n{body}" if body else path
    return out
