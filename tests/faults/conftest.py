"""Fault-test fixtures: one emulator per API on a real loopback socket, shared by a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import tenacity

from imgcompat.core.model import Image
from imgcompat.shell.client import ImageClient
from imgcompat.testing import Emulator, serve
from tests.faults.faultkit import DATA, Glance


@pytest.fixture(scope="module", params=["v1", "v2"])
def glance(request: pytest.FixtureRequest) -> Iterator[Glance]:
    """v1 or v2 emulator served on 127.0.0.1, with one active image of DATA."""
    api = request.param
    emulator = Emulator(api=api)
    with serve(emulator) as url:
        client = ImageClient(url, backoff=tenacity.wait_none())
        image = client.create(Image(name=f"fault-{api}", disk_format="raw",
                                    container_format="bare"), data=DATA)
        client.close()
        yield Glance(api, emulator, url, image)


@pytest.fixture
def g(glance: Glance) -> Iterator[Glance]:
    """The module's emulator with faults and the request log cleared around each test."""
    glance.emulator.faults.clear()
    glance.emulator.requests.clear()
    yield glance
    glance.emulator.faults.clear()
