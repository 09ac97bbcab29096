"""Peer clients run in a venv of their own.

python-glanceclient 2.16.0 (the last release with the v1 API) pins ``warlock<2``, which
pins ``jsonschema<4``; imgcompat needs jsonschema 4. So the peer lives in a separate venv
(built once, cached in /tmp like the real Glance's) and is driven as a subprocess against
an emulator this test process serves on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

PEER_VENV = Path(os.environ.get("IMGCOMPAT_PEER_VENV", "/tmp/imgcompat-peers/venv"))
PEER_PACKAGES = ("python-glanceclient==2.16.0",)
INSTALL_TIMEOUT = 600


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"peer client unavailable under CI: {reason}")
    pytest.skip(f"peer client unavailable: {reason}")


@pytest.fixture(scope="session")
def peer_python() -> Path:
    """A Python interpreter with python-glanceclient 2.16.0 importable."""
    python = PEER_VENV / "bin" / "python"
    probe = [str(python), "-c", "import glanceclient.v1.client"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([str(python), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", *PEER_PACKAGES],
                       check=True, capture_output=True, timeout=INSTALL_TIMEOUT)
    except (subprocess.SubprocessError, OSError) as exc:
        _unavailable(f"could not build {PEER_VENV}: {exc}")
    if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        _unavailable("glanceclient does not import in the peer venv")
    return python


Driver = Callable[[str, str], str]


@pytest.fixture
def glanceclient_v1(peer_python: Path) -> Driver:
    """Run a scenario of glanceclient_v1_driver.py against a URL; its stdout."""
    script = Path(__file__).with_name("glanceclient_v1_driver.py")

    def run(scenario: str, url: str) -> str:
        done = subprocess.run([str(peer_python), str(script), scenario, url],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"{scenario}:\n{done.stdout}\n{done.stderr[-3000:]}"
        return done.stdout

    return run
