"""A folder's files served over HTTP on loopback, for the tests of what particle_py.assets
downloads (no test reaches the network)."""
from __future__ import annotations

import http.server
import threading
from contextlib import ExitStack, contextmanager
from typing import Iterator

import pytest


@contextmanager
def serving(folder) -> Iterator[str]:
    """Serve ``folder`` on a loopback port; yields the base URL."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(folder), **k)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def asset_server(monkeypatch):
    """asset_server(folder): particle_py.assets downloads from a loopback server of ``folder``
    (PARTICLE_PY_ASSET_URL) until the test ends; returns the URL."""
    with ExitStack() as stack:
        def serve(folder) -> str:
            url = stack.enter_context(serving(folder))
            monkeypatch.setenv("PARTICLE_PY_ASSET_URL", url)
            return url
        yield serve
