"""Settings of what an operator sees inside a running Freshgate: metrics, traces, logs (sections of
`freshgate.config.Settings`, which re-exports them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class MetricsSettings(BaseModel):
    """Prometheus metrics at /metrics."""

    enabled: bool = Field(True, description="Count lookups and serve /metrics.")
    public_scrape: bool = Field(False, description="Let an unauthenticated scraper read /metrics (else operators only).")
    refresh_seconds: float = Field(
        30.0, description="Registry-wide figures (documents by state, conflicts, review queue) are recomputed at most "
        "this often per process."
    )


class TracingSettings(BaseModel):
    """OpenTelemetry traces (off by default)."""

    enabled: bool = Field(False, description="Record traces: HTTP, SQL, httpx and one guardrail span per lookup.")
    exporter: Literal["otlp", "file", "console", "none"] = Field(
        "otlp", description="otlp = OTLP/HTTP to `endpoint`; file = OTLP/JSON lines appended to `file`; console = "
        "JSON spans on stderr; none = in process only. Spans are exported in batches, off the request path."
    )
    file: str = Field("freshgate-spans.jsonl", description="Where exporter = file writes (the OpenTelemetry "
                      "Collector's otlpjsonfile receiver reads it).")
    endpoint: str | None = Field(
        None, description="OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces (default: the "
        "OTEL_EXPORTER_OTLP_* variables, else localhost:4318)."
    )
    service_name: str = Field("freshgate", description="`service.name` resource attribute.")
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0, description="Fraction of traces recorded (head sampling, "
                                "parent-based: a request that arrives with a sampled trace context is always "
                                "recorded). In production use 0.1 or less: at 1.0 every lookup pays for its spans.")
    sql: Literal["off", "slow", "all"] = Field(
        "slow", description="SQL statements as spans: slow = only those taking `sql_slow_ms` or longer (and failed "
        "ones), recorded with their real start and end; all = one span per statement (debugging: costly); off = none."
    )
    sql_slow_ms: float = Field(25.0, ge=0.0, description="Threshold for sql = slow, in milliseconds.")
    batch_size: int | None = Field(None, ge=1, description="Spans per export batch: a batch is exported when it is "
                                   "full or after `batch_delay_ms`. Unset: the OpenTelemetry SDK's (512, or "
                                   "OTEL_BSP_MAX_EXPORT_BATCH_SIZE). Smaller batches (64 / 200 ms) measured no better at "
                                   "100k sections: +0.2 % and +4.2 % CPU per lookup in two runs, against +3.1 % and "
                                   "+2.0 % at the SDK's.")
    batch_delay_ms: int | None = Field(None, ge=1, description="Longest a finished span waits before it is exported. "
                                       "Unset: the SDK's (5000, or OTEL_BSP_SCHEDULE_DELAY).")


class LoggingSettings(BaseModel):
    """Log output."""

    format: Literal["text", "json"] = Field("text", description="json = one JSON object per line (with trace ids).")
    level: str = Field("INFO", description="Root log level.")
