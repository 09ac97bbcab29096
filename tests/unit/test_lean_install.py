"""``import imgcompat`` is the library alone: no CLI framework, terminal renderer or server.

A compute service that installs ``imgcompat`` without extras gets neither click, rich nor
uvicorn, so importing the library (and the in-process emulator) must not need them. Each
check runs in a fresh interpreter as a lean install would see it: those packages cannot be
imported there, every attempt is noted with the module that made it, and ``sys.modules``
shows what the import really loaded. (With the extras installed, httpx imports click and
rich for its own command line; ``test_exported_members`` compares with that baseline.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

EXTRAS_ONLY = ("click", "rich", "uvicorn")

#: Makes EXTRAS_ONLY unimportable, as in a lean install, and notes which module asked.
_BLOCKER = f"""
import importlib.abc, json, sys

class Blocker(importlib.abc.MetaPathFinder):
    asked = []

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in {EXTRAS_ONLY!r}:
            return None
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__", "").startswith(
                ("importlib", "_frozen_importlib")):
            frame = frame.f_back
        importer = frame.f_globals.get("__name__", "?") if frame is not None else "?"
        self.asked.append([name, importer])
        raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, Blocker())
"""

_REPORT = f"""
print(json.dumps({{
    "loaded": sorted(m for m in sys.modules if m.partition(".")[0] in {EXTRAS_ONLY!r}),
    "asked": Blocker.asked,
}}))
"""


def _run(code: str) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return report


def test_import_imgcompat_works_and_asks_for_no_extra_when_they_are_missing() -> None:
    report = _run(_BLOCKER + "import imgcompat\nimgcompat.ImageClient" + _REPORT)
    assert report["loaded"] == []
    asked_by_imgcompat = [pair for pair in report["asked"]
                          if pair[1].partition(".")[0] == "imgcompat"]
    assert asked_by_imgcompat == []


def test_the_in_process_emulator_needs_no_server() -> None:
    """``imgcompat.testing`` and a client over ``sync_transport()`` work without uvicorn."""
    code = _BLOCKER + """
from imgcompat import ContainerFormat, DiskFormat, Image, ImageClient
from imgcompat.testing import Emulator
emu = Emulator(api="both")
client = ImageClient("http://glance.test", transport=emu.sync_transport())
made = client.create(Image(name="lean", disk_format=DiskFormat("raw"),
                           container_format=ContainerFormat("bare")), b"x" * 10)
assert client.show(made.id).name == "lean"
client.close()
""" + _REPORT
    report = _run(code)
    assert report["loaded"] == []
    assert not [pair for pair in report["asked"] if pair[1].partition(".")[0] == "imgcompat"]
