"""Helpers for running the ``imgcompat`` command as a user would: a child process, its
exit status, its stdout and stderr."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

#: The console script next to this interpreter (the venv's bin/), else ``-m imgcompat``.
_SCRIPT = Path(sys.executable).with_name("imgcompat")
IMGCOMPAT: tuple[str, ...] = (
    (str(_SCRIPT),) if _SCRIPT.exists() else (sys.executable, "-m", "imgcompat")
)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment without any OS_* cloud settings, 100 columns, UTF-8 output."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OS_") and k != "IMGCOMPAT_DEBUG"}
    env.update({"COLUMNS": "100", "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1"})
    env.update(extra or {})
    return env


def run_cli(*args: str, stdin: str | None = None, env: Mapping[str, str] | None = None,
            timeout: float = 60.0, command: Sequence[str] = IMGCOMPAT,
            ) -> subprocess.CompletedProcess[str]:
    """``imgcompat ARGS`` in a child process, stdin given, output captured as text."""
    return subprocess.run(
        [*command, *args], input=stdin if stdin is not None else "", capture_output=True,
        text=True, encoding="utf-8", env=clean_env(env), timeout=timeout, check=False)


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int,
                          *needles: str) -> str:
    """The promise for failures: the exit status, one line on stderr, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("imgcompat: ") and "error" in line]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def hide_modules(where: Path, *names: str) -> dict[str, str]:
    """Environment for a child Python in which ``names`` cannot be imported, as when the extra
    that installs them is missing: a stub on ``PYTHONPATH`` (ahead of site-packages) raises
    the ``ModuleNotFoundError`` a missing package raises. Works for ``python -c``, ``-m`` and
    the console script alike."""
    where.mkdir(parents=True, exist_ok=True)
    for name in names:
        (where / f"{name}.py").write_text(
            f"raise ModuleNotFoundError({f'No module named {name!r}'!r}, name={name!r})\n",
            encoding="utf-8")
    path = os.pathsep.join(p for p in (str(where), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class CannedServer:
    """A tiny loopback HTTP server answering ``GET /`` with a fixed status and body; a path
    in ``routes`` gets its own ``(status, content type, body)``."""

    def __init__(self, status: int, body: bytes, content_type: str = "application/json"):
        self.status, self.body, self.content_type = status, body, content_type
        self.routes: dict[str, tuple[int, str, bytes]] = {}
        self.paths: list[str] = []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                canned.paths.append(self.path)
                status, content_type, body = canned.routes.get(
                    self.path, (canned.status, canned.content_type, canned.body))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CannedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def versions_doc(base: str, ids: Sequence[tuple[str, str]]) -> bytes:
    return json.dumps({"versions": [
        {"id": vid, "status": status, "links": [{"rel": "self", "href": f"{base}/{vid[:2]}/"}]}
        for vid, status in ids]}).encode()
