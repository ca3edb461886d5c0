"""The operator key file: written once at first start (mode 0600), read by the CLI and the Python client."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_NAME = ".freshgate-key"


def write_key_file(path: str | Path, raw: str) -> Path:
    """Write a key to a file only the user can read (replacing an older one atomically)."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (raw + "\n").encode())
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def read_key_file(path: str | Path | None = None) -> str | None:
    """The key in a key file (default ./.freshgate-key), or None when there is none."""
    p = Path(path or os.environ.get("FRESHGATE_AUTH__KEY_FILE") or Path.cwd() / DEFAULT_NAME).expanduser()
    try:
        text = p.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None


def find_api_key(explicit: str | None = None) -> str | None:
    """The key a client should send: explicit, else $FRESHGATE_API_KEY, else the key file."""
    return explicit or os.environ.get("FRESHGATE_API_KEY") or read_key_file()
