"""Helpers for the server tests: an app served by uvicorn on loopback, the load-test script, uploads."""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import uvicorn

from photoscore.server.app import create_app
from photoscore.server.protocol import HeaderTimeoutProtocol
from photoscore.server.settings import ServerSettings

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def running_server(settings: ServerSettings) -> Iterator[str]:
    """Serve ``create_app(settings)`` with uvicorn on a free 127.0.0.1 port in a thread; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(settings), log_level="warning", http=HeaderTimeoutProtocol)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def load_test_script() -> ModuleType:
    """scripts/load_test.py as a module."""
    spec = importlib.util.spec_from_file_location("load_test", REPO / "scripts" / "load_test.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def uploads(paths: list[Path]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """Multipart files named ``photos`` for httpx."""
    return [("photos", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]
