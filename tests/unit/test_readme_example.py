"""The README's library example, run against the emulator so the documentation cannot drift."""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from imgcompat.testing import Emulator, serve

README = Path(__file__).resolve().parents[2] / "README.md"


def _first_library_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Using it as a library", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "the README lost its library example"
    return textwrap.dedent(match.group(1))


def test_the_readme_library_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\x00" * 4096 + b"readme")
    code = _first_library_example()
    code = code.replace('"/var/lib/disk.raw"', repr(str(disk)))
    code = code.replace('"/tmp/snap.raw"', repr(str(tmp_path / "snap.raw")))
    with serve(Emulator(api="both")) as url:
        code = code.replace('["http://glance-1:9292", "http://glance-2:9292"]', repr([url]))
        namespace: dict[str, Any] = {
            "get_token": lambda: "secret-token",
            "instance_uuid": "7d7b9c1e-2f54-4c1b-9a57-0d6f1c2e3a4b",
            "base_id": "0c2b2d1a-5f0e-4c3a-8d0b-3f4e5a6b7c8d",
            "user": "demo-user",
            "since": datetime.now(UTC) - timedelta(minutes=5),
        }
        exec(compile(code, "README.md", "exec"), namespace)  # our own README, nothing else
    out = capsys.readouterr().out
    assert "v2.17" in out
    assert " active " in out  # the detail loop found the snapshot, active
    assert "(HTTP 404)" in out
    assert (tmp_path / "snap.raw").read_bytes() == disk.read_bytes()
    assert "secret-token" not in out
