"""A real Glance v2 for the integration tests: ``IMGCOMPAT_GLANCE_URL`` or one started here.

``../shared/glance-server/start.sh PORT /tmp/glance-real`` starts a genuine Glance
(about 35 s the first time, when it builds its venv in /tmp/glance-real; 4 s after).
When it cannot be started the tests fail under CI and are skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
START = SHARED / "glance-server" / "start.sh"
BASEDIR = "/tmp/glance-real"
START_TIMEOUT = 600


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"real Glance unavailable under CI: {reason}")
    pytest.skip(f"real Glance unavailable: {reason}")


@pytest.fixture(scope="session")
def real_glance_url() -> Iterator[str]:
    """The base URL of a genuine Glance v2 server for this test session."""
    given = os.environ.get("IMGCOMPAT_GLANCE_URL")
    if given:
        yield given.rstrip("/")
        return
    if not START.is_file():
        _unavailable(f"{START} is missing")
    port = _free_port()
    try:
        done = subprocess.run(["bash", str(START), str(port), BASEDIR], capture_output=True,
                              text=True, timeout=START_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        _unavailable(f"start.sh did not finish in {START_TIMEOUT} s")
        raise  # unreachable: _unavailable raises
    values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    if done.returncode != 0 or "GLANCE_URL" not in values:
        _unavailable(f"start.sh exited {done.returncode}: {done.stderr.strip()[-500:]}")
    pid = int(values["GLANCE_PID"])
    try:
        yield values["GLANCE_URL"].rstrip("/")
    finally:
        # start.sh runs the server under setsid: its pid is the process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
