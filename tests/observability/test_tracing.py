"""Traces with an in-memory exporter: the guardrail span per lookup, its children, HTTP/SQL spans, log trace ids."""

from __future__ import annotations

import io
import json
import logging

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from freshgate.app import create_app
from freshgate.observability import logs, tracing
from tests.observability.test_metrics import metered  # noqa: F401 - fixture: a tiny KB with known decisions


@pytest.fixture
def spans(runtime):
    """Tracing on (no network exporter) with every finished span kept in memory."""
    exporter = InMemorySpanExporter()
    runtime.settings.tracing.enabled = True
    runtime.settings.tracing.exporter = "none"
    runtime.settings.auth.mode = "off"  # these clients carry no key; auth is tested in tests/auth
    tracing.configure(runtime.settings, processors=[SimpleSpanProcessor(exporter)])
    yield exporter
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
    assert any(s.attributes.get("db.system") or s.attributes.get("db.system.name") for s in finished)
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


def test_tracing_off_records_nothing_and_costs_no_import(tmp_path):
    import subprocess
    import sys

    code = ("import sys\nfrom freshgate.observability import tracing\n"
            "with tracing.guardrail('low', 5) as s:\n    assert s is None\n"
            "with tracing.stage('retrieval'):\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
