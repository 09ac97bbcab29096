"""``imgcompat discover`` against loopback servers: the document, the choice, the reason."""

from __future__ import annotations

import json

import pytest

from tests.cli.clitools import CannedServer, assert_one_line_error, free_port, run_cli, versions_doc


def test_discover_prefers_the_highest_v2_of_an_unsorted_list(
        canned_versions: CannedServer) -> None:
    result = run_cli("discover", canned_versions.url)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "v2.17" in out
    assert "CURRENT" in out
    assert "v1.0" in out
    assert "v2 preferred" in out
    # the table lists the highest version first whatever the server's order
    assert out.index("v2.17") < out.index("v2.8") < out.index("v2.3") < out.index("v1.1")
    assert result.stderr == ""
    assert canned_versions.paths == ["/"]


def test_discover_json_and_pinning_v1_warns_about_deprecation(
        canned_versions: CannedServer) -> None:
    result = run_cli("discover", "--pin", "1", "--json", canned_versions.url)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["choice"]["label"] == "v1.1"
    assert doc["choice"]["root_url"] == canned_versions.url
    assert "pinned" in doc["choice"]["reason"]
    assert len(doc["versions"]) == 5
    assert "imgcompat: warning: Glance v1 is deprecated" in result.stderr


def test_global_api_version_pins_too(canned_versions: CannedServer) -> None:
    result = run_cli("--api-version", "1", "discover", "--json", canned_versions.url)
    assert json.loads(result.stdout)["choice"]["api"] == "1"


def test_endpoint_from_the_environment(canned_versions: CannedServer) -> None:
    result = run_cli("discover", "--json", env={"OS_IMAGE_URL": canned_versions.url})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["choice"]["label"] == "v2.17"


def test_versioned_url_is_normalised_with_a_warning(canned_versions: CannedServer) -> None:
    result = run_cli("discover", "--json", canned_versions.url + "/v2")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["endpoint"] == canned_versions.url
    assert "names a version" in doc["endpoint_warning"]
    assert "imgcompat: warning: the image API endpoint" in result.stderr
    assert canned_versions.paths == ["/"]


def test_v1_only_server_falls_back_to_v1() -> None:
    with CannedServer(300, b"") as server:
        server.body = versions_doc(server.url, [("v1.1", "CURRENT"), ("v1.0", "SUPPORTED")])
        result = run_cli("discover", server.url)
    assert result.returncode == 0, result.stderr
    assert "falling back to v1.1" in result.stdout
    assert "deprecated" in result.stderr


def test_asking_for_a_missing_major_fails() -> None:
    with CannedServer(200, b"") as server:
        server.body = versions_doc(server.url, [("v2.15", "CURRENT")])
        result = run_cli("discover", "--pin", "1", server.url)
    assert_one_line_error(result, 1, "VersionNotAvailable", "v1", "v2")


def test_connection_refused_is_one_line() -> None:
    result = run_cli("--timeout", "5", "discover", f"http://127.0.0.1:{free_port()}")
    assert_one_line_error(result, 1, "ConnectionFailed", "cannot reach")


def test_http_error_is_typed() -> None:
    with CannedServer(404, b'{"message": "no such thing"}') as server:
        result = run_cli("discover", server.url)
    assert_one_line_error(result, 1, "NotFound", "no such thing", "404")


def test_not_a_versions_document() -> None:
    with CannedServer(200, b"<html>hello</html>", "text/html") as server:
        result = run_cli("discover", server.url)
    assert_one_line_error(result, 1, "not valid JSON")
    with CannedServer(300, b'{"versions": "many"}') as server:
        result = run_cli("discover", server.url)
    assert_one_line_error(result, 1, "InvalidRecord")


def test_usage_errors() -> None:
    assert_one_line_error(run_cli("discover"), 2, "URL")
    assert_one_line_error(run_cli("discover", "ftp://example.org"), 1, "not an http(s) URL")
    assert_one_line_error(run_cli("discover", "--pin", "3", "http://x"), 2, "--pin")
    assert_one_line_error(run_cli("no-such-command"), 2, "no-such-command")


@pytest.mark.parametrize("spelling", ["1", "v1", "1.0", "V1"])
def test_api_version_as_users_spell_it(canned_versions: CannedServer, spelling: str) -> None:
    result = run_cli("--api-version", spelling, "discover", "--json", canned_versions.url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["choice"]["api"] == "1"


def test_unknown_api_version_lists_the_spellings(canned_versions: CannedServer) -> None:
    result = run_cli("--api-version", "v3", "discover", canned_versions.url)
    assert_one_line_error(result, 2, "--api-version", "v2")
