"""A real HTTP server on 127.0.0.1 (in a thread) that serves the cases remote refresh must handle."""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Origin:
    """The server's mutable state: documents by path (body, etag), hit counts, and a clock."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[str, str, str]] = {}  # path -> (body, etag, content type)
        self.hits: Counter = Counter()
        self.conditional: Counter = Counter()
        self.down: set[str] = set()

    def put(self, path: str, body: str, etag: str, ctype: str = "text/markdown; charset=utf-8") -> None:
        """Serve `body` at `path` with this ETag."""
        self.docs[path] = (body, etag, ctype)


def make_handler(origin: Origin):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def _send(self, code: int, body: bytes = b"", headers: dict | None = None) -> None:
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if "Content-Length" not in (headers or {}) and code != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def do_GET(self):  # noqa: N802 - http.server API
            path = self.path
            origin.hits[path] += 1
            if path in origin.down or path == "/error":
                return self._send(500, b"boom")
            if path == "/slow":
                time.sleep(1.5)
                return self._send(200, b"# Late\n", {"Content-Type": "text/plain"})
            if path == "/big-chunked":  # no Content-Length: the cap must stop the stream
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for _ in range(200):
                        self.wfile.write(b"x" * 10_000)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return None
            if path == "/big":
                return self._send(200, b"y" * 50_000, {"Content-Type": "text/plain"})
            if path.startswith("/redirect?to="):
                return self._send(302, b"", {"Location": path.split("=", 1)[1]})
            if path == "/loop":
                return self._send(302, b"", {"Location": "/loop"})
            if path == "/image":
                return self._send(200, b"\x89PNG", {"Content-Type": "image/png"})
            if path not in origin.docs:
                return self._send(404, b"not found")
            body, etag, ctype = origin.docs[path]
            if self.headers.get("If-None-Match") == etag:
                origin.conditional[path] += 1
                return self._send(304, b"", {"ETag": etag})
            return self._send(200, body.encode(), {"Content-Type": ctype, "ETag": etag,
                                                   "Last-Modified": "Sat, 21 Nov 2026 10:00:00 GMT"})

    return Handler


class LocalServer:
    """Start/stop the server; `url(path)` gives http://127.0.0.1:PORT/path."""

    def __init__(self, origin: Origin | None = None) -> None:
        self.origin = origin or Origin()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.origin))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "LocalServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """Absolute URL of a path on this server."""
        return f"http://{host}:{self.httpd.server_address[1]}{path}"
