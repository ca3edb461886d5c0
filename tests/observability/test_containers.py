"""The container image and the compose recipe (slow; opt-in: FRESHGATE_CONTAINER_TESTS=1, needs root or docker)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.environ.get("FRESHGATE_CONTAINER_TESTS") != "1",
                                reason="container tests are opt-in: FRESHGATE_CONTAINER_TESTS=1")


def _script(name: str) -> str:
    proc = subprocess.run([str(REPO / "scripts" / name)], cwd=REPO, capture_output=True, text=True, timeout=7200)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    return proc.stdout


@pytest.mark.timeout(7200)
def test_container_image():
    out = _script("container-test")
    for check in ("healthy", "runs as uid", "lookup on the examples", "data survives a restart", "PASS"):
        assert check in out, out


@pytest.mark.timeout(7200)
def test_compose_recipe():
    out = _script("compose-test")
    for check in ("replica A ready", "lookup through replica B", "worker ran", "PASS"):
        assert check in out, out
