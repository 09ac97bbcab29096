"""Peer clients run in venvs of their own.

python-glanceclient 2.16.0 (the last release with the v1 API) pins ``warlock<2``, which
pins ``jsonschema<4``; imgcompat needs jsonschema 4. So the peer lives in a separate venv
(built once, cached in /tmp like the real Glance's) and is driven as a subprocess against
an emulator this test process serves on 127.0.0.1. The latest python-glanceclient and
openstacksdk (the differential tests, and the v1 life cycle through that glanceclient's v1
library and ``glance --os-image-api-version 1``: it still ships both) share a second venv,
cached beside it under a name that carries their versions, so that a bump builds a new one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PEER_VENV = Path(os.environ.get("IMGCOMPAT_PEER_VENV", "/tmp/imgcompat-peers/venv"))
PEER_PACKAGES = ("python-glanceclient==2.16.0",)
#: The latest releases (checked with ``pip index versions``); pinned so that runs compare.
LATEST_PACKAGES = ("python-glanceclient==4.13.0", "openstacksdk==4.22.0")
LATEST_VENV = Path(os.environ.get(
    "IMGCOMPAT_LATEST_PEER_VENV",
    "/tmp/imgcompat-peers/latest-" + "-".join(p.replace("==", "") for p in LATEST_PACKAGES)))
INSTALL_TIMEOUT = 600


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"peer client unavailable under CI: {reason}")
    pytest.skip(f"peer client unavailable: {reason}")


def _venv_python(venv: Path, packages: tuple[str, ...], probe: str) -> Path:
    """The interpreter of ``venv``, built with ``packages`` unless ``probe`` imports there."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", probe]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([str(python), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", *packages],
                       check=True, capture_output=True, timeout=INSTALL_TIMEOUT)
    except (subprocess.SubprocessError, OSError) as exc:
        _unavailable(f"could not build {venv}: {exc}")
    if subprocess.run(check, capture_output=True, check=False).returncode != 0:
        _unavailable(f"{probe!r} fails in {venv}")
    return python


@pytest.fixture(scope="session")
def peer_python() -> Path:
    """A Python interpreter with python-glanceclient 2.16.0 importable."""
    return _venv_python(PEER_VENV, PEER_PACKAGES, "import glanceclient.v1.client")


@pytest.fixture(scope="session")
def latest_peer_python() -> Path:
    """A Python interpreter with the latest python-glanceclient and openstacksdk."""
    return _venv_python(LATEST_VENV, LATEST_PACKAGES,
                        "import glanceclient.v1.client, glanceclient.v2.client, "
                        "glanceclient.shell, openstack")


Driver = Callable[..., str]


def _driver(python: Path, *command: str) -> Driver:
    """Run ``COMMAND SCENARIO URL [ARG...]`` under ``python`` from the repository root; its
    stdout, after asserting that it exited 0."""

    def run(scenario: str, url: str, *args: str) -> str:
        done = subprocess.run([str(python), *command, scenario, url, *args], cwd=REPO_ROOT,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, f"{scenario}:\n{done.stdout}\n{done.stderr[-3000:]}"
        return done.stdout

    return run


@pytest.fixture
def glanceclient_v1(peer_python: Path) -> Driver:
    """Run a scenario of glanceclient_v1_driver.py (2.16.0) against a URL; its stdout."""
    return _driver(peer_python, str(Path(__file__).with_name("glanceclient_v1_driver.py")))


@pytest.fixture
def glanceclient_latest_v1(latest_peer_python: Path) -> Driver:
    """Run a scenario of glanceclient_latest_v1_driver.py (the latest glanceclient's v1
    library and command) against a URL, with an optional token; its stdout."""
    return _driver(latest_peer_python, "-m", "tests.peers.glanceclient_latest_v1_driver")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Matched/compared steps per client, when the differential tests ran."""
    module = sys.modules.get("tests.peers.test_differential")
    tally: dict[str, list[int]] = getattr(module, "TALLY", {})
    if tally:
        terminalreporter.write_sep("-", "differential: steps matching the real Glance")
        for client, (matched, compared) in tally.items():
            terminalreporter.write_line(f"{client}: {matched} of {compared}")
