"""Fixtures of the hostile-server tests: the scripted server, the other host, both clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.hostile.drivers import FLAVOURS, Driver, Flavour
from tests.hostile.server import HostileServer, OtherHost


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    """A scripted server on 127.0.0.1 (see ``tests/hostile/server.py``)."""
    with HostileServer() as server:
        yield server


@pytest.fixture
def other_host() -> Iterator[OtherHost]:
    """A host that must never be reached: the test fails if anything connects to it."""
    with OtherHost() as other:
        yield other
    assert not other.reached, f"the other host was reached: {other.reached!r}"


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> Flavour:
    """``"sync"`` or ``"async"``: each test using it runs with both clients."""
    value: Flavour = request.param
    return value


@pytest.fixture
def driver(flavour: Flavour) -> Iterator[Callable[..., Driver]]:
    """``driver(url, **options)``: a client of this test's flavour, closed at the end."""
    made: list[Driver] = []

    def make(api_servers: Any, **options: Any) -> Driver:
        made.append(Driver(flavour, api_servers, **options))
        return made[-1]

    yield make
    for one in made:
        one.close()
