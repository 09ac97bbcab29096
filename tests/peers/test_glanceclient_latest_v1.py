"""The latest python-glanceclient (4.13.0, which still ships ``glanceclient.v1`` and the
``glance --os-image-api-version 1`` commands) against the emulator's v1 mode.

Each scenario of glanceclient_latest_v1_driver.py runs in the latest peer venv against a fresh
emulator on a real socket and checks its own expectations (see the driver's docstring).
"""

from __future__ import annotations

import pytest

from imgcompat.testing import Emulator, Identity, serve
from tests.peers.conftest import Driver

pytestmark = pytest.mark.glanceclient


@pytest.mark.parametrize("scenario", ["library", "command"])
def test_life_cycle(glanceclient_latest_v1: Driver, scenario: str) -> None:
    with serve(Emulator(api="v1")) as url:
        assert glanceclient_latest_v1(scenario, url).strip() == f"ok {scenario}"


@pytest.mark.parametrize("scenario", ["corrupt-library", "corrupt-command"])
def test_checksum_check_catches_corruption(glanceclient_latest_v1: Driver,
                                           scenario: str) -> None:
    emu = Emulator(api="v1")
    with serve(emu) as url:
        emu.faults.corrupt_next_download()
        assert glanceclient_latest_v1(scenario, url).strip() == f"ok {scenario}"


def test_tokens_are_checked_on_v1(glanceclient_latest_v1: Driver) -> None:
    """v1 takes its callers from ``identities`` as v2 does: a known token passes, an
    unknown one gets keystone's 401."""
    emu = Emulator(api="v1", identities={"good": Identity("p1", roles=("admin",))})
    with serve(emu) as url:
        assert glanceclient_latest_v1("unauthorized", url, "bad").strip() == "ok unauthorized"
        assert glanceclient_latest_v1("library", url, "good").strip() == "ok library"
