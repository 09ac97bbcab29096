"""A real Glance v2 for the integration tests: ``IMGCOMPAT_GLANCE_URL`` or one started here.

``../shared/glance-server/start.sh PORT /tmp/glance-real`` starts a genuine Glance
(about 35 s the first time, when it builds its venv in /tmp/glance-real; 4 s after).
When it cannot be started the tests fail under CI and are skipped elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.realglance import started_glance

BASEDIR = "/tmp/glance-real"


@pytest.fixture(scope="session")
def real_glance_url() -> Iterator[str]:
    """The base URL of a genuine Glance v2 server for this test session."""
    given = os.environ.get("IMGCOMPAT_GLANCE_URL")
    if given:
        yield given.rstrip("/")
        return
    with started_glance(BASEDIR) as url:
        yield url
