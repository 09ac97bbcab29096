"""Fixtures shared by every test directory."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The repository root (this file is tests/conftest.py).
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's shared/ directory, beside the repository (/work/shared next to /work/main)."""
    path = REPO_ROOT.parent / "shared"
    assert path.is_dir(), f"shared/ not found beside the repository: {path}"
    return path


@pytest.fixture(scope="session")
def samples_dir(shared_dir: Path) -> Path:
    """shared/samples: real server recordings (glance-v2-real/) and API-ref samples."""
    path = shared_dir / "samples"
    assert path.is_dir(), f"samples not found: {path}"
    return path


# --------------------------------------------------------------------- Hypothesis profiles
import os  # noqa: E402

from hypothesis import HealthCheck, settings  # noqa: E402

#: ``ci``: at least 500 examples per property (the issue's floor); ``dev``: a quick run.
settings.register_profile(
    "ci", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# ---------------------------------------------------------------- differential tests
#: tests/peers/test_differential.py is part of the default run (and so of CI) since the emulator
#: passes it; alone: ``pytest -m differential tests/peers``.
DIFFERENTIAL_IN_DEFAULT_RUN = True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the ``differential`` tests out of a run that names no marker expression."""
    if DIFFERENTIAL_IN_DEFAULT_RUN or config.option.markexpr:
        return
    chosen = [item for item in items if item.get_closest_marker("differential") is None]
    if len(chosen) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in chosen])
        items[:] = chosen


# ------------------------------------------------------------ Glance emulator fixtures
# glance_emulator / glance_server_url (and glance_emulator_options to configure them).
pytest_plugins = ["imgcompat.testing.pytest_plugin"]
