"""Front matter (YAML, validated by pydantic) and body of a registry Markdown file."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from freshgate.actions.rules import normalise_tools
from freshgate.markdown.sections import Section, split_sections

DURATION_UNITS = {"d": 1, "w": 7, "m": 30, "y": 365}
_DURATION = re.compile(r"^\s*(-?\d+)\s*([dwmy])\s*$")
_RELATIVE = re.compile(r"^\s*([+-])\s*(\d+)\s*([dwmy])\s*$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,199}$")
DEFAULT_MAX_BYTES = 1_000_000
# A verification dated later than this after `now` is a typo, not a plan.
FUTURE_TOLERANCE = timedelta(days=1)


# libyaml's loader when available: YAML was half of a file's parse time with the pure-Python one.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):
    """SafeLoader that keeps an impossible date (2026-13-45) as text, so the field is named in the error."""


def _timestamp(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


MAX_REASON = 300  # a parse error is one readable line, never the whole hostile input


def load_yaml(text: str) -> Any:
    """Safe YAML without anchors or aliases (`&a` / `*a`): a few hundred bytes of nested aliases expand
    to gigabytes (the "billion laughs"), and registry files never need them."""
    try:
        for token in yaml.scan(text, Loader=_BaseLoader):
            if isinstance(token, (yaml.AliasToken, yaml.AnchorToken)):
                line = token.start_mark.line + 1 if token.start_mark is not None else 0
                raise yaml.YAMLError(f"YAML anchors and aliases (&name / *name) are not allowed in front matter (line {line} of it)")
    except yaml.MarkedYAMLError:
        pass  # the load below reports the syntax error with its position
    return yaml.load(text, Loader=_Loader)


class ParseError(Exception):
    """A registry file could not be read; names the file, the field and what is wrong."""

    def __init__(self, path: str, field: str | None, reason: str) -> None:
        if len(reason) > MAX_REASON:
            reason = reason[:MAX_REASON] + f"… ({len(reason) - MAX_REASON} more characters)"
        self.path, self.field, self.reason = path, field, reason
        where = f"{path}: {field}: " if field else f"{path}: "
        super().__init__(where + reason)


def parse_duration(value: Any) -> int:
    """`30d`, `12w`, `6m`, `1y` (or a bare number of days) -> days; must be positive."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30d, 12w, 6m or 1y")
    if isinstance(value, int):
        days = value
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(f"{value!r} is not a duration like 30d, 12w, 6m or 1y")
        days = int(m.group(1)) * DURATION_UNITS[m.group(2)]
    if days <= 0:
        raise ValueError(f"{value!r} must be a positive duration")
    return days


def format_duration(days: int) -> str:
    """Days -> the shortest exact duration string."""
    for unit, n in (("y", 365), ("m", 30), ("w", 7)):
        if days % n == 0:
            return f"{days // n}{unit}"
    return f"{days}d"


def resolve_when(value: Any, now: datetime) -> datetime | None:
    """A date, datetime or relative offset (`-120d`, `+2w`) -> aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=timezone.utc)
    text = str(value)
    m = _RELATIVE.match(text)
    if m:
        sign = 1 if m.group(1) == "+" else -1
        return now + sign * timedelta(days=int(m.group(2)) * DURATION_UNITS[m.group(3)])
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an offset like -120d") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class OwnerRef(BaseModel):
    """An owner named inline: an id, optionally with a display name and contact."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=200)
    name: str = Field("", max_length=200)
    contact: str = Field("", max_length=300)


class FrontMatter(BaseModel):
    """The registry fields of one Markdown file."""

    model_config = ConfigDict(extra="forbid")

    id: str
    kind: Literal["source", "sop"]
    title: str = Field(min_length=1, max_length=500)
    owner: OwnerRef
    criticality: Literal["low", "medium", "high"] = "medium"
    review_every: int = 90
    last_verified: Any = None
    verified_by: str | None = Field(None, max_length=200)
    expires: Any = None
    updated: Any = None
    tags: list[str] = Field(default_factory=list)
    url: str | None = Field(None, max_length=2000)
    supersedes: str | None = None
    status: Literal["active", "retired"] = "active"
    successor: str | None = None
    lane: Literal["automatic", "approval", "forbidden"] | None = None
    sources: list[str] = Field(default_factory=list)
    # Tool names, or tool rules with conditions, lane, owner, log and rollback (see actions/rules.py).
    tools: list[Any] = Field(default_factory=list)

    @field_validator("id", "supersedes", "successor")
    @classmethod
    def _slug(cls, v: str | None) -> str | None:
        if v is not None and not _SLUG.match(v):
            raise ValueError(f"{v!r} is not a slug (lowercase letters, digits, '.', '_', '-')")
        return v

    @field_validator("sources")
    @classmethod
    def _slugs(cls, v: list[str]) -> list[str]:
        for item in v:
            if not _SLUG.match(item):
                raise ValueError(f"{item!r} is not a slug (lowercase letters, digits, '.', '_', '-')")
        return v

    @field_validator("owner", mode="before")
    @classmethod
    def _owner(cls, v: Any) -> Any:
        if v is None or (isinstance(v, str) and not v.strip()):
            raise ValueError("every document needs an owner")
        return {"id": v.strip()} if isinstance(v, str) else v

    @field_validator("review_every", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> int:
        return parse_duration(v)

    @field_validator("tools", mode="before")
    @classmethod
    def _tools(cls, v: Any) -> list[Any]:
        return normalise_tools(v)

    @field_validator("tags", "sources", mode="before")
    @classmethod
    def _list(cls, v: Any) -> Any:
        if v is None:
            return []
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _kind_rules(self) -> "FrontMatter":
        if self.kind == "sop" and self.lane is None:
            raise ValueError("lane: an SOP card needs a lane (automatic, approval or forbidden)")
        if self.kind == "source" and (self.lane or self.sources):
            raise ValueError("lane: only SOP cards have a lane and sources")
        if self.url is not None and not re.match(r"^https?://", self.url):
            raise ValueError("url: only http and https URLs are allowed")
        return self


@dataclass
class ParsedDocument:
    """A validated front matter with resolved dates, the body and its sections."""

    meta: FrontMatter
    body: str
    content_hash: str
    file_hash: str
    last_verified: datetime | None
    expires: datetime | None
    updated: datetime | None
    sections: list[Section]


def content_hash(text: str) -> str:
    """sha256 of a document body, whitespace-normalised at line ends."""
    norm = "\n".join(line.rstrip() for line in text.strip().splitlines())
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()


def _split_front_matter(text: str) -> tuple[str | None, str]:
    """(front matter, body) when the text opens with a `---` line closed by another `---` line.

    A line scan instead of a full Markdown parse (half the cost of a sync); same rule as
    mdit-py-plugins' front_matter: the fence is three dashes alone on the very first line."""
    lines = text.splitlines()
    if not lines or lines[0].rstrip() != "---":
        return None, text
    for i in range(1, len(lines)):
        if lines[i].rstrip() == "---":
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1:]).strip() + "\n"
    return None, text


def parse_text(text: str, *, path: str, now: datetime, default_kind: str | None = None) -> ParsedDocument:
    """Parse a registry Markdown document; raise ParseError naming path and field."""
    front, body = _split_front_matter(text)
    if front is None:
        raise ParseError(path, None, "missing YAML front matter (a block between '---' lines at the top)")
    try:
        raw = load_yaml(front) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        raise ParseError(path, None, f"front matter is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ParseError(path, None, "front matter must be a mapping of field: value")
    raw = dict(raw)
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    raw.setdefault("id", stem)
    if "kind" not in raw:
        raw["kind"] = "sop" if ("lane" in raw or default_kind == "sop") else (default_kind or "source")
    if "title" not in raw:
        first = next((s.heading for s in split_sections(body, "x") if s.heading), None)
        if first:
            raw["title"] = first
    try:
        meta = FrontMatter.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "extra_forbidden":
            msg = "is not a known field"
        elif err["type"] == "literal_error":
            msg = f"{err.get('input')!r} is not allowed: {msg.lower()}"
        if field is None and ": " in msg:
            field, msg = msg.split(": ", 1)
        raise ParseError(path, field, msg) from None
    resolved: dict[str, datetime | None] = {}
    for name in ("last_verified", "expires", "updated"):
        try:
            resolved[name] = resolve_when(getattr(meta, name), now)
        except ValueError as exc:
            raise ParseError(path, name, str(exc)) from None
    lv = resolved["last_verified"]
    if lv is not None and lv > now + FUTURE_TOLERANCE:
        raise ParseError(path, "last_verified", f"{lv.date().isoformat()} is in the future")
    if not body.strip():
        raise ParseError(path, None, "the document has no content below the front matter")
    return ParsedDocument(
        meta=meta,
        body=body,
        content_hash=content_hash(body),
        file_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        last_verified=resolved["last_verified"],
        expires=resolved["expires"],
        updated=resolved["updated"],
        sections=split_sections(body, meta.id),
    )


def parse_bytes(data: bytes, *, path: str, now: datetime, default_kind: str | None = None,
                max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedDocument:
    """Decode (UTF-8, size-capped) and parse a file's bytes."""
    if len(data) > max_bytes:
        raise ParseError(path, None, f"file is {len(data) / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(path, None, f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    return parse_text(text, path=path, now=now, default_kind=default_kind)
