"""Front matter validation, durations, relative dates, sections and anchors, error messages."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from freshgate.markdown.parse import (
    FrontMatter, ParseError, format_duration, parse_bytes, parse_duration, parse_text, resolve_when,
)
from freshgate.markdown.sections import slugify, split_sections

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
PATH = "kb/sources/refund-policy.md"
GOOD = """---
id: refund-policy
title: Refund policy
owner: dana.kim
criticality: high
review_every: 90d
last_verified: 2026-11-01
verified_by: dana.kim
expires: +30d
tags: [billing, refunds]
---
# Refund policy

Intro text.

## Refund window

30 days.

## Exceptions

None.
"""


def doc(front: str, body: str = "# T\n\nText.\n") -> str:
    return f"---\n{front.strip()}\n---\n{body}"


def parse_error(text: str, path: str = PATH, **kw) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_text(text, path=path, now=NOW, **kw)
    return info.value


# ---- durations -----------------------------------------------------------------------
@pytest.mark.parametrize("value,days", [("30d", 30), ("12w", 84), ("6m", 180), ("1y", 365), (" 45d ", 45), (30, 30)])
def test_valid_durations(value, days):
    assert parse_duration(value) == days


@pytest.mark.parametrize("value,why", [("-5d", "positive"), ("0d", "positive"), (0, "positive"), (-3, "positive"),
                                       ("soon", "not a duration"), ("30", "not a duration"), ("3x", "not a duration"),
                                       ("1.5y", "not a duration"), (True, "duration"), ("", "not a duration")])
def test_invalid_durations(value, why):
    with pytest.raises(ValueError, match=why):
        parse_duration(value)


@pytest.mark.parametrize("days,text", [(365, "1y"), (180, "6m"), (84, "12w"), (45, "45d"), (730, "2y")])
def test_format_duration_round_trips(days, text):
    assert format_duration(days) == text
    assert parse_duration(format_duration(days)) == days


# ---- dates -----------------------------------------------------------------------------
def test_relative_and_absolute_dates():
    assert resolve_when("-120d", NOW) == NOW - timedelta(days=120)
    assert resolve_when("+2w", NOW) == NOW + timedelta(days=14)
    assert resolve_when("-1y", NOW) == NOW - timedelta(days=365)
    assert resolve_when(date(2026, 1, 2), NOW) == datetime(2026, 1, 2, tzinfo=timezone.utc)
    assert resolve_when("2026-01-02T10:00:00+02:00", NOW) == datetime(2026, 1, 2, 8, tzinfo=timezone.utc)
    assert resolve_when(None, NOW) is None and resolve_when("", NOW) is None
    with pytest.raises(ValueError, match="not a date"):
        resolve_when("last tuesday", NOW)


def test_good_document_parses_with_resolved_dates_and_sections():
    p = parse_text(GOOD, path=PATH, now=NOW)
    assert p.meta.id == "refund-policy" and p.meta.kind == "source" and p.meta.review_every == 90
    assert p.last_verified == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert p.expires == NOW + timedelta(days=30)
    assert [s.anchor for s in p.sections] == ["refund-policy", "refund-window", "exceptions"]
    assert p.body.startswith("# Refund policy") and "review_every" not in p.body


def test_defaults_id_from_file_name_kind_from_folder_and_title_from_heading():
    p = parse_text(doc("owner: ops\nlane: approval", "# Reship an item\n\nDo it.\n"),
                   path="kb/sop_cards/reship-item.md", now=NOW, default_kind="sop")
    assert (p.meta.id, p.meta.kind, p.meta.title, p.meta.lane) == ("reship-item", "sop", "Reship an item", "approval")


def test_content_hash_ignores_trailing_whitespace_but_not_text():
    a = parse_text(doc("owner: x\ntitle: T"), path="a.md", now=NOW)
    b = parse_text(doc("owner: x\ntitle: T", "# T   \n\nText.\n\n\n"), path="a.md", now=NOW)
    c = parse_text(doc("owner: x\ntitle: T", "# T\n\nOther text.\n"), path="a.md", now=NOW)
    assert a.content_hash == b.content_hash != c.content_hash


# ---- errors name the file, the field and what is wrong ----------------------------------
BAD = [
    ("negative duration", "owner: x\nreview_every: -30d", "review_every", "positive"),
    ("zero duration", "owner: x\nreview_every: 0d", "review_every", "positive"),
    ("garbage duration", "owner: x\nreview_every: fortnightly", "review_every", "not a duration"),
    ("unknown lane", "owner: x\nkind: sop\nlane: yolo", "lane", "'yolo' is not allowed"),
    ("sop without lane", "owner: x\nkind: sop", "lane", "needs a lane"),
    ("lane on a source", "owner: x\nkind: source\nlane: automatic", "lane", "only SOP cards"),
    ("unknown criticality", "owner: x\ncriticality: extreme", "criticality", "'extreme' is not allowed"),
    ("missing owner", "title: T", "owner", "is required"),
    ("empty owner", "owner: ''", "owner", "needs an owner"),
    ("unknown field", "owner: x\nreviewer: bob", "reviewer", "not a known field"),
    ("bad date", "owner: x\nlast_verified: 2026-13-45", "last_verified", "not a date"),
    ("bad relative date", "owner: x\nexpires: in a while", "expires", "not a date"),
    ("id not a slug", "owner: x\nid: Refund Policy", "id", "not a slug"),
    ("successor not a slug", "owner: x\nsuccessor: Not A Slug", "successor", "not a slug"),
    ("source id not a slug", "owner: x\nkind: sop\nlane: approval\nsources: [ok, Not Ok]", "sources", "not a slug"),
    ("bad url scheme", "owner: x\nurl: ftp://example.com/x", "url", "http"),
    ("bad status", "owner: x\nstatus: archived", "status", "'archived' is not allowed"),
    ("future verification", "owner: x\nlast_verified: +10d", "last_verified", "future"),
    ("overlong verified_by", "owner: x\nverified_by: " + "v" * 300, "verified_by", "at most"),
]


@pytest.mark.parametrize("name,front,field,why", BAD, ids=[b[0] for b in BAD])
def test_error_names_file_field_and_reason(name, front, field, why):
    e = parse_error(doc(front))
    assert e.path == PATH
    assert e.field is not None and e.field.split(".")[0] == field
    assert why in e.reason
    assert str(e).startswith(f"{PATH}: {field}")


def test_bad_yaml_names_file_and_line():
    e = parse_error("---\nid: x\nowner: [unclosed\n---\n# T\n\ntext\n")
    assert e.path == PATH and "not valid YAML" in e.reason and "line" in e.reason
    assert str(e).startswith(PATH)


def test_missing_front_matter_empty_body_and_non_mapping():
    assert "missing YAML front matter" in parse_error("# Just a heading\n\ntext\n").reason
    assert "no content" in parse_error(doc("owner: x\ntitle: T", "\n\n")).reason
    assert "mapping" in parse_error("---\n- a\n- b\n---\n# T\n\ntext\n").reason


def test_non_utf8_and_oversized_bytes():
    with pytest.raises(ParseError, match=r"kb/x\.md: not valid UTF-8 \(byte 0xff at offset"):
        parse_bytes(b"---\nowner: x\n---\n# T\n\n\xff\xfe bad\n", path="kb/x.md", now=NOW)
    with pytest.raises(ParseError, match=r"kb/big\.md: file is 2\.0 MB, over the 1\.0 MB limit"):
        parse_bytes(b"x" * 2_000_000, path="kb/big.md", now=NOW)
    ok = parse_bytes(("\ufeff" + doc("owner: x\ntitle: T")).encode("utf-8"), path="bom.md", now=NOW)
    assert ok.meta.owner.id == "x"


def test_front_matter_model_is_strict_about_unknown_fields():
    with pytest.raises(Exception):
        FrontMatter.model_validate({"id": "a", "kind": "source", "title": "t", "owner": "o", "color": "red"})


# ---- sections and anchors -------------------------------------------------------------------
def test_sections_split_on_headings_with_overview_first():
    body = "Lead paragraph.\n\n# Title\n\n## Step one\n\nDo A.\n\n### Detail\n\nMore.\n\n## Step two\n\nDo B.\n"
    secs = split_sections(body, "d")
    assert [(s.anchor, s.level, s.position) for s in secs] == [
        ("overview", 0, 0), ("title", 1, 1), ("step-one", 2, 2), ("detail", 3, 3), ("step-two", 2, 4)]
    assert secs[0].text == "Lead paragraph."
    assert secs[2].text == "## Step one\n\nDo A."
    assert "Do B." in secs[4].text and "Do A." not in secs[4].text


def test_duplicate_headings_get_numbered_anchors_and_never_collide():
    body = "## FAQ\n\na\n\n## FAQ\n\nb\n\n## FAQ\n\nc\n\n## FAQ 1\n\nd\n"
    anchors = [s.anchor for s in split_sections(body, "d")]
    assert anchors[:3] == ["faq", "faq-1", "faq-2"]
    assert len(set(anchors)) == len(anchors) == 4


def test_anchors_are_stable_across_unrelated_edits():
    before = split_sections("## Refund window\n\n30 days.\n\n## Exceptions\n\nNone.\n", "d")
    after = split_sections("## Refund window\n\n14 days.\n\n## Exceptions\n\nNone at all.\n", "d")
    assert [s.anchor for s in before] == [s.anchor for s in after]
    assert before[0].text_hash != after[0].text_hash


def test_headings_in_code_blocks_are_not_sections():
    body = "## Real\n\n```\n# not a heading\n```\n"
    assert [s.anchor for s in split_sections(body, "d")] == ["real"]


def test_slugify_github_style_and_long_headings_are_bounded():
    assert slugify("Refunds over €5,000 (EU)") == "refunds-over-5000-eu"
    assert slugify("Café: opening hours!") == "cafe-opening-hours"
    assert slugify("!!!") == "section"
    secs = split_sections("## " + "word " * 200 + "\n\ntext\n", "d")
    assert len(secs[0].anchor) <= 200
