"""The command without its extras: one line naming the extra to install, never a traceback.

``pip install imgcompat`` has no click, rich or uvicorn; these tests hide them from a child
Python (``hide_modules``) and run every way in: ``imgcompat.cli.main()``, ``python -m
imgcompat`` and the console script.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from imgcompat.cli import MISSING_EXTRA
from imgcompat.testing import Emulator, MissingExtra, serve
from tests.cli.clitools import IMGCOMPAT, assert_one_line_error, hide_modules, run_cli

MAIN = (sys.executable, "-c", "import sys, imgcompat.cli; sys.exit(imgcompat.cli.main())")
DASH_M = (sys.executable, "-m", "imgcompat")
ENTRY_POINTS = pytest.mark.parametrize("command", [MAIN, DASH_M, IMGCOMPAT],
                                       ids=["cli.main", "python -m", "console script"])


def _only_the_missing_extra_line(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.splitlines() == [MISSING_EXTRA]


@ENTRY_POINTS
@pytest.mark.parametrize("hidden", [("click", "rich"), ("click",), ("rich",)])
def test_without_the_cli_extra_one_line_names_it(tmp_path: Path, command: tuple[str, ...],
                                                 hidden: tuple[str, ...]) -> None:
    result = run_cli("--help", command=command, env=hide_modules(tmp_path, *hidden))
    _only_the_missing_extra_line(result)
    assert "imgcompat[cli]" in result.stderr


@ENTRY_POINTS
def test_the_extra_line_comes_whatever_the_arguments(tmp_path: Path,
                                                     command: tuple[str, ...]) -> None:
    _only_the_missing_extra_line(run_cli(command=command,
                                         env=hide_modules(tmp_path, "click", "rich")))


def test_with_the_cli_extra_the_command_runs(tmp_path: Path) -> None:
    """The stub path itself hides nothing else: uvicorn alone hidden, translate still works."""
    result = run_cli("translate", "--from", "seam", "--to", "seam", stdin='{"name": "x"}',
                     env=hide_modules(tmp_path, "uvicorn"))
    assert result.returncode == 0, result.stderr
    assert '"name": "x"' in result.stdout


def test_an_unrelated_missing_module_is_not_blamed_on_the_extra(tmp_path: Path) -> None:
    """Only click and rich mean 'install the cli extra'; a broken install stays visible."""
    result = run_cli("--help", command=MAIN, env=hide_modules(tmp_path, "httpx"))
    assert result.returncode == 1
    assert MISSING_EXTRA not in result.stderr
    assert "ModuleNotFoundError" in result.stderr


@pytest.mark.parametrize("args", [("serve", "--port", "0"), ("demo",)])
def test_without_the_emulator_extra_serve_and_demo_name_it(tmp_path: Path,
                                                           args: tuple[str, ...]) -> None:
    result = run_cli(*args, env=hide_modules(tmp_path, "uvicorn"), timeout=30)
    assert_one_line_error(result, 1, "MissingExtra", "pip install 'imgcompat[emulator]'")


def test_serve_without_uvicorn_raises_missing_extra_before_binding(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(MissingExtra, match=r"imgcompat\[emulator\]") as caught, \
            serve(Emulator()):
        pass  # pragma: no cover - never reached
    assert caught.value.extra == "emulator"
    assert isinstance(caught.value, ImportError)
    assert len(str(caught.value).splitlines()) == 1
