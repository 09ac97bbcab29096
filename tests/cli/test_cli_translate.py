"""``imgcompat translate`` run as a user would: stdin in, stdout out, losses on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.clitools import assert_one_line_error, run_cli

V1_HEADERS = """HTTP/1.1 200 OK
Content-Length: 0
X-Image-Meta-Id: 71c675ab-d94f-49cd-a114-e12490b328d9
X-Image-Meta-Name: caf%C3%A9
X-Image-Meta-Status: active
X-Image-Meta-Is_public: False
X-Image-Meta-Size: 13
X-Image-Meta-Checksum: 3e25960a79dbc69b674cd4ec67a72c62
X-Image-Meta-Disk_format: raw
X-Image-Meta-Container_format: bare
X-Image-Meta-Created_at: 2016-06-21T03:22:20.000000
X-Image-Meta-Updated_at: 2016-06-21T03:22:20.000000
X-Image-Meta-Deleted: False
X-Image-Meta-Property-Block_device_mapping: [{"boot_index": 0}]
X-Image-Meta-Property-desc: snow%20%E2%98%83
"""

SEAM = {
    "id": "71c675ab-d94f-49cd-a114-e12490b328d9", "name": "café", "status": "active",
    "visibility": "shared", "size": 13, "checksum": "3e25960a79dbc69b674cd4ec67a72c62",
    "disk_format": "raw", "container_format": "bare", "tags": ["gold"],
    "created_at": "2016-06-21T03:22:20Z", "updated_at": "2016-06-21T03:22:20Z",
    "properties": {"desc": "snow ☃", "block_device_mapping": [{"boot_index": 0}]},
}


def losses(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("loss: ")]


def test_v1_headers_to_seam_decodes_text_and_structured_properties() -> None:
    result = run_cli("translate", "--from", "v1-headers", "--to", "seam", stdin=V1_HEADERS)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["name"] == "café"
    assert doc["properties"] == {"block_device_mapping": [{"boot_index": 0}],
                                 "desc": "snow ☃"}
    assert doc["is_public"] is False
    assert doc["visibility"] == "private"
    assert doc["created_at"] == "2016-06-21T03:22:20Z"
    assert losses(result.stderr) == []


def test_seam_to_v1_headers_reports_what_v1_cannot_carry() -> None:
    result = run_cli("translate", "--from", "seam", "--to", "v1-headers",
                     stdin=json.dumps(SEAM))
    assert result.returncode == 0, result.stderr
    headers = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert headers["x-image-meta-name"] == "caf%C3%A9"
    assert headers["x-image-meta-property-desc"] == "snow%20%E2%98%83"
    assert headers["x-image-meta-is_public"] == "False"
    reported = losses(result.stderr)
    assert "loss: tags: v1 has no tags" in reported
    assert any(line.startswith("loss: visibility: v1 has only is_public") for line in reported)
    assert any(line.startswith("loss: properties.desc: travels percent-encoded")
               for line in reported)


def test_v1_headers_round_trip_through_the_seam() -> None:
    seam = run_cli("translate", "--from", "v1-headers", "--to", "seam", stdin=V1_HEADERS)
    back = run_cli("translate", "--from", "seam", "--to", "v1-headers", stdin=seam.stdout)
    again = run_cli("translate", "--from", "v1-headers", "--to", "seam", stdin=back.stdout)
    assert back.returncode == again.returncode == 0
    assert json.loads(again.stdout) == json.loads(seam.stdout)


def test_v2_json_to_seam_and_back_is_lossless() -> None:
    v2 = run_cli("translate", "--from", "seam", "--to", "v2-json", stdin=json.dumps(SEAM))
    assert v2.returncode == 0, v2.stderr
    entity = json.loads(v2.stdout)
    assert entity["visibility"] == "shared"
    assert entity["tags"] == ["gold"]
    assert json.loads(entity["block_device_mapping"]) == [{"boot_index": 0}]
    assert losses(v2.stderr) == []
    seam = run_cli("translate", "--from", "v2-json", "--to", "seam", stdin=v2.stdout)
    assert seam.returncode == 0, seam.stderr
    doc = json.loads(seam.stdout)
    assert {k: doc[k] for k in SEAM} == SEAM


def test_request_form_sends_only_writable_fields() -> None:
    result = run_cli("translate", "--from", "seam", "--to", "v2-json", "--request",
                     stdin=json.dumps(SEAM))
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert "status" not in body
    assert "size" not in body
    assert "checksum" not in body
    assert body["name"] == "café"


def test_old_minor_loses_multihash() -> None:
    record = {**SEAM, "os_hash_algo": "sha512", "os_hash_value": "ab" * 64}
    result = run_cli("translate", "--from", "seam", "--to", "v2-json", "--minor", "6",
                     stdin=json.dumps(record))
    assert result.returncode == 0, result.stderr
    assert "loss: os_hash_value: v2.6 has no multihash (2.7+)" in losses(result.stderr)
    assert "os_hash_value" not in json.loads(result.stdout) or \
        json.loads(result.stdout)["os_hash_value"] is None


def test_v2_patch_from_a_current_and_wanted_pair() -> None:
    current = {**SEAM, "properties": {"a": "1", "b": "2"}}
    wanted = {**SEAM, "name": "renamed", "properties": {"a": "1", "c": "ü"}}
    stdin = json.dumps({"current": current, "wanted": wanted})
    result = run_cli("translate", "--from", "seam", "--to", "v2-patch", stdin=stdin)
    assert result.returncode == 0, result.stderr
    ops = json.loads(result.stdout)
    assert {"op": "replace", "path": "/name", "value": "renamed"} in ops
    assert {"op": "add", "path": "/c", "value": "ü"} in ops
    assert {"op": "remove", "path": "/b"} in ops
    assert len(ops) == 3
    kept = run_cli("translate", "--from", "seam", "--to", "v2-patch", "--no-purge",
                   stdin=stdin)
    assert {"op": "remove", "path": "/b"} not in json.loads(kept.stdout)


def test_v2_patch_with_current_file_from_v1_headers(tmp_path: Path) -> None:
    current = tmp_path / "current.txt"
    current.write_text(V1_HEADERS, encoding="utf-8")
    wanted = V1_HEADERS.replace("X-Image-Meta-Property-desc: snow%20%E2%98%83\n", "")
    result = run_cli("translate", "--from", "v1-headers", "--to", "v2-patch",
                     "--current", str(current), stdin=wanted)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"op": "remove", "path": "/desc"}]


def test_strict_fails_when_something_is_lost() -> None:
    result = run_cli("translate", "--strict", "--from", "seam", "--to", "v1-headers",
                     stdin=json.dumps(SEAM))
    assert result.stdout  # the translation is still printed
    assert_one_line_error(result, 1, "lost")
    ok = run_cli("translate", "--strict", "--from", "v1-headers", "--to", "seam",
                 stdin=V1_HEADERS)
    assert ok.returncode == 0


@pytest.mark.parametrize(
    ("args", "stdin", "code", "needle"),
    [
        (("--from", "v2-json", "--to", "seam"), "{not json", 1, "not valid JSON"),
        (("--from", "v2-json", "--to", "seam"), "[1, 2]", 1, "must be a JSON object"),
        (("--from", "seam", "--to", "seam"), '{"colour": "red"}', 1, "colour"),
        (("--from", "v1-headers", "--to", "seam"), "garbage\n", 1, "line 1"),
        (("--from", "v1-headers", "--to", "seam"), "Content-Type: a/b\n", 1,
         "no x-image-meta-* headers"),
        (("--from", "v2-json", "--to", "seam"), '{"id": "x", "size": "big"}', 1, "size"),
        (("--from", "seam", "--to", "v2-patch"), '{"wanted": {}}', 1, "current"),
        (("--from", "v1-headers", "--to", "v2-patch"), V1_HEADERS, 2, "--current"),
        (("--from", "seam", "--to", "seam", "--current", "x"), "{}", 2, "--current"),
        (("--from", "xml", "--to", "seam"), "{}", 2, "--from"),
        (("--from", "seam"), "{}", 2, "--to"),
        (("--from", "seam", "--to", "seam"), "", 2, "stdin"),
    ],
)
def test_error_paths_print_one_line(args: tuple[str, ...], stdin: str, code: int,
                                    needle: str) -> None:
    result = run_cli("translate", *args, stdin=stdin)
    line = assert_one_line_error(result, code, needle)
    assert line.startswith("imgcompat: usage error:" if code == 2 else "imgcompat: error:")


def test_debug_shows_the_traceback() -> None:
    result = run_cli("--debug", "translate", "--from", "v2-json", "--to", "seam",
                     stdin="{not json")
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "not valid JSON" in result.stderr.splitlines()[-1]


def test_missing_current_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("translate", "--from", "seam", "--to", "v2-patch", "--current",
                     str(tmp_path / "nope.json"), stdin="{}")
    assert_one_line_error(result, 1, "nope.json")
