"""pytest fixtures for code tested against Glance: ``pytest_plugins = [__name__]``.

In a ``conftest.py``::

    pytest_plugins = ["imgcompat.testing.pytest_plugin"]

then ``glance_emulator`` (a fresh in-process :class:`Emulator`, both APIs, v2.17) and
``glance_server_url`` (that emulator served on a free 127.0.0.1 port) are available.
Override ``glance_emulator_options`` to change the mode, minor or data directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .emulator import Emulator
from .server import serve


@pytest.fixture
def glance_emulator_options() -> dict[str, Any]:
    """Keyword arguments for :class:`Emulator`; override in a conftest or module."""
    return {}


@pytest.fixture
def glance_emulator(glance_emulator_options: dict[str, Any]) -> Emulator:
    """A fresh emulator per test (in memory: nothing to clean up)."""
    return Emulator(**glance_emulator_options)


@pytest.fixture
def glance_server_url(glance_emulator: Emulator) -> Iterator[str]:
    """``glance_emulator`` on a real socket; the base URL, e.g. ``http://127.0.0.1:40123``."""
    with serve(glance_emulator) as url:
        yield url
