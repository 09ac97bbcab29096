"""Secrets under a hostile server: the token never leaves for another host, and never
shows in an error, a log line, a repr or the command's stderr (issue 11, "Secrets in
errors"). Each case is reproduced against a real socket, with both clients."""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Callable

import pytest

from imgcompat.core.errors import (
    ConnectionFailed,
    ImageBadRequest,
    InvalidServerRecord,
    UnexpectedResponse,
)
from tests.cli.clitools import run_cli
from tests.hostile.drivers import Driver
from tests.hostile.server import (
    Answer,
    HostileServer,
    OtherHost,
    Seen,
    echo,
    image_record,
    json_answer,
    routes,
    versions,
)

TOKEN = "gAAAAABhostile-token-0123456789"
SERVICE = "gAAAAABservice-token-9876543210"
PASSWORD = "pa55-w0rd-in-the-url"
IMAGE_ID = "6b1f8b8e-0a2d-4e38-9d2a-9b0c7f1b3a10"
SECRETS = (TOKEN, SERVICE, PASSWORD, base64.b64encode(f"admin:{PASSWORD}".encode()).decode())


def shown(error: BaseException) -> str:
    """Everything a caller, a log or a traceback can show of ``error``."""
    return "".join(traceback.format_exception(error)) + repr(error) + repr(vars(error))


def assert_clean(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, (secret, text[:2000])


def test_a_redirect_to_another_host_is_not_followed(
        hostile: HostileServer, other_host: OtherHost, driver: Callable[..., Driver]) -> None:
    hostile.script(routes({
        ("GET", "/"): versions(hostile.url),
        ("GET", f"/v2/images/{IMAGE_ID}"): Answer(
            302, [("location", f"{other_host.url}/v2/images/{IMAGE_ID}")]),
    }))
    client = driver(hostile.url, token=TOKEN)
    with pytest.raises(UnexpectedResponse) as info:
        client.call("show", IMAGE_ID)
    assert info.value.status == 302
    assert_clean(shown(info.value))


def test_a_versions_href_and_a_next_link_elsewhere_are_not_followed(
        hostile: HostileServer, other_host: OtherHost, driver: Callable[..., Driver]) -> None:
    page = {"images": [image_record(IMAGE_ID)],
            "next": f"{other_host.url}/v2/images?marker={IMAGE_ID}"}
    hostile.script(routes({
        ("GET", "/"): versions(other_host.url),
        ("GET", "/v2/images"): lambda seen: (json_answer({"images": []}) if "marker" in
                                             seen.query else json_answer(page)),
    }))
    client = driver(hostile.url, token=TOKEN)
    assert [i.id for i in client.call("detail")] == [IMAGE_ID]
    assert {s.header("x-auth-token") for s in hostile.seen} == {TOKEN}


def _echo_after_discovery(server: HostileServer, status: int = 400) -> None:
    reflect = echo(status)
    server.script(lambda seen: versions(server.url) if seen.path == "/" else reflect(seen))


def test_an_echoed_token_is_in_no_error_and_no_log_line(
        hostile: HostileServer, driver: Callable[..., Driver],
        caplog: pytest.LogCaptureFixture) -> None:
    _echo_after_discovery(hostile)
    client = driver(hostile.url, token=TOKEN)
    view = client.view(client.client.for_request(service_token=SERVICE))
    with caplog.at_level(logging.DEBUG), pytest.raises(ImageBadRequest) as info:
        view.call("show", IMAGE_ID)
    assert hostile.seen[-1].header("x-auth-token") == TOKEN  # it was sent, and echoed
    assert "cannot serve" in str(info.value)
    assert_clean(shown(info.value), caplog.text)


def test_an_echoed_token_after_retries_is_in_no_log_line(
        hostile: HostileServer, driver: Callable[..., Driver],
        caplog: pytest.LogCaptureFixture) -> None:
    _echo_after_discovery(hostile, status=503)
    client = driver(hostile.url, token=lambda: TOKEN, num_retries=2)
    with caplog.at_level(logging.DEBUG), pytest.raises(ConnectionFailed) as info:
        client.call("show", IMAGE_ID)
    assert "attempt 1 of 3 failed" in caplog.text
    assert_clean(shown(info.value), caplog.text, repr(client.client))


@pytest.mark.parametrize("where", ["non-json", "field", "nested-field", "v1-header"])
def test_a_token_in_a_server_answer_is_not_in_the_parse_error(
        hostile: HostileServer, driver: Callable[..., Driver], where: str) -> None:
    def answer(seen: Seen) -> Answer:
        token = seen.header("x-auth-token") or ""
        if where == "non-json":
            return Answer(200, [("content-type", "text/plain")], f"oops {token}".encode())
        if where == "field":
            return json_answer(image_record(IMAGE_ID, created_at=token))
        if where == "nested-field":
            return json_answer(image_record(IMAGE_ID, visibility={"echo": token * 3}))
        return Answer(200, [("x-image-meta-id", IMAGE_ID), ("x-image-meta-status", "active"),
                            ("x-image-meta-size", token)])
    api = "v1.1" if where == "v1-header" else "v2.9"
    hostile.script(lambda seen: versions(hostile.url, api) if seen.path == "/" else answer(seen))
    client = driver(hostile.url, token=TOKEN)
    with pytest.raises((InvalidServerRecord, UnexpectedResponse)) as info:
        client.call("show", IMAGE_ID)
    assert_clean(shown(info.value))


def test_url_credentials_travel_as_basic_auth_and_are_never_shown(
        hostile: HostileServer, driver: Callable[..., Driver],
        caplog: pytest.LogCaptureFixture) -> None:
    host = hostile.url.removeprefix("http://")
    url = f"http://admin:{PASSWORD}@{host}"
    hostile.script(routes({("GET", "/"): versions(hostile.url),
                           ("GET", f"/v2/images/{IMAGE_ID}"): echo(400)}))
    client = driver(url, token=TOKEN, num_retries=1)
    with caplog.at_level(logging.DEBUG), pytest.raises(ImageBadRequest) as info:
        client.call("show", IMAGE_ID)
    basic = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    assert {s.header("authorization") for s in hostile.seen} == {basic}
    assert all(s.header("host") == host for s in hostile.seen)
    assert_clean(shown(info.value), caplog.text, repr(client.client))
    # the server goes away: the error and the retry lines name it without the password
    hostile.stop()
    caplog.clear()
    fresh = driver(url, token=TOKEN, num_retries=1)
    with caplog.at_level(logging.DEBUG), pytest.raises(ConnectionFailed) as broken:
        fresh.call("show", IMAGE_ID)
    assert host in str(broken.value)
    assert_clean(shown(broken.value), caplog.text, repr(fresh.client))


def test_the_command_prints_no_token_on_stderr(hostile: HostileServer) -> None:
    _echo_after_discovery(hostile)
    result = run_cli("--endpoint", hostile.url, "--token", TOKEN, "show", IMAGE_ID)
    assert result.returncode == 1, result.stderr
    assert "cannot serve" in result.stderr
    assert_clean(result.stderr, result.stdout)
    debug = run_cli("--debug", "--endpoint", hostile.url, "--token", TOKEN, "show", IMAGE_ID)
    assert "Traceback" in debug.stderr
    assert_clean(debug.stderr, debug.stdout)
