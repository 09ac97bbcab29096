"""Real clients against the emulator and against the real Glance, step by step.

:mod:`tests.peers.scenario` is run by three drivers — openstacksdk, python-glanceclient's v2
library and the ``glance`` command — in the latest peer venv, once against a fresh real
Glance 33 (``GLANCE_AUTH=trusted``, ``GLANCE_STORES=2``, its own basedir) and once against a
fresh emulator on a real socket. Every step must end the same way on both (outcome: the
client's exception class and status, or the command's exit status; message), with the same
attribute names, JSON types and, where deterministic, values. :mod:`accepted_differences`
holds the only exceptions. ``pytest -m differential tests/peers`` runs it;
``IMGCOMPAT_DIFFERENTIAL_DUMP=DIR`` also writes each run's lines to ``DIR/CLIENT-SERVER.jsonl``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from imgcompat.testing import Emulator, serve
from tests.conftest import REPO_ROOT
from tests.peers.comparison import Line, accepted, compare
from tests.peers.scenario import STEP_NAMES, WEB_DATA
from tests.realglance import started_glance

pytestmark = pytest.mark.differential

#: client name -> driver module, run as ``python -m MODULE SERVER SOURCE`` from the repo root.
CLIENTS = {
    "sdk": "tests.peers.sdk_driver",
    "glanceclient": "tests.peers.glanceclient_v2_driver",
    "cli": "tests.peers.glance_cli_driver",
}
BASEDIR = Path(os.environ.get("IMGCOMPAT_PEERS_GLANCE_BASEDIR", "/tmp/glance-peers"))
#: The integration tests' basedir: its venv (the same Glance) is reused rather than rebuilt.
INTEGRATION_VENV = Path("/tmp/glance-real/venv")
DRIVER_TIMEOUT = 300
#: Outcomes a driver must never report against the real server: they mean the driver or the
#: scenario is broken, not that the servers differ.
BROKEN = ("driver-error", "unbound", "timeout")

Runs = Callable[[str], dict[str, tuple[Line, Line]]]
#: client -> [matched, compared]: the terminal summary reads it (tests/peers/conftest.py).
TALLY: dict[str, list[int]] = {}


def make_emulator() -> Emulator:
    """The emulator under comparison, configured as the real server is: two stores, ``fast``
    (the default) and ``cheap``, and identities from keystone-style headers."""
    return Emulator(api="v2", auth="trusted", stores=("fast", "cheap"))


@contextlib.contextmanager
def real_glance() -> Iterator[str]:
    """A fresh real Glance (new database and stores) with trusted identities and two stores."""
    venv = BASEDIR / "venv"
    if not venv.exists() and (INTEGRATION_VENV / "bin" / "gunicorn").exists():
        BASEDIR.mkdir(parents=True, exist_ok=True)
        venv.symlink_to(INTEGRATION_VENV)  # start.sh checks it and rebuilds if it is broken
    with started_glance(BASEDIR, {"GLANCE_AUTH": "trusted", "GLANCE_STORES": "2"}) as url:
        yield url


class _Source(BaseHTTPRequestHandler):
    """Serves :data:`WEB_DATA` at any path: the web-download source of both servers."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(WEB_DATA)))
        self.end_headers()
        self.wfile.write(WEB_DATA)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the servers' fetches are not news."""


@pytest.fixture(scope="session")
def web_source() -> Iterator[str]:
    """A URL on 127.0.0.1 serving :data:`WEB_DATA`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Source)
    thread = threading.Thread(target=server.serve_forever, name="web-download-source",
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/web-download.raw"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _lines(client: str, server: str, process: subprocess.Popen[str]) -> dict[str, Line]:
    try:
        out, err = process.communicate(timeout=DRIVER_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    dump = os.environ.get("IMGCOMPAT_DIFFERENTIAL_DUMP")
    if dump:
        Path(dump).mkdir(parents=True, exist_ok=True)
        (Path(dump) / f"{client}-{server}.jsonl").write_text(out)
    lines = {line["step"]: line for line in map(json.loads, out.splitlines())}
    missing = [step for step in STEP_NAMES if step not in lines]
    assert not missing, f"{client} driver exited {process.returncode} before {missing[:3]}:" \
                        f"\n{err[-3000:]}"
    return lines


@pytest.fixture(scope="session")
def differential_runs(latest_peer_python: Path, web_source: str) -> Runs:
    """``runs(client)``: step -> (line against the real Glance, line against the emulator).

    Each client gets a fresh real server and a fresh emulator, so listings hold only what its
    own run created; both runs go at once.
    """
    cache: dict[str, dict[str, tuple[Line, Line]]] = {}

    def runs(client: str) -> dict[str, tuple[Line, Line]]:
        if client not in cache:
            with real_glance() as real_url, serve(make_emulator()) as emulator_url:
                started = [subprocess.Popen(
                    [str(latest_peer_python), "-m", CLIENTS[client], url, web_source],
                    cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True) for url in (real_url, emulator_url)]
                real, emulated = (_lines(client, server, process) for server, process
                                  in zip(("real", "emulator"), started, strict=True))
            cache[client] = {step: (real[step], emulated[step]) for step in STEP_NAMES}
        return cache[client]

    return runs


@pytest.mark.parametrize("client", CLIENTS)
def test_drivers_run_clean_against_real_glance(client: str, differential_runs: Runs) -> None:
    """Against the genuine server no step may break: else the scenario itself is wrong."""
    broken = {step: f"{real['outcome']}: {real['message']}"
              for step, (real, _) in differential_runs(client).items()
              if real["outcome"].startswith(BROKEN)}
    assert not broken, json.dumps(broken, indent=1)[:6000]


@pytest.mark.parametrize(("client", "step"), [(c, s) for c in CLIENTS for s in STEP_NAMES],
                         ids=[f"{c}-{s}" for c in CLIENTS for s in STEP_NAMES])
def test_step(client: str, step: str, differential_runs: Runs) -> None:
    """One step, one client: the emulator answers as the real Glance does."""
    real, emulated = differential_runs(client)[step]
    if real["outcome"] == emulated["outcome"] == "unsupported":
        pytest.skip(f"{client} has no way to express {step}")
    found = compare(real, emulated)
    tally = TALLY.setdefault(client, [0, 0])
    tally[0] += not found
    tally[1] += 1
    reason = accepted(client, step, found) if found else None
    if reason:
        pytest.xfail(f"accepted: {reason}")
    assert not found, f"{client} {step} differs:\n" + "\n".join(
        f"{where}: {what}" for where, what in found)
