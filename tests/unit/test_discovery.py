"""choose_version and normalize_endpoint: unsorted lists, statuses, prefixes, pins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from imgcompat import Api, InvalidRecord
from imgcompat.core.discovery import choose_version, normalize_endpoint
from imgcompat.core.errors import VersionNotAvailable


def _doc(*entries: tuple[str, str], href: str = "http://glance:9292") -> dict[str, Any]:
    return {"versions": [
        {"id": vid, "status": status,
         "links": [{"rel": "self", "href": f"{href}/{vid.split('.')[0]}/"}]}
        for vid, status in entries]}


def test_real_server_document_is_unsorted(samples_dir: Path) -> None:
    doc = json.loads((samples_dir / "glance-v2-real/versions.json").read_text())["body"]
    choice = choose_version(doc)
    assert (choice.api, choice.minor, choice.root_url) == (Api.V2, 17, "http://127.0.0.1:19410")
    assert choice.label == "v2.17"
    assert choice.warnings == ()


def test_api_ref_documents(samples_dir: Path) -> None:
    head = json.loads((samples_dir / "glance-api-ref/versions/image-versions-response.json")
                      .read_text())
    assert choose_version(head).minor == 18
    queens = json.loads((samples_dir / "glance-api-ref/versions/queens/"
                         "image-versions-response.json").read_text())
    assert (choose_version(queens).api, choose_version(queens).minor) == (Api.V2, 6)
    pinned = choose_version(queens, pin=Api.V1)
    assert (pinned.api, pinned.minor) == (Api.V1, 1)
    assert pinned.warnings
    assert "deprecated" in pinned.warnings[0]


@pytest.mark.parametrize(
    ("entries", "api", "minor"),
    [
        ([("v2.15", "SUPPORTED"), ("v2.9", "SUPPORTED"), ("v2.17", "CURRENT"),
          ("v2.7", "SUPPORTED"), ("v2.0", "SUPPORTED")], "2", 17),
        ([("v2.7", "CURRENT"), ("v2.8", "EXPERIMENTAL")], "2", 7),
        ([("v2.6", "EXPERIMENTAL")], "2", 6),
        ([("v1.1", "CURRENT"), ("v2.3", "CURRENT")], "2", 3),  # Folsom-Juno: two CURRENT
        ([("v2.1", "CURRENT"), ("v2.10", "SUPPORTED"), ("v2.9", "SUPPORTED")], "2", 10),
        ([("v1.0", "SUPPORTED"), ("v1.1", "CURRENT")], "1", 1),
        ([("v2.2", "DEPRECATED"), ("v1.1", "CURRENT")], "2", 2),
    ],
)
def test_choice(entries: list[tuple[str, str]], api: str, minor: int) -> None:
    choice = choose_version(_doc(*entries))
    assert (choice.api.value, choice.minor) == (api, minor)
    assert choice.reason


def test_v1_fallback_warns() -> None:
    choice = choose_version(_doc(("v1.1", "DEPRECATED")))
    assert choice.api is Api.V1
    assert "no v2" in choice.reason
    assert choice.warnings


def test_pins() -> None:
    doc = _doc(("v2.17", "CURRENT"), ("v1.1", "DEPRECATED"))
    assert choose_version(doc, pin="1").api is Api.V1
    assert choose_version(doc, pin="2").api is Api.V2
    with pytest.raises(VersionNotAvailable):
        choose_version(_doc(("v2.17", "CURRENT")), pin=Api.V1)
    with pytest.raises(VersionNotAvailable):
        choose_version({"versions": []})


@pytest.mark.parametrize(
    ("href", "root"),
    [("https://cloud/image/v2/", "https://cloud/image"), ("http://h:9292/v2/", "http://h:9292"),
     ("http://h/v2", "http://h"), ("http://h/a/b/v2.1/", "http://h/a/b")],
)
def test_path_prefix_is_kept(href: str, root: str) -> None:
    doc = {"versions": [{"id": "v2.9", "status": "CURRENT",
                         "links": [{"rel": "self", "href": href}]}]}
    assert choose_version(doc).root_url == root


def test_missing_href_uses_the_endpoint() -> None:
    doc = {"versions": [{"id": "v2.9", "status": "CURRENT", "links": []}]}
    assert choose_version(doc, endpoint="http://h/image").root_url == "http://h/image"
    with pytest.raises(InvalidRecord):
        choose_version(doc)


@pytest.mark.parametrize(
    "doc", [{}, {"versions": "x"}, {"versions": [{"id": "2.1"}]}, [], None])
def test_bad_documents(doc: Any) -> None:
    with pytest.raises(InvalidRecord):
        choose_version(doc)


@pytest.mark.parametrize(
    ("url", "root", "pinned", "warns"),
    [
        ("http://h:9292", "http://h:9292", None, False),
        ("http://h:9292/", "http://h:9292", None, False),
        ("h:9292", "http://h:9292", None, False),
        ("https://cloud/image", "https://cloud/image", None, False),
        ("https://cloud/image/v2", "https://cloud/image", Api.V2, True),
        ("https://cloud/image/v2/", "https://cloud/image", Api.V2, True),
        ("http://h/v2.0", "http://h", Api.V2, True),
        ("http://h/v1", "http://h", Api.V1, True),
        ("http://h/v3", "http://h/v3", None, False),
    ],
)
def test_normalize_endpoint(url: str, root: str, pinned: Api | None, warns: bool) -> None:
    endpoint = normalize_endpoint(url)
    assert (endpoint.root, endpoint.pinned_major, endpoint.configured) == (root, pinned, url)
    assert (endpoint.warning is not None) is warns
    if warns:
        assert root in (endpoint.warning or "")


@pytest.mark.parametrize("url", ["", "ftp://h", "http://", "["])
def test_bad_endpoints(url: str) -> None:
    with pytest.raises(InvalidRecord):
        normalize_endpoint(url)
