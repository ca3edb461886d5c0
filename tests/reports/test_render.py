"""Every output format of the review list, the 8-week chart from recorded transitions, the API and the CLI."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from freshgate.freshness.jobs import sweep
from freshgate.reports.render import CSV_COLUMNS, render
from freshgate.reports.service import build_review
from freshgate.reports.signals import Signals
from tests.conftest import NOW
from tests.reports.helpers import states_kb, sync_at


@pytest.fixture
def swept(runtime, tmp_path):
    """The states knowledge base, swept weekly for three weeks and now (recorded transitions)."""
    sync_at(runtime, states_kb(tmp_path / "kb"))
    for days in (21, 14, 7, 0):
        sweep(runtime, NOW - timedelta(days=days))
    return runtime


def _report(rt):
    with Session(rt.engine) as s:
        return build_review(s, rt.registry_ctx.rules, Signals(reliance={"refunds": (12, 3)}), NOW)


def test_week_ago_counts_and_chart_come_from_recorded_transitions(swept):
    rep = _report(swept)
    assert [at for at, _ in rep.weeks] == [NOW - timedelta(days=d) for d in (21, 14, 7, 0)]
    # refunds expired 3 days ago: a week ago it was only due (expires soon)
    assert rep.week_ago["expired"] == 0 and rep.state_counts["expired"] == 1
    assert rep.to_dict()["summary"]["change"]["expired"] == 1
    assert sum(rep.week_ago.values()) == sum(rep.state_counts.values())


def test_html_opens_with_summary_and_inline_svg_chart(swept):
    page = render(_report(swept), "html")
    assert page.index('id="summary"') < page.index("<svg") < page.index('class="owner"')
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    svg = page[page.index("<svg"): page.index("</svg>") + 6]
    root = ET.fromstring(svg)  # well-formed SVG
    bars = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title") if t.text and ": " in t.text]
    assert any(b.startswith(f"{NOW:%Y-%m-%d} expired: 1") for b in bars)
    assert any(b.startswith(f"{NOW - timedelta(days=21):%Y-%m-%d}") for b in bars)
    assert "refunds" in page and "update" in page and "transfer" in page


def test_markdown_has_summary_block_chart_mermaid_and_owner_sections(swept):
    md = render(_report(swept), "md")
    assert md.startswith("# Freshgate review")
    assert "| expired | 1 | 0 | +1 |" in md
    chart = md[md.index("```text"): md.index("```", md.index("```text") + 3)]
    assert chart.count("\n") == 1 + 1 + 4 and "█" in chart  # header + 4 weekly lines
    assert "xychart-beta" in md and "## Ann Lee (ann)" in md and "**transfer**" in md


def test_csv_and_json_parse_and_keep_the_risk_order(swept):
    rep = _report(swept)
    rows = list(csv.DictReader(io.StringIO(render(rep, "csv"))))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert [r["document_id"] for r in rows if r["document_id"]] == [i.document_id for i in rep.items]
    assert rows[0]["document_id"] == "refunds" and rows[0]["lookups"] == "12" and rows[0]["action"] == "update"
    data = json.loads(render(rep, "json"))
    assert [i["document_id"] for i in data["items"]] == [i.document_id for i in rep.items]
    assert data["summary"]["state_counts"]["stale"] == 2 and len(data["history"]) == 4


def test_table_lists_every_row(swept):
    text = render(_report(swept), "table")
    assert text.splitlines()[0].startswith("6 items need a human (3 owners)")
    for doc_id in ("refunds", "pricing", "carriers", "use-pricing", "lunch-menu", "ancient"):
        assert doc_id in text


def test_api_review_json_filters_and_formats(runtime, client, tmp_path):
    sync_at(runtime, states_kb(tmp_path / "kb"))
    body = client.get("/v1/review").json()
    assert {i["document_id"] for i in body["items"]} >= {"refunds", "pricing", "carriers"}
    ann = client.get("/v1/review", params={"owner": "ann"}).json()
    assert {i["owner"] for i in ann["items"]} == {"ann"}
    r = client.get("/v1/review", params={"format": "csv", "state": "orphaned"})
    assert r.headers["content-type"].startswith("text/csv")
    assert [row["document_id"] for row in csv.DictReader(io.StringIO(r.text))] == ["carriers"]
    bad = client.get("/v1/review", params={"state": "sparkling"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def test_cli_review_markdown_from_example_kb(database_url, kb, tmp_path, monkeypatch):
    from freshgate.app import build_runtime
    from freshgate.cli import app
    from tests.conftest import make_settings

    monkeypatch.setenv("FRESHGATE_EMBEDDING__ENABLED", "false")
    runner = CliRunner()
    res = runner.invoke(app, ["--database-url", database_url, "sync", str(kb / "sources"), str(kb / "sop_cards")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["--database-url", database_url, "review", "--format", "md"])
    assert res.exit_code == 0, res.output
    assert "| state | now | a week ago | change |" in res.output and "xychart-beta" in res.output
    assert "winter-promotion" in res.output and "**update**" in res.output  # the expired price list
    rt = build_runtime(make_settings(database_url))
    try:
        sweep(rt, rt.registry_ctx.clock())
    finally:
        rt.close()
    out = tmp_path / "review.html"
    res = runner.invoke(app, ["--database-url", database_url, "review", "--format", "html", "--out", str(out)])
    assert res.exit_code == 0 and "<svg" in out.read_text() and "lost-parcel-claims" in out.read_text()


def test_api_pages_the_rows_in_risk_order(runtime, client, tmp_path):
    sync_at(runtime, states_kb(tmp_path / "kb"))
    full = client.get("/v1/review").json()
    order = [i["document_id"] for i in full["items"]]
    assert full["total_items"] == len(order) >= 6 and full["offset"] == 0
    first = client.get("/v1/review", params={"limit": 2}).json()
    rest = client.get("/v1/review", params={"limit": 100, "offset": 2}).json()
    assert [i["document_id"] for i in first["items"]] == order[:2]
    assert [i["document_id"] for i in rest["items"]] == order[2:]
    assert (first["total_items"], rest["total_items"], rest["offset"]) == (len(order), len(order), 2)
    assert first["summary"]["state_counts"] == full["summary"]["state_counts"]  # the summary is the whole list's
    assert {i for g in first["groups"] for i in g["items"]} == set(order[:2])
    csv_page = client.get("/v1/review", params={"format": "csv", "limit": 1, "offset": 1}).text
    assert [r["document_id"] for r in csv.DictReader(io.StringIO(csv_page))] == order[1:2]
    assert client.get("/v1/review", params={"limit": 0}).status_code == 422
