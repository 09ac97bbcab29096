"""The contract suite's server: the emulator in four modes, each with both clients.

Modes: ``v1`` (v1-only server), ``v2`` (v2-only), ``both`` (v2 chosen by discovery) and
``both-pinned-v1`` (a discovering client whose call site pins v1 with ``.pinned("1")``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from imgcompat.core.enums import Api
from imgcompat.testing import Emulator
from tests.contract.harness import Glance, build_client, collect_losses

MODES = {"v1": ("v1", Api.V1), "v2": ("v2", Api.V2), "both": ("both", Api.V2),
         "both-pinned-v1": ("both", Api.V1)}
SERVER = "http://glance.test"


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["sync", "async"])
def flavor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def event_loop_for_facade() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.close()


@pytest.fixture
def glance(mode: str, flavor: str,
           event_loop_for_facade: asyncio.AbstractEventLoop) -> Iterator[Glance]:
    api_mode, api = MODES[mode]
    emulator = Emulator(api=api_mode)  # type: ignore[arg-type]
    transport = emulator.sync_transport() if flavor == "sync" else emulator.async_transport()
    harness = Glance(client=None, api=api, emulator=emulator)
    client = build_client(flavor, SERVER, transport=transport,
                          on_loss=collect_losses(harness.losses), loop=event_loop_for_facade)
    harness.client = client.pinned("1") if mode == "both-pinned-v1" else client
    try:
        yield harness
    finally:
        client.close()
