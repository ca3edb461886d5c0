"""OpenTelemetry traces (off by default): HTTP, SQL and httpx spans plus one guardrail span per lookup.

The lookup span follows the GenAI semantic conventions where they fit: the gate is a guardrail
(`gen_ai.operation.name = apply_guardrail`, decision type allow | warn | deny and a low-cardinality
reason code), with child spans `retrieval` (top_k, data source) and `decision`, and `freshgate.*`
attributes (decision, receipt id, cited states, conflict ids). Query text is never recorded.

What it costs (issue 13: <= 3 % on lookup p50), and so what is left out by default:
- SQL statements become spans only when slow (`tracing.sql = slow`, `tracing.sql_slow_ms`): the statement
  is timed and, past the threshold, recorded after the fact with its real start and end times. A span per
  statement (`sql = all`) is for debugging; `off` records none.
- HTTP server spans from a lean middleware (ServerSpans): no ASGI `receive` / `send` sub-spans, no route
  matching before the sampler has decided.
- One tracer per provider, made when tracing is configured, never per request.
- Spans go through a BatchSpanProcessor (exported off the request path; `batch_size`, `batch_delay_ms`);
  the head sampler
  (`sample_ratio`, parent-based) is what keeps the cost down in production.

When tracing is off nothing is imported and every helper is a no-op context manager.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from typing import Any

log = logging.getLogger(__name__)

GUARDIAN = "freshgate"
DECISION_TYPE = {"proceed": "allow", "caution": "warn", "stop_and_ask": "deny"}
SQL_TEXT_LIMIT = 2000  # characters of a statement kept on its span (parameterised SQL: no values)
# provider and its one tracer; how SQL statements are traced (read at each statement, so a swap is cheap)
_state: dict[str, Any] = {"provider": None, "tracer": None, "sql": "off", "sql_slow_ns": 25_000_000}
_engines: list[Any] = []  # engines whose statements we time (listeners removed on shutdown)


class _Otel:
    """The OpenTelemetry API functions the request path calls, bound once when tracing is configured."""

    def bind(self) -> None:
        from opentelemetry.context import attach, detach
        from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

        self.attach, self.detach, self.set_span_in_context = attach, detach, set_span_in_context
        self.Status, self.ERROR, self.SERVER = Status, StatusCode.ERROR, SpanKind.SERVER


_otel = _Otel()


def configure(settings: Any, *, processors: list[Any] | None = None) -> Any:
    """Build this process's tracer provider from `settings.tracing` (None when tracing is off).

    `processors` are added as well (tests pass a SimpleSpanProcessor around an in-memory exporter).
    """
    ts = settings.tracing
    if not ts.enabled:
        _state.update(provider=None, tracer=None)
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    from freshgate import __version__

    _otel.bind()
    provider = TracerProvider(resource=Resource.create({"service.name": ts.service_name,
                                                        "service.version": __version__}),
                              sampler=ParentBased(TraceIdRatioBased(ts.sample_ratio)))
    exporter = _exporter(ts)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=ts.batch_size,
                                                       schedule_delay_millis=ts.batch_delay_ms))  # None: SDK/env
    for p in processors or []:
        provider.add_span_processor(p)
    _state.update(provider=provider, tracer=provider.get_tracer("freshgate"), sql=ts.sql,
                  sql_slow_ns=int(ts.sql_slow_ms * 1_000_000))
    return provider


def _exporter(ts: Any) -> Any:
    if ts.exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=ts.endpoint) if ts.endpoint else OTLPSpanExporter()
    if ts.exporter == "file":
        from freshgate.observability.span_file import FileSpanExporter

        return FileSpanExporter(ts.file)
    if ts.exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    return None


def provider() -> Any:
    """The configured tracer provider, or None when tracing is off."""
    return _state["provider"]


def instrument_app(app: Any) -> None:
    """A SERVER span per HTTP request (call before the app starts), health and metrics routes left out."""
    if provider() is None:
        return
    app.add_middleware(ServerSpans, tracer=_state["tracer"])


EXCLUDED_PATHS = frozenset({"/livez", "/readyz", "/metrics"})


class ServerSpans:
    """ASGI middleware: one SERVER span per HTTP request, named `METHOD /route/{template}`.

    Leaner than OpenTelemetry's FastAPI instrumentation, which matches every request against every route
    to name its span and measures HTTP metrics (Prometheus does that here) before the sampler has spoken:
    ~0.2 ms a request even when the trace is not sampled. Here the route is read from the scope after
    routing, and an unsampled request costs a context switch. W3C `traceparent` from the caller is honoured.
    """

    def __init__(self, app: Any, tracer: Any) -> None:
        from opentelemetry import propagate

        self.app, self.tracer, self._extract = app, tracer, propagate.extract

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in EXCLUDED_PATHS:
            return await self.app(scope, receive, send)
        carrier = None
        for k, v in scope["headers"]:
            if k in (b"traceparent", b"tracestate"):
                carrier = carrier or {}
                carrier[k.decode()] = v.decode("latin-1")
        method = scope["method"]
        span = self.tracer.start_span(method, context=self._extract(carrier) if carrier else None, kind=_otel.SERVER)
        token = _otel.attach(_otel.set_span_in_context(span))
        try:
            if not span.is_recording():
                return await self.app(scope, receive, send)
            status = 500

            async def send_status(message):
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, send_status)
            except BaseException as exc:
                span.set_attribute("error.type", type(exc).__name__)
                raise
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{method} {route}")
                span.set_attributes({"http.request.method": method, "url.path": scope["path"],
                                     "url.scheme": scope.get("scheme", "http"), "http.response.status_code": status,
                                     **({"http.route": route} if route else {})})
                if status >= 500:
                    span.set_status(_otel.Status(_otel.ERROR))
        finally:
            _otel.detach(token)
            span.end()


def instrument_engine(engine: Any) -> None:
    """SQL spans for one SQLAlchemy engine (as `tracing.sql` says), and httpx client spans (remote fetches,
    webhooks)."""
    if provider() is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from sqlalchemy import event

    if not any(e is engine for e in _engines):
        before, after, failed = _sql_listeners()
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        event.listen(engine, "handle_error", failed)
        engine._freshgate_sql_listeners = (before, after, failed)
        _engines.append(engine)
    if not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry:
        HTTPXClientInstrumentor().instrument(tracer_provider=provider())


def _sql_listeners():
    """before / after / error hooks that time each statement and record a span when `sql` asks for it."""
    from opentelemetry.trace import SpanKind, Status, StatusCode, get_current_span

    def before(conn, cursor, statement, parameters, context, executemany):
        # only a clock read per statement: whether the trace is sampled is asked of the few worth a span
        if context is not None and _state["tracer"] is not None and _state["sql"] != "off":
            context._freshgate_t0 = time.time_ns()

    def record(dialect, statement, context, start, end, error=None):
        tracer = _state["tracer"]
        if tracer is None:
            return
        ctx = get_current_span().get_span_context()
        if ctx.is_valid and not ctx.trace_flags.sampled:
            return  # inside a trace the sampler dropped: its SQL spans would be dropped too
        op = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        span = tracer.start_span(f"{op} {dialect}", kind=SpanKind.CLIENT, start_time=start, attributes={
            "db.system.name": dialect, "db.operation.name": op, "db.query.text": statement[:SQL_TEXT_LIMIT],
            "freshgate.sql.executemany": bool(getattr(context, "executemany", False)),
        })
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.set_attribute("error.type", type(error).__name__)
        span.end(end_time=end)

    def after(conn, cursor, statement, parameters, context, executemany):
        start = getattr(context, "_freshgate_t0", None)
        if start is None:
            return
        context._freshgate_t0 = None
        end = time.time_ns()
        if _state["sql"] == "all" or end - start >= _state["sql_slow_ns"]:
            record(conn.dialect.name, statement, context, start, end)

    def failed(exception_context):
        context = exception_context.execution_context
        start = getattr(context, "_freshgate_t0", None)
        if start is None:
            return
        context._freshgate_t0 = None  # a failed statement is always worth a span
        record(exception_context.dialect.name, exception_context.statement or "", context, start, time.time_ns(),
               exception_context.original_exception)

    return before, after, failed


def shutdown() -> None:
    """Flush and stop the exporter; stop timing statements."""
    p = _state["provider"]
    _state.update(provider=None, tracer=None)
    if _engines:
        from sqlalchemy import event

        for engine in _engines:
            for name, fn in zip(("before_cursor_execute", "after_cursor_execute", "handle_error"),
                                engine._freshgate_sql_listeners):
                if event.contains(engine, name, fn):
                    event.remove(engine, name, fn)
        _engines.clear()
    if p is not None:
        p.shutdown()


# ---- the lookup's spans ---------------------------------------------------------------------------
class _Current:
    """`tracer.start_as_current_span` without its two generator-based context managers (a third of a span's
    cost in the request path): start the span, make it current, and on exit mark an exception as an error,
    restore the context and end the span."""

    __slots__ = ("span", "_token")

    def __init__(self, span: Any) -> None:
        self.span = span

    def __enter__(self) -> Any:
        self._token = _otel.attach(_otel.set_span_in_context(self.span))
        return self.span

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc is not None and self.span.is_recording():
                self.span.record_exception(exc)
                self.span.set_status(_otel.Status(_otel.ERROR, f"{exc_type.__name__}: {exc}"))
        finally:
            _otel.detach(self._token)
            self.span.end()


_NO_SPAN = nullcontext()


def guardrail(risk: str, top_k: int) -> Any:
    """The span around one lookup (a context manager giving None when tracing is off); finish it with
    `record_decision`."""
    tracer = _state["tracer"]
    if tracer is None:
        return _NO_SPAN
    return _Current(tracer.start_span(f"apply_guardrail {GUARDIAN}", attributes={
        "gen_ai.operation.name": "apply_guardrail", "gen_ai.guardian.name": GUARDIAN,
        "gen_ai.security.target.type": "llm_input", "freshgate.risk": risk, "gen_ai.request.top_k": top_k,
    }))


def stage(name: str, attributes: dict[str, Any] | None = None) -> Any:
    """A child span of the lookup (`retrieval`, `decision`); a no-op when tracing is off."""
    tracer = _state["tracer"]
    if tracer is None:
        return _NO_SPAN
    return _Current(tracer.start_span(name, attributes=attributes))


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
