"""Secrets under a hostile server: the token never leaves for another host, and never
shows in an error, a log line or a repr (issue 11, "Secrets in errors")."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from imgcompat.core.errors import UnexpectedResponse
from tests.hostile.drivers import Driver
from tests.hostile.server import (
    Answer,
    HostileServer,
    OtherHost,
    image_record,
    json_answer,
    routes,
    versions,
)

TOKEN = "gAAAAABhostile-token-0123456789"
IMAGE_ID = "6b1f8b8e-0a2d-4e38-9d2a-9b0c7f1b3a10"


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
    assert TOKEN not in str(info.value)


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
