"""Request bodies are strict: unknown fields are refused (422 naming the field) and no string holds a NUL byte."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

MAX_INT = 2**31 - 1  # ids and versions fit a PostgreSQL integer; larger ones cannot exist

DocId = Annotated[str, Path(min_length=1, max_length=200, description="A document id (slug).")]
OwnerIdPath = Annotated[str, Path(min_length=1, max_length=200, description="An owner (or team) id.")]
IntId = Annotated[int, Path(ge=1, le=MAX_INT, description="A numeric id.")]


def _date_text(value: Any) -> Any:
    """A date-time is ISO 8601 text: a number (pydantic would read it as Unix seconds) is refused, as the spec says."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*", value):
        raise ValueError("must be an ISO 8601 date-time such as 2026-12-01T00:00:00Z")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_date_text)]
"""A date-time given as ISO 8601 text (or a date, read as its midnight), never as a number."""


def _nul_paths(value: Any, where: str = "") -> list[str]:
    if isinstance(value, str):
        return [where or "body"] if "\x00" in value else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nul_paths(v, f"{where}.{k}" if where else str(k))]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in _nul_paths(v, f"{where}.{i}" if where else str(i))]
    return []


NO_NUL = r"^[^\x00]*$"


def _document_no_nul(schema: dict[str, Any], *_: Any) -> None:
    """Say in the OpenAPI document what `_no_nul` enforces: every text field without a pattern gets NO_NUL."""
    def mark(node: Any) -> None:
        if not isinstance(node, dict):
            return
        if node.get("type") == "string" and "pattern" not in node and "enum" not in node and "format" not in node:
            node["pattern"] = NO_NUL
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in node.get(key, []):
                mark(sub)
        mark(node.get("items"))
        if isinstance(node.get("additionalProperties"), dict):
            mark(node["additionalProperties"])

    for prop in schema.get("properties", {}).values():
        mark(prop)


class StrictIn(BaseModel):
    """Base of every request body: extra fields are an error, NUL bytes are refused (and documented so)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_document_no_nul)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        bad = _nul_paths(data)
        if bad:
            raise ValueError(f"text may not contain NUL bytes ({', '.join(bad[:5])})")
        return data
