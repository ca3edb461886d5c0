"""Log output for the server and the worker: text or JSON lines, each with the current trace id."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

from freshgate.observability import tracing

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(trace)s: %(message)s"


class TraceContext(logging.Filter):
    """Adds `trace_id` / `span_id` (hex, "" outside a recorded span) and a ready-made ` trace_id=…` suffix."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drops it."""
        record.trace_id, record.span_id = tracing.current_ids()
        record.trace = f" trace_id={record.trace_id} span_id={record.span_id}" if record.trace_id else ""
        return True


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace_id, span_id (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as JSON."""
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }
        if getattr(record, "trace_id", ""):
            out.update(trace_id=record.trace_id, span_id=record.span_id)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def handler(fmt: str, stream=None) -> logging.Handler:
    """A stream handler in the given format (text | json) that adds trace ids."""
    h = logging.StreamHandler(stream or sys.stderr)
    h.addFilter(TraceContext())
    h.setFormatter(JsonLines() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    return h


def configure(settings: Any) -> None:
    """Route every log line (uvicorn's too) through one handler on the root logger."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler(settings.logging.format))
    root.setLevel(settings.logging.level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
