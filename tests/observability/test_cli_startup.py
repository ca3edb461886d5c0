"""The CLI starts light: no heavy imports for --help, no import circle with cli.py, eval progress without a TTY."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("sqlalchemy", "sqlmodel", "fastapi", "alembic", "numpy", "torch", "onnxruntime", "prometheus_client",
         "opentelemetry")


def test_help_imports_nothing_heavy():
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom freshgate.cli import app\n"
            "r = CliRunner().invoke(app, ['--help'])\nassert r.exit_code == 0 and 'status' in r.output, r.output\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().replace("'", '"')) == []


def test_status_needs_no_fastapi_model_or_alembic_on_a_current_database(tmp_path):
    db = tmp_path / "fg.db"
    env = {**os.environ, "FRESHGATE_DATABASE_URL": f"sqlite:///{db}"}
    subprocess.run([sys.executable, "-m", "freshgate", "status"], env=env, check=True, capture_output=True)  # migrates
    code = ("import sys\nfrom freshgate.cli import main\nsys.argv = ['freshgate', 'status', '--json']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', sorted(m for m in ('fastapi', 'alembic', 'torch', 'onnxruntime', 'markdown_it') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out, out
    assert '"fresh": 0' in out


def test_domain_commands_do_not_import_cli():
    for path in (REPO / "src" / "freshgate").glob("*/commands.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "freshgate.cli", f"{path.name} in {path.parent.name} imports freshgate.cli"


def test_progress_without_a_terminal_prints_a_line_every_n(capsys):
    from freshgate import cli_common

    assert not cli_common.err.is_terminal  # pytest captures stderr
    with cli_common.progress("tasks", every=5) as tick:
        for n in range(1, 13):
            tick(n, 12)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("tasks:")]
    assert [ln.split()[1] for ln in lines] == ["5/12", "10/12", "12/12"]


def test_eval_writes_its_default_report_outside_the_repository(tmp_path, monkeypatch):
    from freshgate import cli_common
    from freshgate.cli import app

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"id": "p1", "a": {"text": "Refunds within 14 days."},
                                 "b": {"text": "Refunds within 30 days."}, "label": "conflict"}) + "\n")
    monkeypatch.setattr(cli_common, "settings", lambda: _rules_judge_settings(tmp_path))
    from freshgate.embeddings.embedder import HashingEmbedder
    from freshgate.lookup import engine

    monkeypatch.setattr(engine, "default_embedder", lambda s: HashingEmbedder())  # no model in a unit test
    r = CliRunner().invoke(app, ["eval", "conflicts", str(pairs)])
    assert r.exit_code == 0, r.output
    written = list((tmp_path / "state" / "freshgate" / "eval").glob("conflicts-*.json"))
    assert len(written) == 1 and json.loads(written[0].read_text())
    assert REPO not in written[0].parents
    assert "wrote " in r.output


def _rules_judge_settings(tmp_path):
    from freshgate.config import Settings

    s = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}")
    s.conflicts.judge = "rules"
    s.embedding.enabled = False
    return s
