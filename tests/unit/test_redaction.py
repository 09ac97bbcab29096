"""The one redaction function and what rides on it: every spelling of a secret, a secret
cut by a truncation, errors and their chains, URL credentials, the clients' messages."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import httpx
import pytest
from tenacity import wait_none

from imgcompat.core.discovery import choose_version, normalize_endpoint
from imgcompat.core.errors import ImageNotFound, InvalidRecord, UnexpectedResponse, error_for
from imgcompat.core.exchange import Response, answer_object
from imgcompat.core.redaction import (
    REDACTED,
    Credentials,
    redact,
    scrub_error,
    secret_forms,
    split_userinfo,
    without_userinfo,
)
from imgcompat.shell.auth import CallableToken
from imgcompat.shell.client import ImageClient
from imgcompat.shell.config import ClientConfig

TOKEN = "tok\"en'\\-0123456789abcdef"


@pytest.mark.parametrize("spelled", [
    TOKEN, repr(TOKEN), repr(TOKEN.encode()), json.dumps(TOKEN), json.dumps({"t": TOKEN}),
    "tok%22en%27%5C-0123456789abcdef", "tok&quot;en&#x27;\\-0123456789abcdef",
])
def test_every_spelling_of_a_secret_is_redacted(spelled: str) -> None:
    text = redact(f"before {spelled} after", [TOKEN])
    assert "0123456789abcdef" not in text
    assert text.startswith("before ")
    assert text.endswith(" after")
    assert REDACTED in text


def test_a_secret_cut_by_a_truncation_is_redacted() -> None:
    message = "x" * 20 + TOKEN[:12] + "…"
    assert redact(message, [TOKEN]) == "x" * 20 + REDACTED + "…"
    # a prefix of 3 characters is ordinary text
    assert redact("ab tok…", [TOKEN]) == "ab tok…"
    # a body message cut at 500 characters, through the real error path
    error = error_for(400, b"y" * 490 + TOKEN.encode(), None)
    assert "…" in error.message
    assert "0123" not in redact(error.message, [TOKEN])
    with pytest.raises(UnexpectedResponse) as info:
        answer_object(Response(200, (), b"z" * 70 + TOKEN.encode()), None)
    assert "…" in str(info.value)
    assert "0123" not in redact(str(info.value), [TOKEN])


def test_no_secret_no_change() -> None:
    assert redact("plain", []) == "plain"
    assert redact("plain", [None, ""]) == "plain"
    assert secret_forms("abc")[0] == "abc"


def _cause(error: BaseException) -> BaseException | None:
    return error.__cause__


def test_an_error_and_its_chain_are_scrubbed() -> None:
    exc = InvalidRecord(f"bad value {TOKEN!r}", field="name")
    exc.__cause__ = ValueError(f"parser saw {TOKEN}")
    exc.add_note(f"note {TOKEN}")
    assert scrub_error(exc, [TOKEN]) is exc
    assert "0123456789abcdef" not in f"{exc} {exc!r} {exc.message} {exc.__notes__}"
    assert _cause(exc) is None  # the foreign ValueError showed it: cut off
    clean = ImageNotFound("gone", image_id="x")
    clean.__cause__ = KeyError("harmless")
    scrub_error(clean, [TOKEN])
    assert isinstance(clean.__cause__, KeyError)


@pytest.mark.parametrize(("url", "clean", "user", "password"), [
    ("http://admin:s3cret@h:9292/image", "http://h:9292/image", "admin", "s3cret"),
    ("https://u%40x:p%3Aw@h", "https://h", "u@x", "p:w"),
    ("http://tokenonly@h", "http://h", "tokenonly", None),
    ("http://h/v2", "http://h/v2", None, None),
    ("http://a:p@ss@h/x", "http://h/x", "a", "p@ss"),
])
def test_userinfo_is_split_off(url: str, clean: str, user: str | None,
                               password: str | None) -> None:
    root, credentials = split_userinfo(url)
    assert root == clean
    assert without_userinfo(url) == clean
    if user is None:
        assert credentials is None
        return
    assert credentials is not None
    assert (credentials.username, credentials.password) == (user, password)
    pair = f"{user}:{password or ''}".encode()
    assert credentials.authorization() == "Basic " + base64.b64encode(pair).decode()
    assert (password or user) in credentials.secrets()
    assert repr(credentials) == "Credentials(***)"


def test_urls_are_shown_without_userinfo_everywhere() -> None:
    assert without_userinfo("see ftp://u:p@host/x and http://v:q@[::1]:80/") == (
        "see ftp://host/x and http://[::1]:80/")
    endpoint = normalize_endpoint("http://admin:pw@h/v2")
    assert (endpoint.root, endpoint.configured) == ("http://h", "http://h/v2")
    assert "pw" not in repr(endpoint) + (endpoint.warning or "")
    assert endpoint.credentials == Credentials("admin", "pw")
    with pytest.raises(InvalidRecord) as info:
        normalize_endpoint("ftp://admin:pw@h")
    assert "pw" not in str(info.value)
    config = ClientConfig(api_servers="http://admin:pw@h")
    assert "pw" not in repr(config)
    doc = {"versions": [{"id": "v2.9", "status": "CURRENT",
                         "links": [{"rel": "self", "href": "http://u:secret@elsewhere/v2/"}]}]}
    assert choose_version(doc).root_url == "http://elsewhere"


def test_a_callable_token_repr_shows_no_token() -> None:
    import functools

    source = CallableToken(functools.partial(str, "partial-secret"))
    assert "partial-secret" not in repr(source)
    client = ImageClient("http://h", token=functools.partial(str, "partial-secret"),
                         transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    assert "partial-secret" not in repr(client)


def _client(handler: Any, **options: Any) -> ImageClient:
    return ImageClient("http://admin:pw-in-url@glance.test", backoff=wait_none(),
                       transport=httpx.MockTransport(handler), **options)


def test_the_clients_last_token_is_redacted_even_after_it_changed(
        caplog: pytest.LogCaptureFixture) -> None:
    tokens = iter(["first-token-value", "second-token-value"])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            return httpx.Response(300, json={"versions": [{"id": "v2.9", "status": "CURRENT",
                                                           "links": []}]})
        assert request.headers["authorization"].startswith("Basic ")
        assert "@" not in str(request.url)
        return httpx.Response(404, text="no image for first-token-value "
                                         f"or {request.headers['x-auth-token']}")

    client = _client(handler, token=lambda: next(tokens))
    with caplog.at_level(logging.DEBUG), pytest.raises(ImageNotFound) as info:
        client.show("6b1f8b8e-0a2d-4e38-9d2a-9b0c7f1b3a10")
    text = str(info.value) + caplog.text
    assert "first-token-value" not in text
    assert "second-token-value" not in text
    assert "pw-in-url" not in text + repr(client)


def test_a_secret_is_never_put_in_a_url() -> None:
    token = "0123456789abcdef0123456789abcdef"  # a keystone UUID token: an id-like marker

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            return httpx.Response(300, json={"versions": [{"id": "v2.9", "status": "CURRENT",
                                                           "links": []}]})
        assert token not in str(request.url)
        return httpx.Response(200, json={"images": [], "next": f"/v2/images?marker={token}"})

    client = _client(handler, token=token)
    listing = client.detail()
    assert list(listing) == []  # an empty page ends the listing whatever it links to

    def linking(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            return handler(request)
        image = {"id": "6b1f8b8e-0a2d-4e38-9d2a-9b0c7f1b3a10", "name": "n",
                 "status": "queued", "visibility": "private", "protected": False,
                 "tags": [], "min_disk": 0, "min_ram": 0, "created_at": "2024-01-01T00:00:00Z",
                 "updated_at": "2024-01-01T00:00:00Z"}
        return httpx.Response(200, json={"images": [image],
                                         "next": f"/v2/images?marker={token}"})

    with pytest.raises(UnexpectedResponse, match="secret"):
        list(_client(linking, token=token).detail())
