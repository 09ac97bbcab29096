"""The real v1 client, python-glanceclient 2.16.0, against the emulator's v1 mode."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from imgcompat.testing import Emulator, serve

pytestmark = pytest.mark.glanceclient


def test_full_lifecycle(glanceclient_v1: Callable[[str, str], str]) -> None:
    with serve(Emulator(api="v1")) as url:
        assert glanceclient_v1("lifecycle", url).strip() == "ok lifecycle"


def test_checksum_check_catches_corruption(glanceclient_v1: Callable[[str, str], str]) -> None:
    emu = Emulator(api="v1")
    with serve(emu) as url:
        emu.faults.corrupt_next_download()
        assert glanceclient_v1("corrupt", url).strip() == "ok corrupt"
