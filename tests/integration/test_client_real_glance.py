"""The v2 contract cases against a real Glance v2 (started by ``../shared/glance-server``).

The same :class:`ContractCases` as the emulator suite, with both clients; each case tags its
images with a run id, lists only those, and deletes what it made (the server is shared).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from tenacity import wait_fixed

from imgcompat.core.enums import Api
from tests.contract.cases import ContractCases
from tests.contract.harness import Glance, build_client, collect_losses

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sync", "async"])
def glance(request: pytest.FixtureRequest, real_glance_url: str) -> Iterator[Glance]:
    loop = asyncio.new_event_loop()
    harness = Glance(client=None, api=Api.V2)
    # A short backoff: a real server needs a moment after an aborted upload (see README).
    client = build_client(str(request.param), real_glance_url,
                          on_loss=collect_losses(harness.losses), loop=loop,
                          backoff=wait_fixed(0.3))
    harness.client = client
    try:
        yield harness
        choice = client.version_choice
        assert choice is not None
        assert choice.api is Api.V2
        assert choice.minor >= 7
    finally:
        harness.cleanup()
        client.close()
        loop.close()


class TestContractOnRealGlance(ContractCases):
    """Every contract case, on the real Glance v2."""
