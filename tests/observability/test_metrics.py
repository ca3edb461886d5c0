"""/metrics: counters and histograms after lookups with known decisions; registry gauges; label hygiene."""

from __future__ import annotations

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from freshgate.app import run_sync
from freshgate.embeddings.embedder import HashingEmbedder
from tests.conftest import write_doc

OWNERS = "- {id: ana, name: Ana, contact: ana@example.org, active: true}\n"
FRESH = "owner: ana\ncriticality: low\nreview_every: 90d\nlast_verified: -5d\nverified_by: ana\nstatus: active"
STALE = "owner: ana\ncriticality: low\nreview_every: 30d\nlast_verified: -200d\nverified_by: ana\nstatus: active"
QUERIES = {  # query -> (decision, lane, first reason or None)
    "zebra crossing lollipop rules": ("proceed", "none", None),
    "walrus feeding bucket schedule": ("caution", "none", "stale"),
    "quantum marmalade tariffs nobody wrote": ("stop_and_ask", "none", "no_source"),
    "flamingo vault opening steps": ("stop_and_ask", "forbidden", "forbidden_lane"),
}


@pytest.fixture
def metered(runtime, client, tmp_path):
    """A tiny knowledge base with one fresh, one stale source and a forbidden SOP, hashing embedder."""
    kb = tmp_path / "tiny"
    kb.mkdir()
    (kb / "owners.yaml").write_text(OWNERS)
    write_doc(kb, "zebra.md", f"id: zebra\ntitle: Zebra crossing\n{FRESH}",
              "# Zebra crossing\n\n## Lollipop rules\n\nZebra crossing lollipop rules: wait for the lollipop sign.\n")
    write_doc(kb, "walrus.md", f"id: walrus\ntitle: Walrus care\n{STALE}",
              "# Walrus care\n\n## Feeding\n\nWalrus feeding bucket schedule: two buckets at noon.\n")
    write_doc(kb, "vault.md", f"id: vault\ntitle: Flamingo vault\n{FRESH}\nlane: forbidden",
              "# Flamingo vault\n\n## Opening\n\nFlamingo vault opening steps are never run by an agent.\n")
    runtime.settings.lookup.relevance_threshold = 0.2
    runtime.settings.metrics.refresh_seconds = 0
    runtime.extras["lookup"].use_embedder(HashingEmbedder())
    runtime.extras["lookup"].activate()
    assert run_sync(runtime, [kb]).failed == []
    return client


def scrape(client) -> dict[tuple[str, tuple], float]:
    """GET /metrics parsed to {(sample name, sorted labels): value}."""
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def delta(after, before, name, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_lookup_counters_and_histograms_match_the_answers(metered):
    before = scrape(metered)
    plan = [q for q in QUERIES for _ in range(2)] + ["zebra crossing lollipop rules"]  # proceed 3x, others 2x
    answers = []
    for q in plan:
        r = metered.post("/v1/lookup", json={"query": q})
        assert r.status_code == 200
        answers.append((q, r.json()))
    for q, a in answers:
        decision, _, reason = QUERIES[q]
        assert a["decision"] == decision, (q, a)
        assert (a["reasons"][0]["code"] if a["reasons"] else None) == reason, (q, a["reasons"])
    after = scrape(metered)

    for q, (decision, lane, reason) in QUERIES.items():
        n = plan.count(q)
        same = sum(plan.count(x) for x, v in QUERIES.items() if v[:2] == (decision, lane))
        assert delta(after, before, "freshgate_lookups_total", decision=decision, lane=lane) == same
        if reason:
            same_reason = sum(plan.count(x) for x, v in QUERIES.items() if v[0] == decision and v[2] == reason)
            assert delta(after, before, "freshgate_lookup_reasons_total", decision=decision, reason=reason) == same_reason
        assert n >= 2
    assert delta(after, before, "freshgate_lookups_served_stale_total", decision="caution") == 2
    assert delta(after, before, "freshgate_lookups_served_stale_total", decision="proceed") == 0
    assert delta(after, before, "freshgate_receipts_written_total") == len(plan)
    assert delta(after, before, "freshgate_lookup_duration_seconds_count") == len(plan)
    assert delta(after, before, "freshgate_lookup_duration_seconds_sum") > 0
    # every answered lookup has a decide and receipt stage; embed/search only when the index answered
    for stage in ("embed", "search", "decide", "receipt"):
        assert delta(after, before, "freshgate_lookup_stage_duration_seconds_count", stage=stage) == len(plan)
    inf = delta(after, before, "freshgate_lookup_duration_seconds_bucket", le="+Inf")
    assert inf == len(plan)


def test_registry_gauges(metered):
    m = scrape(metered)
    assert m[("freshgate_documents", (("kind", "source"), ("state", "fresh")))] == 1
    assert m[("freshgate_documents", (("kind", "source"), ("state", "stale")))] == 1
    assert m[("freshgate_sop_cards", (("lane", "forbidden"), ("state", "fresh")))] == 1
    assert m[("freshgate_conflicts_open", ())] == 0
    assert m[("freshgate_review_queue", ())] >= 1  # the stale walrus source needs a human
    assert m[("freshgate_review_overdue_days_max", ())] >= 100
    metered.post("/v1/lookup", json={"query": "zebra crossing lollipop rules"})  # builds the index
    m = scrape(metered)
    assert m[("freshgate_index_sections", ())] >= 3
    assert m[("freshgate_index_ready", ())] == 1


def test_no_high_cardinality_labels(metered):
    for q in QUERIES:
        metered.post("/v1/lookup", json={"query": q})
    text = metered.get("/metrics").text
    for word in ("zebra", "walrus", "flamingo", "marmalade", "vault", "lollipop"):
        assert word not in text.lower(), f"document id or query text {word!r} leaked into /metrics"
    allowed = {"decision", "lane", "reason", "stage", "kind", "state", "channel", "result", "job", "le",
               "quantile"}
    ours = [line for line in text.splitlines() if line.startswith("freshgate_")]
    labels = {name for line in ours for name in re.findall(r"[{,]([a-z_]+)=\"", line)}
    assert labels and labels <= allowed, labels - allowed
    values = {v for line in ours for v in re.findall(r"=\"([^\"]*)\"", line)}
    assert len(values) < 60, values  # closed sets only


def test_metrics_can_be_switched_off(metered, runtime):
    runtime.settings.metrics.enabled = False
    assert metered.get("/metrics").status_code == 404


RECORD = """
from types import SimpleNamespace as NS
from freshgate.observability import metrics
d = NS(decision="{decision}", reasons=[NS(code="{reason}")])
for _ in range({n}):
    metrics.record_lookup(d, [], [], {{"embed": 1.0, "decide": 2.0}}, 0.01, True)
"""
SCRAPE = """
import sys
from freshgate.observability import metrics
class NoRegistry:
    def collect(self):
        return []
sys.stdout.write(metrics.exposition(NoRegistry())[0].decode())
"""


def test_multiprocess_mode_adds_up_every_process(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR (several workers), /metrics reports the sum over real processes."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for decision, reason, n in (("proceed", "none", 3), ("stop_and_ask", "no_source", 2), ("proceed", "none", 4)):
        subprocess.run([sys.executable, "-c", RECORD.format(decision=decision, reason=reason, n=n)], env=env,
                       check=True)
    out = subprocess.run([sys.executable, "-c", SCRAPE], env=env, check=True, capture_output=True, text=True).stdout
    m = {(s.name, tuple(sorted(s.labels.items()))): s.value
         for fam in text_string_to_metric_families(out) for s in fam.samples}
    assert m[("freshgate_lookups_total", (("decision", "proceed"), ("lane", "none")))] == 7
    assert m[("freshgate_lookups_total", (("decision", "stop_and_ask"), ("lane", "none")))] == 2
    assert m[("freshgate_receipts_written_total", ())] == 9
    assert m[("freshgate_lookup_stage_duration_seconds_count", (("stage", "embed"),))] == 9
