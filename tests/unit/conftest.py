"""Fixtures of the emulator's unit tests: a v2 emulator and an in-process client of it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from imgcompat.testing import Emulator


@pytest.fixture
def emu() -> Emulator:
    """A fresh v2 emulator (no authentication, one store)."""
    return Emulator(api="v2")


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    """A client of ``emu`` through the in-process transport."""
    with httpx.Client(transport=emu.sync_transport(), base_url="http://glance") as c:
        yield c
