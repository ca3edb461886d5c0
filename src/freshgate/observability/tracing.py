"""OpenTelemetry traces (off by default): HTTP, SQL and httpx spans plus one guardrail span per lookup.

The lookup span follows the GenAI semantic conventions where they fit: the gate is a guardrail
(`gen_ai.operation.name = apply_guardrail`, decision type allow | warn | deny and a low-cardinality
reason code), with child spans `retrieval` (top_k, data source) and `decision`, and `freshgate.*`
attributes (decision, receipt id, cited states, conflict ids). Query text is never recorded.

When tracing is off nothing is imported and every helper is a no-op context manager.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager, nullcontext
from typing import Any, Iterator

log = logging.getLogger(__name__)

GUARDIAN = "freshgate"
DECISION_TYPE = {"proceed": "allow", "caution": "warn", "stop_and_ask": "deny"}
_state: dict[str, Any] = {"provider": None}


def configure(settings: Any, *, processors: list[Any] | None = None) -> Any:
    """Build this process's tracer provider from `settings.tracing` (None when tracing is off).

    `processors` are added as well (tests pass a SimpleSpanProcessor around an in-memory exporter).
    """
    ts = settings.tracing
    if not ts.enabled:
        _state["provider"] = None
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    from freshgate import __version__

    provider = TracerProvider(resource=Resource.create({"service.name": ts.service_name,
                                                        "service.version": __version__}),
                              sampler=ParentBased(TraceIdRatioBased(ts.sample_ratio)))
    exporter = _exporter(ts)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    for p in processors or []:
        provider.add_span_processor(p)
    _state["provider"] = provider
    return provider


def _exporter(ts: Any) -> Any:
    if ts.exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=ts.endpoint) if ts.endpoint else OTLPSpanExporter()
    if ts.exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    return None


def provider() -> Any:
    """The configured tracer provider, or None when tracing is off."""
    return _state["provider"]


def instrument_app(app: Any) -> None:
    """FastAPI server spans for every request (call before the app starts)."""
    if provider() is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider(), excluded_urls="livez,readyz,metrics")


def instrument_engine(engine: Any) -> None:
    """SQL spans for one SQLAlchemy engine, and httpx client spans (remote fetches, webhooks)."""
    if provider() is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # skip_dep_check: the instrumentation pins sqlalchemy < 2.1 but its event hooks work on 2.1 (tested).
    SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=provider(), enable_commenter=False,
                                        skip_dep_check=True)
    if not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry:
        HTTPXClientInstrumentor().instrument(tracer_provider=provider())


def shutdown() -> None:
    """Flush and stop the exporter."""
    p, _state["provider"] = _state["provider"], None
    if p is not None:
        p.shutdown()


# ---- the lookup's spans ---------------------------------------------------------------------------
@contextmanager
def guardrail(risk: str, top_k: int) -> Iterator[Any]:
    """The span around one lookup (None when tracing is off); finish it with `record_decision`."""
    p = provider()
    if p is None:
        yield None
        return
    tracer = p.get_tracer("freshgate.lookup")
    with tracer.start_as_current_span(f"apply_guardrail {GUARDIAN}", attributes={
        "gen_ai.operation.name": "apply_guardrail", "gen_ai.guardian.name": GUARDIAN,
        "gen_ai.security.target.type": "llm_input", "freshgate.risk": risk, "gen_ai.request.top_k": top_k,
    }) as span:
        yield span


def stage(name: str, **attributes: Any):
    """A child span of the lookup (`retrieval`, `decision`); a no-op when tracing is off."""
    p = provider()
    if p is None:
        return nullcontext()
    return p.get_tracer("freshgate.lookup").start_as_current_span(name, attributes=attributes)


def record_decision(span: Any, decision: Any, citations: list[Any], conflicts: list[dict], receipt_id: str | None,
                    unknown: str | None = None) -> None:
    """Put the answer on the guardrail span: result, reason code, receipt, cited states, conflict ids."""
    if span is None:
        return
    codes = [r.code for r in decision.reasons]
    span.set_attributes({
        "gen_ai.security.decision.type": DECISION_TYPE.get(decision.decision, decision.decision),
        "gen_ai.security.decision.code": codes[0] if codes else "none",
        "freshgate.decision": decision.decision,
        "freshgate.reason": codes[0] if codes else "none",
        "freshgate.reasons": sorted(set(codes)),
        "freshgate.receipt_id": receipt_id or "",
        "freshgate.citations": len(citations),
        "freshgate.cited_states": [c.state for c in citations],
        "freshgate.conflict_ids": [str(c.get("id")) for c in conflicts if c.get("id") is not None],
    })
    if unknown:
        span.set_attribute("freshgate.not_ready", unknown)


def current_ids() -> tuple[str, str]:
    """(trace id, span id) of the current span as hex, or ("", "") outside a recorded span."""
    if provider() is None:
        return "", ""
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return "", ""
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
