"""``list``, ``show``, ``upload`` and ``download`` run as a user would, against the
emulator on a loopback socket; their error paths print one line and exit 1 or 2."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from imgcompat.testing import Emulator
from tests.cli.clitools import IMGCOMPAT, assert_one_line_error, clean_env, free_port, run_cli

SECRET = "s3cr3t-token-value"


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    path = tmp_path / "disk.raw"
    path.write_bytes(os.urandom(300_000))
    return path


def upload(url: str, path: Path, *extra: str) -> dict[str, object]:
    result = run_cli("--endpoint", url, "upload", str(path), "--name", "cli café",
                     "--property", "description=naïve ☃", "--property", "os_distro=ubuntu",
                     "--json", *extra)
    assert result.returncode == 0, result.stderr
    assert "verified (md5, sha512)" in result.stderr
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def test_upload_show_list_download_round_trip(glance_url: str, image_file: Path,
                                              tmp_path: Path) -> None:
    data = image_file.read_bytes()
    record = upload(glance_url, image_file)
    assert record["status"] == "active"
    assert record["size"] == len(data)
    assert record["checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert record["properties"] == {"description": "naïve ☃", "os_distro": "ubuntu"}
    image_id = str(record["id"])

    shown = run_cli("--endpoint", glance_url, "show", image_id, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == record

    table = run_cli("--endpoint", glance_url, "show", image_id)
    assert "properties.description" in table.stdout
    assert "naïve ☃" in table.stdout

    listed = run_cli("--endpoint", glance_url, "list", "--json",
                     "--filter", "property-os_distro=ubuntu",
                     "--changes-since", "2000-01-01T00:00:00Z")
    assert listed.returncode == 0, listed.stderr
    assert [doc["id"] for doc in json.loads(listed.stdout)] == [image_id]
    assert "loss: changes-since: v2 cannot list deleted images" in listed.stderr
    none = run_cli("--endpoint", glance_url, "list", "--json",
                   "--filter", "property-os_distro=debian")
    assert json.loads(none.stdout) == []

    out = tmp_path / "copy.raw"
    got = run_cli("--endpoint", glance_url, "download", image_id, "-o", str(out))
    assert got.returncode == 0, got.stderr
    assert out.read_bytes() == data
    assert "verified" in got.stderr
    assert "NOT verified" not in got.stderr


def test_list_table_and_v1_pin_warns(glance_url: str, image_file: Path) -> None:
    upload(glance_url, image_file)
    table = run_cli("--endpoint", glance_url, "list")
    assert table.returncode == 0, table.stderr
    assert "1 image(s)" in table.stdout
    assert "active" in table.stdout
    v1 = run_cli("--endpoint", glance_url, "--api-version", "1", "list", "--json")
    assert v1.returncode == 0, v1.stderr
    assert len(json.loads(v1.stdout)) == 1
    assert "imgcompat: warning: Glance v1 is deprecated" in v1.stderr


def test_download_to_stdout(glance_url: str, image_file: Path) -> None:
    image_id = str(upload(glance_url, image_file)["id"])
    result = subprocess.run([*IMGCOMPAT, "--endpoint", glance_url, "download", image_id,
                             "-o", "-"], capture_output=True, env=clean_env(), timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == image_file.read_bytes()


def test_upload_through_v1_and_from_stdin(glance_url: str, image_file: Path) -> None:
    result = subprocess.run(
        [*IMGCOMPAT, "--endpoint", glance_url, "--api-version", "1", "upload", "-",
         "--name", "piped", "--json"], input=image_file.read_bytes(), capture_output=True,
        env=clean_env(), timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["size"] == image_file.stat().st_size
    assert b"verified (md5)" in result.stderr


def test_corrupt_download_fails_and_leaves_no_file(glance_url: str, emulator: Emulator,
                                                   image_file: Path, tmp_path: Path) -> None:
    image_id = str(upload(glance_url, image_file)["id"])
    emulator.faults.corrupt_next_download()
    out = tmp_path / "bad.raw"
    result = run_cli("--endpoint", glance_url, "download", image_id, "-o", str(out))
    assert_one_line_error(result, 1, "ChecksumMismatch", image_id)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [image_file]


def test_missing_image_is_one_line(glance_url: str) -> None:
    missing = "0b6b4c4f-5d2a-4f0b-9a51-6f1c7b3f5a10"
    for args in (("show", missing), ("download", missing, "-o", "x.raw")):
        result = run_cli("--endpoint", glance_url, *args)
        assert_one_line_error(result, 1, "ImageNotFound", missing)


def test_token_is_sent_but_never_printed(glance_url: str) -> None:
    result = run_cli("--debug", "--endpoint", glance_url, "show", "nope",
                     env={"OS_AUTH_TOKEN": SECRET})
    assert result.returncode == 1
    assert SECRET not in result.stdout + result.stderr
    helped = run_cli("--help", env={"OS_AUTH_TOKEN": SECRET})
    assert SECRET not in helped.stdout


def test_unreachable_endpoint_fails_after_retries() -> None:
    result = run_cli("--endpoint", f"http://127.0.0.1:{free_port()}", "--retries", "0",
                     "list")
    assert_one_line_error(result, 1, "ConnectionFailed")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("list",), "no image API endpoint"),
        (("--endpoint", "http://x", "list", "--filter", "novalue"), "KEY=VALUE"),
        (("--endpoint", "http://x", "list", "--changes-since", "yesterday"),
         "--changes-since"),
        (("--endpoint", "http://x", "upload", "/no/such/file", "--name", "n"), "FILE"),
        (("--endpoint", "http://x", "upload", "-", "--name", "n", "--property", "k"),
         "--property"),
        (("--endpoint", "http://x", "download", "some-id"), "--output"),
        (("--endpoint", "http://x", "show"), "IMAGE_ID"),
        (("--api-version", "3", "list"), "--api-version"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], needle: str) -> None:
    assert_one_line_error(run_cli(*args), 2, needle)


def test_download_into_a_missing_directory(glance_url: str, image_file: Path,
                                           tmp_path: Path) -> None:
    image_id = str(upload(glance_url, image_file)["id"])
    result = run_cli("--endpoint", glance_url, "download", image_id,
                     "-o", str(tmp_path / "no" / "dir" / "x.raw"))
    assert_one_line_error(result, 1)


def test_endpoint_from_the_environment(glance_url: str, image_file: Path) -> None:
    image_id = str(upload(glance_url, image_file)["id"])
    result = run_cli("show", image_id, "--json", env={"OS_IMAGE_URL": glance_url})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["id"] == image_id
