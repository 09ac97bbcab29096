"""The emulator over real sockets: uvicorn on 127.0.0.1, in a thread or in the foreground.

``serve()`` is for tests and demos (a free port, stopped on exit); ``run_server()`` is what
``imgcompat serve`` runs. Only 127.0.0.1 is ever bound: the emulator's identities are
for tests (by default there is no authentication at all) and it is not meant to be
reachable from other hosts.

uvicorn is the ``emulator`` extra and is imported only here, when a socket is served: the
in-process emulator (``Emulator.sync_transport()``) works without it, and without it these
two functions raise :class:`MissingExtra` instead of an ``ImportError`` traceback.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from imgcompat.core.errors import MissingExtra

from .emulator import ApiMode, Emulator
from .faults import ConnectionDropped

if TYPE_CHECKING:
    import uvicorn

HOST = "127.0.0.1"
_START_TIMEOUT = 10.0


class _QuietDrops(logging.Filter):
    """A dropped connection is a fault the test asked for, not an error worth a trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


_FILTER = _QuietDrops()



@contextmanager
def _uvicorn_needed() -> Iterator[None]:
    """Turn ``import uvicorn`` failing into one line that names the extra to install."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != "uvicorn":
            raise
        raise MissingExtra("serving the emulator on a socket needs uvicorn, the 'emulator' "
                           "extra: pip install 'imgcompat[emulator]'",
                           extra="emulator") from exc


def _config(emulator: Emulator, log_level: str) -> uvicorn.Config:
    import uvicorn

    logging.getLogger("uvicorn.error").addFilter(_FILTER)
    return uvicorn.Config(emulator.app, log_level=log_level, access_log=False,
                          lifespan="off", timeout_graceful_shutdown=1)


def _bind(host: str, port: int) -> socket.socket:
    if host != HOST:
        raise ValueError(f"the emulator binds {HOST} only, not {host}")
    # proto IPPROTO_TCP (not 0): asyncio sets TCP_NODELAY on accepted sockets only then;
    # without it every JSON answer (headers, then body) waited ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


@contextmanager
def serve(emulator: Emulator, host: str = HOST, port: int = 0,
          log_level: str = "warning") -> Iterator[str]:
    """Run ``emulator`` on a real HTTP server in a background thread; yield its base URL.

    ``port=0`` picks a free port. The server stops (and the thread ends) on exit.
    """
    with _uvicorn_needed():
        import uvicorn
    sock = _bind(host, port)
    server = uvicorn.Server(_config(emulator, log_level))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # surfaced to the caller below
            errors.append(exc)

    thread = threading.Thread(target=run, name="imgcompat-emulator-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    if not server.started:
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT)
        sock.close()
        raise RuntimeError(f"the emulator server did not start: {errors or 'timeout'}")
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT)
        sock.close()


def run_server(api: ApiMode = "both", port: int = 9292,
               data_dir: str | os.PathLike[str] | None = None, *, v2_minor: int = 17,
               pending_delete: bool = False, log_level: str = "info",
               **emulator_options: Any) -> None:
    """Serve a new emulator on 127.0.0.1:``port`` until interrupted (``imgcompat serve``).

    ``emulator_options`` are the :class:`Emulator`'s keyword settings (``auth="trusted"``,
    ``stores=("fast", "cheap")``...).
    """
    with _uvicorn_needed():
        import uvicorn
    emulator = Emulator(api=api, v2_minor=v2_minor, data_dir=data_dir,
                        pending_delete=pending_delete, **emulator_options)
    sock = _bind(HOST, port)
    try:
        uvicorn.Server(_config(emulator, log_level)).run(sockets=[sock])
    finally:
        sock.close()
