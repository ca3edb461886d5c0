"""CLI start-up: `freshgate --help` and `freshgate status`, this tree vs a base revision, interleaved.

The base revision's `src/` is extracted with `git archive` (default: main) into a temp dir; each
variant gets its own SQLite file with the examples synced (no embedding) before timing. Wall time
and CPU time (user + sys of the child) are reported; targets: --help <= 0.5 s, status <= 1.5 s.

    python bench/cli_startup.py [--base main] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {"--help": ["--help"], "status": ["status"]}


def extract(rev: str, dest: Path) -> Path:
    """`git archive REV src` unpacked under dest; its src path."""
    blob = subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "src"


def run(src: Path, db: Path, args: list[str]) -> tuple[float, float]:
    """(wall s, cpu s) of one `python -m freshgate --database-url db ARGS`."""
    env = {**os.environ, "PYTHONPATH": str(src), "FRESHGATE_DATABASE_URL": f"sqlite:///{db}"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "freshgate", *args], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="main", help="git revision to compare with")
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="fg-cli-bench-") as tmp:
        tmp = Path(tmp)
        variants = {f"base ({a.base})": extract(a.base, tmp / "base"), "this tree": REPO / "src"}
        dbs = {}
        for name, src in variants.items():
            dbs[name] = tmp / f"{name.split()[0]}.db"
            env = {**os.environ, "PYTHONPATH": str(src), "FRESHGATE_DATABASE_URL": f"sqlite:///{dbs[name]}"}
            subprocess.run([sys.executable, "-m", "freshgate", "sync", "--no-embed", str(REPO / "sources"),
                            str(REPO / "sop_cards")], env=env, check=True, capture_output=True)
        samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(a.rounds):
            for cmd, args in COMMANDS.items():
                for name, src in variants.items():  # interleaved: base, tree, base, tree, ...
                    samples.setdefault((name, cmd), []).append(run(src, dbs[name], args))
    rows = []
    for (name, cmd), xs in samples.items():
        rows.append({"variant": name, "command": cmd, "wall_median_s": round(statistics.median(w for w, _ in xs), 3),
                     "wall_min_s": round(min(w for w, _ in xs), 3),
                     "cpu_median_s": round(statistics.median(c for _, c in xs), 3), "runs": len(xs)})
    print(f"load average before: {load_before}, after: {os.getloadavg()}")
    print(f"{'command':8} {'variant':16} {'wall median':>12} {'wall min':>9} {'cpu median':>11}")
    for r in sorted(rows, key=lambda r: (r["command"], r["variant"])):
        print(f"{r['command']:8} {r['variant']:16} {r['wall_median_s']:>11.3f}s {r['wall_min_s']:>8.3f}s "
              f"{r['cpu_median_s']:>10.3f}s")
    out = REPO / "bench" / "results" / "cli_startup.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"load_before": load_before, "load_after": os.getloadavg(), "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
