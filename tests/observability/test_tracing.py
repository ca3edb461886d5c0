"""Traces with an in-memory exporter: the guardrail span per lookup, its children, HTTP/SQL spans, log trace ids."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, text
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from freshgate.app import create_app
from freshgate.observability import logs, tracing
from freshgate.config import Settings
from tests.observability.test_metrics import delta, metered, scrape  # noqa: F401 - metered: a tiny KB


def traced(settings, **overrides) -> InMemorySpanExporter:
    """Tracing on (no network exporter, `overrides` on settings.tracing), finished spans kept in memory."""
    exporter = InMemorySpanExporter()
    settings.tracing.enabled = True
    settings.tracing.exporter = "none"
    for k, v in overrides.items():
        setattr(settings.tracing, k, v)
    tracing.configure(settings, processors=[SimpleSpanProcessor(exporter)])
    return exporter


def sql_spans(exporter) -> list:
    return [s for s in exporter.get_finished_spans() if s.attributes.get("db.system.name")]


@pytest.fixture
def spans(runtime):
    """Tracing on with a span per SQL statement; every finished span kept in memory."""
    runtime.settings.auth.mode = "off"  # these clients carry no key; auth is tested in tests/auth
    yield traced(runtime.settings, sql="all")
    tracing.shutdown()


@pytest.fixture
def sql_off(runtime):
    runtime.settings.auth.mode = "off"
    yield traced(runtime.settings, sql="off")
    tracing.shutdown()


@pytest.fixture
def sampled_out(runtime):
    """Tracing on with sample_ratio 0 (configured before the `metered` client's app is built)."""
    yield traced(runtime.settings, sample_ratio=0.0, sql="all")
    tracing.shutdown()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_lookup_makes_a_guardrail_span_with_children(spans, metered, runtime, database_url):
    with TestClient(create_app(runtime=runtime)) as http:
        spans.clear()
        r = http.post("/v1/lookup", json={"query": "walrus feeding bucket schedule", "risk": "low"})
        assert r.status_code == 200 and r.json()["decision"] == "caution"
        receipt = r.json()["receipt_id"]
    finished = spans.get_finished_spans()
    guard = [s for s in finished if s.attributes.get("gen_ai.operation.name") == "apply_guardrail"]
    assert len(guard) == 1
    g = guard[0]
    assert g.name == "apply_guardrail freshgate"
    assert g.attributes["gen_ai.security.decision.type"] == "warn"
    assert g.attributes["freshgate.decision"] == "caution"
    assert g.attributes["freshgate.reason"] == "stale"
    assert g.attributes["freshgate.receipt_id"] == receipt
    assert list(g.attributes["freshgate.cited_states"]) == ["stale"]
    assert "walrus" not in json.dumps({k: str(v) for k, v in g.attributes.items()})  # no query text
    children = {s.name: s for s in finished if s.parent is not None and s.parent.span_id == g.context.span_id}
    assert {"retrieval", "decision"} <= set(children)
    assert children["retrieval"].attributes["gen_ai.request.top_k"] == 5
    assert children["retrieval"].attributes["gen_ai.data_source.id"] == "freshgate-registry"
    # the guardrail span sits inside the HTTP server span, and SQL statements are traced too
    server = [s for s in finished if s.context.span_id == g.parent.span_id]
    assert server and server[0].kind.name == "SERVER"
    assert server[0].name == "POST /v1/lookup" and server[0].attributes["http.route"] == "/v1/lookup"
    assert server[0].attributes["http.response.status_code"] == 200
    assert not [s for s in finished if s.name.endswith(("http receive", "http send"))]
    sql = sql_spans(spans)
    assert sql and all(s.kind.name == "CLIENT" and s.attributes["db.system.name"] == "sqlite" for s in sql)
    assert any(s.parent is not None and s.parent.span_id in {c.context.span_id for c in children.values()}
               for s in sql)  # the lookup's statements sit under its stages
    assert "walrus" not in json.dumps([dict(s.attributes) for s in sql])  # statements are parameterised
    assert all(s.context.trace_id == g.context.trace_id for s in children.values())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_stop_and_ask_maps_to_deny(spans, metered, runtime, database_url):
    with TestClient(create_app(runtime=runtime)) as http:
        spans.clear()
        http.post("/v1/lookup", json={"query": "flamingo vault opening steps"})
    g = next(s for s in spans.get_finished_spans() if s.attributes.get("gen_ai.operation.name") == "apply_guardrail")
    assert g.attributes["gen_ai.security.decision.type"] == "deny"
    assert g.attributes["freshgate.reason"] == "forbidden_lane"


def test_log_lines_carry_the_trace_id_as_json(spans, runtime):
    runtime.settings.logging.format = "json"
    buf = io.StringIO()
    h = logs.handler("json", buf)
    log = logging.getLogger("freshgate.test.tracing")
    log.addHandler(h)
    log.setLevel(logging.INFO)
    try:
        with tracing.guardrail("low", 5) as span:
            log.info("inside")
        log.info("outside")
    finally:
        log.removeHandler(h)
    inside, outside = (json.loads(line) for line in buf.getvalue().splitlines())
    assert inside["message"] == "inside" and inside["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert "trace_id" not in outside


def test_an_exception_inside_a_stage_marks_both_spans_as_errors_and_restores_the_context(spans, runtime):
    from opentelemetry import trace

    with pytest.raises(RuntimeError):
        with tracing.guardrail("low", 5):
            with tracing.stage("retrieval", {"gen_ai.request.top_k": 5}):
                raise RuntimeError("index gone")
    assert not trace.get_current_span().get_span_context().is_valid  # nothing left attached
    by_name = {s.name: s for s in spans.get_finished_spans() if not s.attributes.get("db.system.name")}
    retrieval, guard = by_name["retrieval"], by_name["apply_guardrail freshgate"]
    assert retrieval.parent.span_id == guard.context.span_id
    assert retrieval.attributes["gen_ai.request.top_k"] == 5
    for sp in (retrieval, guard):
        assert sp.status.status_code.name == "ERROR" and "index gone" in sp.status.description
    assert [e.name for e in retrieval.events] == ["exception"]


def test_tracing_off_records_nothing_and_costs_no_import(tmp_path):
    import subprocess
    import sys

    code = ("import sys\nfrom freshgate.observability import tracing\n"
            "with tracing.guardrail('low', 5) as s:\n    assert s is None\n"
            "with tracing.stage('retrieval'):\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sql_off_records_no_sql_spans(sql_off, metered, runtime, database_url):
    with TestClient(create_app(runtime=runtime)) as http:
        sql_off.clear()
        assert http.post("/v1/lookup", json={"query": "walrus feeding bucket schedule"}).status_code == 200
    finished = sql_off.get_finished_spans()
    assert any(s.attributes.get("gen_ai.operation.name") == "apply_guardrail" for s in finished)
    assert sql_spans(sql_off) == []


def test_sql_slow_records_only_slow_statements_with_their_real_duration(tmp_path):
    """A statement that sleeps 300 ms in SQLite is recorded, with start and end around it; a quick one is not."""
    engine = create_engine(f"sqlite:///{tmp_path / 'slow.db'}")
    event.listen(engine, "connect", lambda conn, _: conn.create_function(
        "fg_sleep", 1, lambda ms: time.sleep(ms / 1000) or 1))
    exporter = traced(Settings(), sql="slow", sql_slow_ms=150)
    try:
        tracing.instrument_engine(engine)
        with tracing.guardrail("low", 5) as guard, engine.connect() as conn:
            conn.execute(text("SELECT 1")).all()
            t0 = time.time_ns()
            conn.execute(text("SELECT fg_sleep(300)")).all()
            t1 = time.time_ns()
    finally:
        tracing.shutdown()
        engine.dispose()
    (span,) = sql_spans(exporter)
    assert span.attributes["db.query.text"] == "SELECT fg_sleep(300)"
    assert span.name == "SELECT sqlite"
    assert t0 <= span.start_time and span.end_time <= t1
    assert span.end_time - span.start_time >= 300_000_000
    assert span.parent.span_id == guard.get_span_context().span_id


def test_a_failed_statement_is_recorded_even_when_quick(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'err.db'}")
    exporter = traced(Settings(), sql="slow", sql_slow_ms=60_000)
    try:
        tracing.instrument_engine(engine)
        with engine.connect() as conn, pytest.raises(Exception):
            conn.execute(text("SELECT * FROM no_such_table"))
    finally:
        tracing.shutdown()
        engine.dispose()
    (span,) = sql_spans(exporter)
    assert span.status.status_code.name == "ERROR" and span.attributes["error.type"] == "OperationalError"


def test_after_shutdown_statements_are_no_longer_timed(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'off.db'}")
    exporter = traced(Settings(), sql="all")
    tracing.instrument_engine(engine)
    tracing.shutdown()
    with engine.connect() as conn:
        conn.execute(text("SELECT 1")).all()
    engine.dispose()
    assert sql_spans(exporter) == []
    assert not event.contains(engine, "after_cursor_execute", engine._freshgate_sql_listeners[1])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sample_ratio_zero_records_no_spans_but_metrics_still_count(sampled_out, metered, database_url):
    before = scrape(metered)
    sampled_out.clear()
    for _ in range(3):
        r = metered.post("/v1/lookup", json={"query": "walrus feeding bucket schedule"})
        assert r.status_code == 200 and r.json()["decision"] == "caution"
    after = scrape(metered)
    assert sampled_out.get_finished_spans() == ()
    assert delta(after, before, "freshgate_lookups_total", decision="caution", lane="none") == 3


def test_file_exporter_writes_otlp_json_lines(tmp_path):
    s = Settings()
    s.tracing.enabled, s.tracing.exporter, s.tracing.file = True, "file", str(tmp_path / "spans.jsonl")
    tracing.configure(s)
    with tracing.guardrail("low", 5):
        with tracing.stage("retrieval"):
            pass
    tracing.shutdown()  # flushes the batch
    (line,) = (tmp_path / "spans.jsonl").read_text().splitlines()
    names = {sp["name"] for rs in json.loads(line)["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]}
    assert names == {"apply_guardrail freshgate", "retrieval"}


def test_a_full_batch_is_exported_without_waiting_for_the_delay(tmp_path):
    import time

    s = Settings()
    s.tracing.enabled, s.tracing.exporter, s.tracing.file = True, "file", str(tmp_path / "spans.jsonl")
    s.tracing.batch_size, s.tracing.batch_delay_ms = 2, 600_000  # ten minutes: only a full batch goes out
    tracing.configure(s)
    try:
        with tracing.guardrail("low", 5):
            with tracing.stage("retrieval"):
                pass
        out, deadline = tmp_path / "spans.jsonl", time.monotonic() + 10
        while not (out.exists() and out.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
        (line,) = out.read_text().splitlines()
        assert sum(len(ss["spans"]) for rs in json.loads(line)["resourceSpans"] for ss in rs["scopeSpans"]) == 2
    finally:
        tracing.shutdown()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_server_span_joins_the_callers_trace_and_skips_health_routes(spans, metered, runtime, database_url):
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with TestClient(create_app(runtime=runtime)) as http:
        spans.clear()
        assert http.get("/livez").status_code == 200
        # no span of the request (background pollers' SQL may still be recorded with sql = all)
        assert [s for s in spans.get_finished_spans() if not s.attributes.get("db.system.name")] == []
        r = http.post("/v1/lookup", json={"query": "walrus feeding bucket schedule"},
                      headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
        assert r.status_code == 200
        assert http.post("/v1/lookup", json={}).status_code == 422
    server = [s for s in spans.get_finished_spans() if s.kind.name == "SERVER"]
    assert len(server) == 2
    joined, invalid = server
    assert format(joined.context.trace_id, "032x") == trace_id and format(joined.parent.span_id, "016x") == parent_id
    assert invalid.attributes["http.response.status_code"] == 422
    assert invalid.context.trace_id != joined.context.trace_id  # no traceparent: a trace of its own
