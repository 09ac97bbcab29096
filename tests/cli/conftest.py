"""Fixtures of the CLI tests (the helpers live in clitools.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from imgcompat.testing import Emulator, serve

# the helpers module beside this file, importable whatever the import mode or packaging
from tests.cli.clitools import CannedServer, versions_doc


@pytest.fixture
def canned_versions() -> Iterator[CannedServer]:
    """A server whose versions list is unsorted and has v1 too, like a real both-mode Glance."""
    server = CannedServer(300, b"")
    server.body = versions_doc(server.url, [("v2.8", "SUPPORTED"), ("v2.17", "CURRENT"),
                                            ("v2.3", "SUPPORTED"), ("v1.1", "DEPRECATED"),
                                            ("v1.0", "DEPRECATED")])
    with server:
        yield server


@pytest.fixture
def emulator() -> Emulator:
    """A fresh embedded Glance offering v1 and v2."""
    return Emulator(api="both")


@pytest.fixture
def glance_url(emulator: Emulator) -> Iterator[str]:
    """``emulator`` on a real loopback socket (the CLI runs in another process)."""
    with serve(emulator) as url:
        yield url
