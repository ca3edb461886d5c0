"""Evaluate lookup decisions on a JSONL task file (decisions-dev.jsonl format).

Per task: a fresh registry (a copy of one migrated SQLite file), the task's documents
registered, one lookup with the question, the decision compared with `expected`.
Choices (the eval has no dates, owners or criticality):
- every document is registered as a source, verified now by one owner (`eval-owner`),
  medium criticality, 90-day review: i.e. fresh. A document's `date`, when given, is its
  last verification instead.
- the labels are proceed / stop_and_ask, so `caution` counts as **proceed** (usable, with a
  warning) and stop_and_ask as stop_and_ask.
One embedder is shared by all tasks (embedding dominates the run time).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from freshgate import db
from freshgate.config import Settings
from freshgate.markdown.parse import parse_bytes

LABELS = ("proceed", "stop_and_ask")


def as_label(decision: str) -> str:
    """caution -> proceed (the eval has two labels)."""
    return "stop_and_ask" if decision == "stop_and_ask" else "proceed"


@dataclass
class EvalReport:
    """Accuracy, stop_and_ask precision/recall, confusion table and per-task rows."""

    rows: list[dict] = field(default_factory=list)

    @property
    def confusion(self) -> dict[str, dict[str, int]]:
        """expected -> predicted -> count."""
        c = Counter((r["expected"], r["predicted"]) for r in self.rows)
        return {e: {p: c[(e, p)] for p in LABELS} for e in LABELS}

    def summary(self) -> dict:
        """The headline figures."""
        n = len(self.rows)
        cm = self.confusion
        tp, fp, fn = cm["stop_and_ask"]["stop_and_ask"], cm["proceed"]["stop_and_ask"], cm["stop_and_ask"]["proceed"]
        codes = Counter(c for r in self.rows for c in r["codes"])
        return {"tasks": n, "accuracy": (cm["proceed"]["proceed"] + tp) / n if n else 0.0,
                "stop_precision": tp / (tp + fp) if tp + fp else 0.0,
                "stop_recall": tp / (tp + fn) if tp + fn else 0.0,
                "confusion": cm, "raw_decisions": dict(Counter(r["decision"] for r in self.rows)),
                "reason_codes": dict(codes)}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:150] or "doc"


def _markdown(doc: dict, now: datetime) -> bytes:
    verified = doc.get("date") or now.date().isoformat()
    title = json.dumps(doc.get("title") or doc["id"])
    front = (f"id: {_slug(doc['id'])}\ntitle: {title}\nowner: eval-owner\ncriticality: medium\n"
             f"review_every: 90d\nlast_verified: {verified}\nverified_by: eval-owner\nstatus: active\n")
    return f"---\n{front}---\n{doc['text']}\n".encode("utf-8")


def run(tasks_path: Path, embedder, settings: Settings | None = None,
        progress: Callable[[int, int], None] | None = None, limit: int | None = None) -> EvalReport:
    """Run every task of a JSONL file; returns the report."""
    from freshgate.runtime import build_runtime
    from freshgate.lookup.api import service_for
    from freshgate.lookup.schemas import LookupIn
    from freshgate.registry.service import RegistryService

    tasks = [json.loads(line) for line in tasks_path.read_text("utf-8").splitlines() if line.strip()][:limit]
    report = EvalReport()
    with tempfile.TemporaryDirectory(prefix="freshgate-eval-") as tmp:
        template = Path(tmp) / "template.db"
        engine = db.make_engine(f"sqlite:///{template}")
        db.migrate(engine)
        engine.dispose()  # the last connection closing checkpoints the WAL into the file we copy
        for n, task in enumerate(tasks, 1):
            path = Path(tmp) / f"task{n}.db"
            shutil.copyfile(template, path)
            s = (settings or Settings()).model_copy(deep=True)
            s.database_url, s.server.scheduler = f"sqlite:///{path}", False
            # `eval-owner` stands for "an owner verified it"; no owners file declares it, and since the
            # owner_unknown rule (79a6bf4) that alone made every document orphaned and every answer a stop.
            s.freshness.owner_contact_required = False
            rt = build_runtime(s, migrate=False)
            try:
                engine = rt.extras["lookup"]
                engine.use_embedder(embedder)
                engine.activate()
                with db.session_scope(rt.engine) as session:
                    svc = RegistryService(session, rt.registry_ctx)
                    now = rt.registry_ctx.clock()
                    for doc in task["documents"]:
                        parsed = parse_bytes(_markdown(doc, now), path=doc["id"], now=now, default_kind="source")
                        svc.register(parsed, actor="eval")
                with db.session_scope(rt.engine) as session:
                    out = service_for(rt, session).lookup(LookupIn(query=task["question"]))
            finally:
                rt.close()
                path.unlink(missing_ok=True)
            report.rows.append({"id": task["id"], "expected": task["expected"], "decision": out.decision,
                                "predicted": as_label(out.decision), "codes": [r.code for r in out.reasons],
                                "top_score": out.citations[0].score if out.citations else None,
                                "cited": len(out.citations)})
            if progress:
                progress(n, len(tasks))
    return report

