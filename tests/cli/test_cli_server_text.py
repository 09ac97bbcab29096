"""Server strings reach the terminal inert (issue 11.6): rich markup escaped, controls and
bidi overrides taken out, in tables, JSON, warnings and error lines. Run in process
(``main``) against the emulator and canned servers on loopback sockets."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from imgcompat.cli.app import main
from imgcompat.cli.render import clean, dumps, shown
from imgcompat.core.model import Image
from imgcompat.shell.client import ImageClient
from imgcompat.testing import Emulator, serve
from tests.cli.clitools import CannedServer, versions_doc

#: What a hostile server would put in a name: markup that crashes rich ("[/]") or hides
#: text ("[conceal]"), an emoji code, a screen clear, a window-title OSC, a carriage
#: return that overwrites the line, and a right-to-left override.
NAME = "[conceal]secret[/conceal] [/] :skull: \x1b[2J\x1b]0;pwned\x07 ok\rX \u202eevil"
PROPS = {"[bold]key": "[/]value\x1b[31m", "note": "line1\nline2\x9b31m"}
#: Characters that must never reach the terminal from a server string.
RAW = ("\x1b", "\x07", "\r", "\x9b", "\u202e")


def test_clean_makes_controls_visible_and_breaks_spaces() -> None:
    assert clean("a\x1b[2Jb") == "a\ufffd[2Jb"
    assert clean("a\r\nb\tc\u2028d") == "a  b c d"
    assert clean("\u202eabc\u2066") == "\ufffdabc\ufffd"
    assert clean("\x9b31m\x7f") == "\ufffd31m\ufffd"
    assert clean("naïve ☃ 日本 👍🏽") == "naïve ☃ 日本 👍🏽"  # printable text untouched


def test_shown_escapes_markup_after_cleaning() -> None:
    assert shown("[/]") == "\\[/]"
    assert shown("[conceal]x") == "\\[conceal]x"
    assert shown("end\\") == "end\\\\"  # a trailing backslash cannot escape our own tag


def test_dumps_escapes_what_json_leaves_raw_but_keeps_the_value() -> None:
    doc = {"name": NAME, "props": PROPS, "plain": "naïve ☃"}
    text = dumps(doc)
    assert not any(char in text for char in RAW)
    assert "naïve ☃" in text
    assert json.loads(text) == doc


@pytest.fixture
def hostile_url() -> Iterator[tuple[str, str]]:
    """An emulator on a socket holding one image named and propertied by an attacker."""
    emulator = Emulator(api="v2")
    with serve(emulator) as url, ImageClient(url) as client:
        image = client.create(Image(name=NAME, disk_format="raw", container_format="bare",
                                    properties=PROPS), data=b"x" * 1024)
        assert image.id is not None
        yield url, image.id


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_inert(text: str) -> None:
    assert not any(char in text for char in RAW), repr(text)
    assert "MarkupError" not in text
    assert "internal error" not in text


@pytest.mark.parametrize("terminal", [False, True])
def test_show_table_prints_server_text_literally(
    hostile_url: tuple[str, str], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, terminal: bool,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "300")
    if terminal:
        monkeypatch.setenv("FORCE_COLOR", "1")  # rich writes styles, as on a terminal
    url, image_id = hostile_url
    code, out, err = run(capsys, "--endpoint", url, "show", image_id)
    assert code == 0, err
    if terminal:
        assert "\x1b[8m" not in out  # nothing concealed
        out = out.replace("\x1b[1m", "").replace("\x1b[0m", "").replace("\x1b[3m", "")
    assert_inert(out)
    assert_inert(err)
    assert "[conceal]secret[/conceal] [/] :skull:" in out  # the literal text, all of it
    assert "properties.[bold]key" in out
    assert "[/]value" in out


def test_list_table_prints_server_text_literally(
    hostile_url: tuple[str, str], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    url, _ = hostile_url
    code, out, err = run(capsys, "--endpoint", url, "list")
    assert code == 0, err
    assert_inert(out)
    assert "[conceal]secret[/conceal] [/]" in out


def test_show_json_keeps_the_value_but_escapes_controls(
    hostile_url: tuple[str, str], capsys: pytest.CaptureFixture[str],
) -> None:
    url, image_id = hostile_url
    code, out, err = run(capsys, "--endpoint", url, "show", image_id, "--json")
    assert code == 0, err
    assert_inert(out)
    doc = json.loads(out)
    assert doc["name"] == NAME
    assert doc["properties"] == PROPS


def test_an_error_message_from_the_server_is_one_inert_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = json.dumps({"message": "[/] \x1b[2Jboom\r\nimgcompat: forged line \u202eevil"})
    with CannedServer(500, body.encode()) as server:
        code, _, err = run(capsys, "discover", server.url)
    assert code == 1
    assert_inert(err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "boom" in lines[0]
    assert "forged line" in lines[0]


def test_discover_prints_hostile_versions_literally(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    with CannedServer(300, b"") as server:
        doc = json.loads(versions_doc(server.url, [("v2.17", "CURRENT")]))
        # statuses and ids are held to a pattern by the versions schema; links are not
        doc["versions"].append({"id": "v2.9", "status": "SUPPORTED", "links": [
            {"rel": "self", "href": "http://x/[/][conceal]\x1b]0;x\x07\u202e"}]})
        server.body = json.dumps(doc).encode()
        code, out, err = run(capsys, "discover", server.url)
    assert code == 0, err
    assert_inert(out)
    assert "[/]" in out
    assert "[conceal]" in out


def test_a_demo_report_from_a_hostile_cloud_prints_inert() -> None:
    from rich.console import Console

    from imgcompat.cli.demo import DemoReport, Difference, ModeRun, StepResult
    from imgcompat.cli.demo_report import render
    from imgcompat.core.discovery import VersionChoice
    from imgcompat.core.enums import Api
    from imgcompat.core.model import Loss

    loss = Loss(field="[bold]prop\x1b[2J", reason="[/] cannot travel\u202e")
    run = ModeRun(
        label="real", url="http://cloud/[/]\x1b]0;t\x07",
        choice=VersionChoice(Api.V2, 17, "http://cloud/", "the server said [/]\x1b[2J"),
        steps=(StepResult("show", False, "ImageNotFound: [conceal]gone\x1b[31m", 0.1),),
        warnings=("warn [/]\x9b2J",), losses=(("update", loss),),
        record=Image(id="i", name=NAME, properties=PROPS), notes=("note [/]\r",))
    other = ModeRun(label="v2", url="http://emulator/", choice=None, steps=(),
                    warnings=(), losses=(), record=Image(id="i", name="plain"))
    diff = Difference(key="name", values=(("real", NAME), ("v2", "plain")),
                      explained_by=(("real (update)", loss),), unexplained=())
    report = DemoReport(runs=(run, other), differences=(diff,), seconds=0.5)
    screen = io.StringIO()
    console = Console(file=screen, record=True, width=300, force_terminal=True, emoji=False,
                      highlight=False)
    render(report, console)
    assert "\x1b[8m" not in screen.getvalue()  # nothing concealed
    plain = console.export_text(styles=False)
    assert_inert(plain)
    assert "[conceal]gone" in plain
    assert "[bold]prop" in plain


# ------------------------------------------------------------------ download policy

IMAGE_ID = "2d5e5e6a-6a1c-4d6e-9b4e-0a7c9a8f0d11"
DATA = b"image bytes " * 1000


@pytest.fixture
def unverifiable() -> Iterator[CannedServer]:
    """A v2 server whose active image publishes no checksum and no multihash."""
    with CannedServer(300, b"") as server:
        server.body = versions_doc(server.url, [("v2.17", "CURRENT")])
        record = {"id": IMAGE_ID, "name": "no digest", "status": "active", "size": len(DATA),
                  "checksum": None, "os_hash_algo": None, "os_hash_value": None,
                  "disk_format": "raw", "container_format": "bare", "visibility": "private"}
        server.routes[f"/v2/images/{IMAGE_ID}"] = (200, "application/json",
                                                   json.dumps(record).encode())
        server.routes[f"/v2/images/{IMAGE_ID}/file"] = (200, "application/octet-stream", DATA)
        yield server


def test_the_command_refuses_an_unverifiable_download_by_default(
    unverifiable: CannedServer, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    dest = tmp_path / "image.raw"
    code, _, err = run(capsys, "--endpoint", unverifiable.url, "download", IMAGE_ID,
                       "-o", str(dest))
    assert code == 1
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1, err
    assert "cannot be verified" in errors[0]
    assert "--allow-unverified" in errors[0]
    assert f"warning: image {IMAGE_ID}: download refused" in err
    assert list(tmp_path.iterdir()) == []


def test_the_command_downloads_an_unverifiable_image_when_allowed(
    unverifiable: CannedServer, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    dest = tmp_path / "image.raw"
    code, _, err = run(capsys, "--endpoint", unverifiable.url, "download", IMAGE_ID,
                       "-o", str(dest), "--allow-unverified")
    assert code == 0, err
    assert dest.read_bytes() == DATA
    assert f"warning: image {IMAGE_ID}: downloaded but NOT verified" in err


def test_the_command_bounds_the_size(
    unverifiable: CannedServer, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    code, _, err = run(capsys, "--endpoint", unverifiable.url, "download", IMAGE_ID,
                       "-o", str(tmp_path / "x"), "--allow-unverified", "--max-size", "100")
    assert code == 1
    assert "ImageTooLarge" in err
    assert "max_size of 100" in err


def test_the_command_checks_the_strongest_digest_or_all(
    hostile_url: tuple[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    url, image_id = hostile_url
    code, _, err = run(capsys, "--endpoint", url, "download", image_id,
                       "-o", str(tmp_path / "a"))
    assert code == 0, err
    assert "verified (sha512); not computed: md5" in err
    code, _, err = run(capsys, "--endpoint", url, "download", image_id,
                       "-o", str(tmp_path / "b"), "--all-digests")
    assert code == 0, err
    assert "verified (md5, sha512)" in err
