"""Prometheus metrics: what every lookup decided, how long each stage took, and registry-wide figures.

Labels are small closed sets only (decision, lane, reason code, stage, state, kind, channel, job):
never a document id, a query or a receipt id.

Two kinds of figures:
- per-process counters and histograms, updated by the lookup (`record_lookup`); multi-process safe:
  when PROMETHEUS_MULTIPROC_DIR is set (several worker processes), /metrics aggregates every process.
- registry-wide gauges read from the database at scrape time (`RegistryCollector`), cached for
  `metrics.refresh_seconds`; every replica reports the same figures (use max() across replicas).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Iterable

log = logging.getLogger(__name__)

STAGES = ("embed", "search", "decide", "receipt")
_LANE_ORDER = ("forbidden", "approval", "automatic")
_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)


@lru_cache(maxsize=1)
def instruments() -> dict[str, Any]:
    """The process's metric objects, made on first use (registered in the default registry)."""
    from prometheus_client import Counter, Histogram, disable_created_metrics

    disable_created_metrics()  # no *_created series: Prometheus does not need them
    return {
        "lookups": Counter("freshgate_lookups", "Lookups answered, by decision and by the SOP lane that applied.",
                           ["decision", "lane"]),
        "reasons": Counter("freshgate_lookup_reasons", "Reason codes given in lookup answers (stop and caution reasons).",
                           ["decision", "reason"]),
        "served_stale": Counter("freshgate_lookups_served_stale",
                                "proceed or caution answers that cited a source that is not fresh.", ["decision"]),
        "receipts": Counter("freshgate_receipts_written", "Decision receipts recorded."),
        "duration": Histogram("freshgate_lookup_duration_seconds", "Lookup latency (service time, all stages).",
                              buckets=_BUCKETS),
        "stage": Histogram("freshgate_lookup_stage_duration_seconds", "Lookup latency per stage.", ["stage"],
                           buckets=_BUCKETS),
    }


def applied_lane(evidence: Iterable[Any]) -> str:
    """The strictest SOP lane that applied to a lookup (forbidden > approval > automatic), else none."""
    lanes = {getattr(e, "lane", None) for e in evidence}
    return next((lane for lane in _LANE_ORDER if lane in lanes), "none")


def record_lookup(decision: Any, evidence: list[Any], citations: list[Any], timings: dict[str, float],
                  total_seconds: float, receipt_written: bool) -> None:
    """Count one answered lookup (never raises: metrics must not break a lookup)."""
    try:
        m = instruments()
        m["lookups"].labels(decision.decision, applied_lane(evidence)).inc()
        for code in dict.fromkeys(r.code for r in decision.reasons):
            m["reasons"].labels(decision.decision, code).inc()
        if decision.decision != "stop_and_ask" and any(getattr(c, "state", "fresh") != "fresh" for c in citations):
            m["served_stale"].labels(decision.decision).inc()
        if receipt_written:
            m["receipts"].inc()
        m["duration"].observe(total_seconds)
        for stage in STAGES:
            if stage in timings:
                m["stage"].labels(stage).observe(timings[stage] / 1e3)
    except Exception:  # noqa: BLE001
        log.exception("lookup metrics not recorded")


# ---- registry-wide figures, read from the database at scrape time ------------------------------------
class RegistryCollector:
    """Gauges computed from the database and this process's runtime, cached for `refresh_seconds`."""

    def __init__(self, rt: Any) -> None:
        self.rt = rt
        self._lock = threading.Lock()
        self._cached: tuple[float, list] | None = None

    def collect(self):
        """Metric families for prometheus_client (db figures cached; process figures live)."""
        ttl = self.rt.settings.metrics.refresh_seconds
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] >= ttl:
                try:
                    self._cached = (time.monotonic(), self._from_database())
                except Exception as exc:  # noqa: BLE001 - a scrape reports what it can
                    log.warning("registry metrics unavailable: %s", exc)
                    self._cached = (time.monotonic(), [])
            families = list(self._cached[1])
        return families + self._process()

    def _process(self) -> list:
        from prometheus_client.core import GaugeMetricFamily

        out = []
        engine = self.rt.extras.get("lookup")
        if engine is not None:
            g = GaugeMetricFamily("freshgate_index_sections", "Sections in this process's lookup index.")
            g.add_metric([], len(engine.index))
            out.append(g)
            r = GaugeMetricFamily("freshgate_index_ready", "1 when this process's lookup index is ready.")
            r.add_metric([], 1.0 if engine.index_status() == "ready" else 0.0)
            out.append(r)
        feed = self.rt.extras.get("feed")
        if feed is not None and callable(getattr(feed, "health", None)):
            h = feed.health()
            for key, help_ in (("lag_seconds", "Age of the oldest change this process has not applied yet."),
                               ("lag_changes", "Committed changes this process's index has not applied yet.")):
                g = GaugeMetricFamily(f"freshgate_feed_{key}", help_)
                g.add_metric([], float(h.get(key) or 0))
                out.append(g)
        for name, part in self.rt.extras.items():
            fn = getattr(part, "metric_families", None)
            if callable(fn):
                out.extend(fn())
        return out

    def _from_database(self) -> list:
        from prometheus_client.core import GaugeMetricFamily
        from sqlalchemy import func
        from sqlmodel import Session, select

        from freshgate.conflicts.models import ConflictRecord
        from freshgate.notify.models import Delivery
        from freshgate.registry import queries
        from freshgate.registry.models import Document
        from freshgate.registry.service import RegistryService
        from freshgate.reports.service import review
        from freshgate.scheduler.models import JobRun

        now = datetime.now(timezone.utc)
        fams = []
        with Session(self.rt.engine, expire_on_commit=False) as session:
            svc = RegistryService(session, self.rt.registry_ctx)
            rows = queries.list_documents(svc, now=now)
            lanes = dict(session.exec(select(Document.id, Document.lane).where(Document.kind == "sop")).all())
            docs = GaugeMetricFamily("freshgate_documents", "Documents by kind and computed freshness state.",
                                     labels=["kind", "state"])
            cards = GaugeMetricFamily("freshgate_sop_cards", "SOP cards by lane and freshness state.",
                                      labels=["lane", "state"])
            for (kind, state), n in _count((r.kind, r.state) for r in rows).items():
                docs.add_metric([kind, state], n)
            for (lane, state), n in _count((lanes.get(r.id) or "none", r.state) for r in rows
                                          if r.kind == "sop").items():
                cards.add_metric([lane, state], n)
            fams += [docs, cards]

            opened = session.exec(select(func.count(), func.min(ConflictRecord.detected_at))
                                  .where(ConflictRecord.status == "open")).one()
            c = GaugeMetricFamily("freshgate_conflicts_open", "Open conflicts.")
            c.add_metric([], opened[0] or 0)
            age = GaugeMetricFamily("freshgate_conflicts_oldest_open_age_seconds", "Age of the oldest open conflict.")
            age.add_metric([], (now - _utc(opened[1])).total_seconds() if opened[1] else 0.0)
            fams += [c, age]

            rep = review(session, self.rt.registry_ctx.rules, self.rt.extras, now)
            items = rep.items
            q = GaugeMetricFamily("freshgate_review_queue", "Documents on the review list.")
            q.add_metric([], len(items))
            od = GaugeMetricFamily("freshgate_review_overdue_days_max", "Most days any review-list item is overdue.")
            od.add_metric([], max((i.overdue_days for i in items), default=0))
            fams += [q, od]

            dl = GaugeMetricFamily("freshgate_notify_deliveries", "Webhook and e-mail deliveries by result.",
                                   labels=["channel", "result"])
            for channel, status, n in session.exec(select(Delivery.channel, Delivery.status, func.count())
                                                   .group_by(Delivery.channel, Delivery.status)).all():
                dl.add_metric([channel, status], n)
            fams.append(dl)

            jobs = GaugeMetricFamily("freshgate_job_last_success_timestamp_seconds",
                                     "When each scheduled job last finished successfully (Unix time).", labels=["job"])
            for job_id, last in session.exec(select(JobRun.job_id, func.max(JobRun.finished_at))
                                             .where(JobRun.status == "ok").group_by(JobRun.job_id)).all():
                jobs.add_metric([job_id], _utc(last).timestamp() if last else 0.0)
            fams.append(jobs)
        return fams


def _count(pairs: Iterable[tuple]) -> dict[tuple, int]:
    out: dict[tuple, int] = {}
    for p in pairs:
        out[p] = out.get(p, 0) + 1
    return out


def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def exposition(collector: RegistryCollector) -> tuple[bytes, str]:
    """The /metrics body and content type: this process (or all, in multi-process mode) plus registry figures."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    instruments()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_Forward(REGISTRY))
    registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Forward:
    """Expose another registry's metrics inside a per-scrape registry."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def collect(self):
        """Everything the inner registry holds."""
        return self.inner.collect()
