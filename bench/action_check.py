"""Action check latency through HTTP (real uvicorn server, httpx) with 1k SOP cards and 10k tool rules,
and the sync time of those cards with and without tool rules.

Sync: per round, two fresh SQLite registries get the same N_CARDS cards (+ N_SOURCES sources), once
with RULES_PER_CARD rules per card (conditions on amount / segment, a few globs) and once with the
old form (bare tool names: the same number of rows in the permission table, no conditions), the two
variants alternating, ROUNDS rounds. Registry only (no embeddings: the action check needs none).

HTTP: two servers (pinned to 2 cores, scheduler and model warm-up off), each on its own copy of the
registry with rules: `cache` keeps the permission table in memory following the change feed (the
default), `db` reads it from the database per check (actions.cache = false). Per round, variant and
call kind a block of REQUESTS sequential checks, variants and kinds interleaved: `exact` (a tool
named by one card, conditions evaluated), `glob` (covered by a glob rule), `uncovered`
(no_procedure, recorded), `missing_param` (strictest rule, several cards), and `whoami` (GET
/v1/whoami: the same HTTP stack and key check without an action check: the floor). Every check carries an
agent API key, writes its receipt (and link rows) and commits, as in production. Per block: the
load average, the server's CPU time per check (user + system, from /proc: what a check costs
regardless of how busy the shared machine is) and the SQL statements the server ran per check
(cursor executions counted in the server process, authentication included).

With FRESHGATE_BENCH_BASELINE=<a src directory> (e.g. the main branch's `src`), a third server,
`before`, runs that code (permission table in memory, as `cache`) on its own copy of the same
registry, interleaved with the other two: before and after in one run, under the same load.
FRESHGATE_BENCH_PORT=<port>: the servers listen on that port and the next two.

    .venv/bin/python bench/action_check.py [N_CARDS=1000] [RULES_PER_CARD=10] [REQUESTS=300] [ROUNDS=3]
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
N_SOURCES = 200


def arg(i: int, default: int) -> int:
    return int(sys.argv[i]) if len(sys.argv) > i else default


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def generate(root: Path, n_cards: int, per_card: int, with_rules: bool, seed: int = 7) -> None:
    """Sources and SOP cards; card i governs tools app{i // 4}.op{j} (4 cards share an app's tools, so
    rules overlap in amount ranges across cards) and every 200th card adds a glob (app0.*, app50.*, ...)."""
    rnd = random.Random(seed)
    src, sop = root / "sources", root / "sop_cards"
    src.mkdir(parents=True)
    sop.mkdir(parents=True)
    (src / "owners.yaml").write_text("".join(f"- {{id: team-{t}, name: Team {t}, contact: team-{t}@example.com, "
                                             "active: true}\n" for t in range(20)), "utf-8")  # known owners: not orphaned
    for s in range(N_SOURCES):
        (src / f"src-{s}.md").write_text(
            f"---\nid: src-{s}\ntitle: Source {s}\nowner: team-{s % 20}\ncriticality: medium\nlast_verified: -10d\n"
            f"verified_by: team-{s % 20}\n---\n# Source {s}\n\n## Rule\n\nRefunds up to {s} EUR.\n", "utf-8")
    for i in range(n_cards):
        app, band = i // 4 % 250, i % 4  # four cards of one app split the amount range in bands
        lines = []
        for j in range(per_card):
            tool = f"app{app}.op{j}"
            if not with_rules:
                lines.append(f"  - {tool}")
                continue
            lo, hi = band * 1000, (band + 1) * 1000
            lane = ("automatic", "approval", "forbidden")[band % 3]
            cond = f"amount > {lo} EUR and amount <= {hi} EUR" + (" and segment in [smb, mid]" if j % 3 == 0 else "")
            if j == 0 and i % 200 == 0:
                tool, cond = f"app{app}.*", "segment in [enterprise]"
            lines.append(f"  - tool: {tool}\n    when: {cond}\n    lane: {lane}\n    owner: team-{i % 20}\n"
                         f"    log: audit log {app}\n" + ("    rollback: reverse it\n" if lane != "automatic" else ""))
        deps = ", ".join(f"src-{rnd.randrange(N_SOURCES)}" for _ in range(2))
        (sop / f"card-{i}.md").write_text(
            f"---\nid: card-{i}\ntitle: Card {i}\nowner: team-{i % 20}\nlane: approval\nsources: [{deps}]\n"
            f"last_verified: -5d\ntools:\n" + "\n".join(lines) + f"\n---\n# Card {i}\n\n## Steps\n\n1. Do {i}.\n", "utf-8")


def sync_once(db_path: Path, kb: Path) -> tuple[float, int, int]:
    """Seconds to sync the tree into a fresh registry; (seconds, rules in the table, failed files)."""
    from sqlalchemy import text

    from freshgate.app import build_runtime, run_sync
    from freshgate.config import Settings

    s = Settings(database_url=f"sqlite:///{db_path}")
    s.server.scheduler = False
    s.auth.key_file = str(db_path.with_suffix(".key"))
    s.conflicts.check_on_change = False
    rt = build_runtime(s)
    try:
        t = time.perf_counter()
        report = run_sync(rt, [kb / "sources", kb / "sop_cards"])
        took = time.perf_counter() - t
        with rt.engine.connect() as c:
            n = c.execute(text("SELECT COUNT(*) FROM tool_rule")).scalar()
        return took, n, len(report.failed)
    finally:
        rt.close()


def agent_key(path: Path) -> str:
    """An agent API key in the registry (the server checks it on every request, as in production)."""
    from sqlmodel import Session

    from freshgate import db
    from freshgate.auth.service import KeyService

    engine = db.make_engine(f"sqlite:///{path}")
    with Session(engine) as session:
        _, raw = KeyService(session).create("bench agent", "agent")
        session.commit()
    engine.dispose()
    return raw


# The server counts SQL statements (cursor executions) and writes the count to a file on SIGUSR1.
_SERVE = """
import signal, sys, uvicorn
from sqlalchemy import event
from sqlalchemy.engine import Engine
from freshgate.app import create_app
count = [0]
event.listen(Engine, "before_cursor_execute", lambda *a: count.__setitem__(0, count[0] + 1))
signal.signal(signal.SIGUSR1, lambda *a: open(sys.argv[2], "w").write(str(count[0])))
uvicorn.run(create_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def serve(path: Path, port: int, cache: bool, src: str | None = None) -> subprocess.Popen:
    env = {**os.environ, **({"PYTHONPATH": src} if src else {}), "FRESHGATE_DATABASE_URL": f"sqlite:///{path}", "FRESHGATE_SERVER__SCHEDULER": "false",
           "FRESHGATE_CONFLICTS__SCAN_ON_START": "false", "FRESHGATE_LOOKUP__WARM_UP": "false",
           "FRESHGATE_AUTH__KEY_FILE": str(path.with_suffix(".key")),
           "FRESHGATE_ACTIONS__CACHE": "true" if cache else "false"}
    cores = "0,1" if (os.cpu_count() or 1) >= 2 else "0"
    return subprocess.Popen(["taskset", "-c", cores, sys.executable, "-c", _SERVE, str(port),
                             str(path.with_suffix(".sql"))], env=env)


def statements(proc: subprocess.Popen, path: Path) -> int:
    """SQL statements the server has run so far."""
    out = path.with_suffix(".sql")
    out.unlink(missing_ok=True)
    proc.send_signal(signal.SIGUSR1)
    for _ in range(200):
        if out.exists() and out.read_text():
            return int(out.read_text())
        time.sleep(0.01)
    raise RuntimeError("the server did not report its statement count")


def wait_ready(base: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("server not ready")


def body(kind: str, rnd: random.Random, per_card: int, apps: int = 250) -> dict:
    app, j = rnd.randrange(max(1, apps)), rnd.randrange(1, per_card)
    if kind == "exact":
        return {"tool": f"app{app}.op{j}", "parameters": {"amount": f"{rnd.randrange(1, 4000)} EUR", "segment": "smb"}}
    if kind == "glob":
        return {"tool": f"app{(app // 50) * 50}.other{j}", "parameters": {"segment": "enterprise"}}
    if kind == "uncovered":
        return {"tool": f"crm{app}.export", "parameters": {"email": "a@example.com"}}
    return {"tool": f"app{app}.op{j}", "parameters": {"segment": "smb"}}  # missing amount: every band applies


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (a load-independent cost per request)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def block(c: httpx.Client, kind: str, n: int, rnd: random.Random, per_card: int, apps: int) -> tuple[list[float], dict]:
    times, decisions = [], {}
    for _ in range(n):
        if kind == "whoami":  # the floor: the same server, key check and HTTP stack, no action check
            t = time.perf_counter()
            r = c.get("/v1/whoami")
            times.append(time.perf_counter() - t)
            r.raise_for_status()
            d = "ok"
        else:
            b = body(kind, rnd, per_card, apps)
            t = time.perf_counter()
            r = c.post("/v1/actions/check", json=b)
            times.append(time.perf_counter() - t)
            r.raise_for_status()
            d = r.json()["decision"]
        decisions[d] = decisions.get(d, 0) + 1
    return times, decisions


def pct(xs, p) -> float:
    return round(1e3 * float(np.percentile(xs, p)), 2)


def main() -> None:
    n_cards, per_card, requests, rounds = arg(1, 1000), arg(2, 10), arg(3, 300), arg(4, 3)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out: dict = {"cards": n_cards, "rules_per_card": per_card, "sources": N_SOURCES, "requests": requests,
                 "rounds": rounds, "load_start": load1(), "sync": {}, "http": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        kbs = {}
        for variant, rules in (("rules", True), ("names_only", False)):
            kbs[variant] = tmp / f"kb-{variant}"
            generate(kbs[variant], n_cards, per_card, rules)
        generate(tmp / "kb-warm", 8, per_card, True)
        sync_once(tmp / "warm.db", tmp / "kb-warm")  # imports and first-use costs outside the timed rounds
        sync = {v: [] for v in kbs}
        for r in range(rounds):
            order = list(kbs.items()) if r % 2 == 0 else list(reversed(kbs.items()))
            for variant, kb in order:  # interleaved A/B, alternating which goes first
                took, n_rules, failed = sync_once(tmp / f"sync-{variant}-{r}.db", kb)
                assert failed == 0, f"{failed} files failed"
                sync[variant].append({"seconds": round(took, 3), "rules": n_rules, "load": load1()})
        out["sync"] = sync
        db_path = tmp / "sync-rules-0.db"
        key = agent_key(db_path)
        baseline = os.environ.get("FRESHGATE_BENCH_BASELINE")
        variants = ("before", "cache", "db") if baseline else ("cache", "db")
        paths, procs, bases = {}, {}, {}
        for i, v in enumerate(variants):
            paths[v] = tmp / f"serve-{v}.db"
            shutil.copy(db_path, paths[v])
            # FRESHGATE_BENCH_PORT: the first of three ports to use (a shared machine), else one derived from the pid
            first = int(os.environ.get("FRESHGATE_BENCH_PORT") or 0)
            port = first + i if first else 18000 + (os.getpid() + 7 * i) % 1000
            bases[v] = f"http://127.0.0.1:{port}"
            procs[v] = serve(paths[v], port, cache=v != "db", src=baseline if v == "before" else None)
        try:
            for v in variants:
                wait_ready(bases[v])
            rnd = random.Random(3)
            kinds = ("exact", "glob", "uncovered", "missing_param", "whoami")
            cells = [(v, k) for v in variants for k in kinds]
            samples = {c: [] for c in cells}
            decisions = {c: {} for c in cells}
            loads = {c: [] for c in cells}
            cpu = {c: 0.0 for c in cells}
            sql = {c: 0 for c in cells}
            apps = min(250, n_cards // 4)
            clients = {v: httpx.Client(base_url=bases[v], timeout=30, headers={"Authorization": f"Bearer {key}"})
                       for v in variants}
            try:
                for v, k in cells:
                    block(clients[v], k, 30, rnd, per_card, apps)  # warm
                for r in range(rounds):
                    order = variants if r % 2 == 0 else tuple(reversed(variants))  # alternating who goes first
                    for k in kinds:  # interleaved: kinds, and the two variants within each kind
                        for v in order:
                            c0, s0 = cpu_seconds(procs[v].pid), statements(procs[v], paths[v])
                            t, d = block(clients[v], k, requests, rnd, per_card, apps)
                            cpu[(v, k)] += cpu_seconds(procs[v].pid) - c0
                            sql[(v, k)] += statements(procs[v], paths[v]) - s0
                            samples[(v, k)] += t
                            loads[(v, k)].append(load1())
                            for key_, n in d.items():
                                decisions[(v, k)][key_] = decisions[(v, k)].get(key_, 0) + n
            finally:
                for c in clients.values():
                    c.close()
            out["http"] = {}
            for v in variants:
                for k in kinds:
                    xs = samples[(v, k)]
                    out["http"][f"{v}/{k}"] = {
                        "p50_ms": pct(xs, 50), "p99_ms": pct(xs, 99), "n": len(xs),
                        "server_cpu_ms_per_check": round(1e3 * cpu[(v, k)] / len(xs), 2),
                        "sql_per_check": round(sql[(v, k)] / len(xs), 2), "decisions": decisions[(v, k)],
                        "loads": loads[(v, k)]}
                checks = [k for k in kinds if k != "whoami"]
                allv = [x for k in checks for x in samples[(v, k)]]
                out["http"][f"{v}/all"] = {
                    "p50_ms": pct(allv, 50), "p99_ms": pct(allv, 99), "n": len(allv),
                    "server_cpu_ms_per_check": round(1e3 * sum(cpu[(v, k)] for k in checks) / len(allv), 2),
                    "sql_per_check": round(sum(sql[(v, k)] for k in checks) / len(allv), 2)}
        finally:
            for p in procs.values():
                p.terminate()
                p.wait(10)
    out["load_end"] = load1()
    print(f"action check: {n_cards} cards, {n_cards * per_card} tool rules, {N_SOURCES} sources (SQLite, HTTP, "
          f"2 cores); load {out['load_start']} -> {out['load_end']}"
          + (f"; before = {os.environ['FRESHGATE_BENCH_BASELINE']}" if os.environ.get("FRESHGATE_BENCH_BASELINE") else ""))
    print(f"{'sync variant':<14} {'rules':>6} " + " ".join(f"{'round ' + str(i + 1):>9}" for i in range(rounds))
          + "   (seconds; load per round)")
    for variant, rs in out["sync"].items():
        print(f"{variant:<14} {rs[0]['rules']:>6} " + " ".join(f"{r['seconds']:>9.2f}" for r in rs)
              + "   " + ", ".join(str(r["load"]) for r in rs))
    print(f"{'variant/kind':<20} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms':>7} {'sql':>5}  decisions / load "
          "per block (cpu ms: server CPU time per check, user+system; sql: statements per check)")
    for k, v in out["http"].items():
        print(f"{k:<20} {v['n']:>6} {v['p50_ms']:>8} {v['p99_ms']:>8} {v['server_cpu_ms_per_check']:>7} "
              f"{v['sql_per_check']:>5}  {v.get('decisions', '')} {v.get('loads', '')}")
    (RESULTS / "action_check.json").write_text(json.dumps(out, indent=2), "utf-8")


if __name__ == "__main__":
    main()
