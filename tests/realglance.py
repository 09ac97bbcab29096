"""Starting a genuine Glance for a test run: ``../shared/glance-server/start.sh`` in a base
directory of its own, stopped (its whole process group) when the caller is done.

Shared by the integration suite and the differential tests, which differ only in the
directory and the identities and stores they ask of the server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

START = Path(__file__).resolve().parents[1].parent / "shared" / "glance-server" / "start.sh"
START_TIMEOUT = 600


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def unavailable(reason: str) -> None:
    """Fail under CI (a missing server must not pass as green), skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"real Glance unavailable under CI: {reason}")
    pytest.skip(f"real Glance unavailable: {reason}")


@contextlib.contextmanager
def started_glance(basedir: str | os.PathLike[str],
                   env: Mapping[str, str] | None = None) -> Iterator[str]:
    """The URL of a fresh real Glance started in ``basedir`` (``env`` adds start.sh's
    settings, e.g. ``GLANCE_AUTH``/``GLANCE_STORES``); stopped on exit."""
    if not START.is_file():
        unavailable(f"{START} is missing")
    try:
        done = subprocess.run(["bash", str(START), str(free_port()), str(basedir)],
                              env={**os.environ, **(env or {})}, capture_output=True,
                              text=True, timeout=START_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        unavailable(f"start.sh did not finish in {START_TIMEOUT} s")
        raise  # unreachable: unavailable raises
    values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    if done.returncode != 0 or "GLANCE_URL" not in values:
        unavailable(f"start.sh exited {done.returncode}: {done.stderr.strip()[-500:]}")
    try:
        yield values["GLANCE_URL"].rstrip("/")
    finally:  # start.sh runs the server under setsid: its pid is the process group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(values["GLANCE_PID"]), signal.SIGTERM)
