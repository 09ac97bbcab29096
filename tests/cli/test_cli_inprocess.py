"""The CLI's pieces in process (faster than a child process where nothing is lost)."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner

from imgcompat.cli.app import cli, main
from imgcompat.cli.render import ReadProgress, TransferProgress
from imgcompat.cli.translate import parse_header_lines, parse_record, render_record
from imgcompat.core.errors import InvalidRecord


def test_header_lines_keep_the_last_response_and_join_folded_lines() -> None:
    text = ("HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\n"
            "HTTP/1.1 200 OK\r\nX-Image-Meta-Name: a\r\n  b\r\nX-Image-Meta-Size: 3\r\n")
    assert parse_header_lines(text) == [("X-Image-Meta-Name", "a b"),
                                        ("X-Image-Meta-Size", "3")]


@pytest.mark.parametrize("text", ["no colon here\n", " folded first\n", "Name : v\n",
                                  ": empty name\n"])
def test_bad_header_lines_are_refused(text: str) -> None:
    with pytest.raises(InvalidRecord, match="line 1"):
        parse_header_lines(text)


def test_render_record_seam_round_trip() -> None:
    image = parse_record("seam", json.dumps({"id": "i", "name": "ü", "status": "active",
                                             "properties": {"mappings": [{"a": 1}]}}))
    out = render_record(image, "seam", minor=17, request=False, locations=False)
    assert out.losses == ()
    assert json.loads(out.value)["properties"] == {"mappings": [{"a": 1}]}


def test_read_progress_counts_reads_and_rewinds() -> None:
    calls: list[tuple[int, int | None]] = []
    reader = ReadProgress(io.BytesIO(b"x" * 10), lambda d, t: calls.append((d, t)), 10)
    assert reader.seekable()
    assert reader.read(4) == b"xxxx"
    assert reader.read(100) == b"x" * 6
    assert calls == [(4, 10), (10, 10)]
    reader.seek(0)  # a retried upload starts again
    assert reader.tell() == 0
    reader.read(3)
    assert calls[-1] == (3, 10)


def test_transfer_progress_tracks_bytes_and_total() -> None:
    with TransferProgress("download", enabled=False) as bar:
        bar(512, None)
        bar(2048, 4096)
    assert (bar.done, bar.total) == (2048, 4096)
    assert bar.summary().startswith("2.0 KiB in ")


def test_cli_runner_translate() -> None:
    result = CliRunner().invoke(cli, ["translate", "--from", "seam", "--to", "v1-headers"],
                                input=json.dumps({"name": "x", "tags": ["t"]}))
    assert result.exit_code == 0, result.output
    assert "x-image-meta-name: x" in result.stdout
    assert "loss: tags: v1 has no tags" in result.stderr


def test_main_returns_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert main(["translate", "--from", "nope", "--to", "seam"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("imgcompat: usage error: ")
    assert len(err.strip().splitlines()) == 1
