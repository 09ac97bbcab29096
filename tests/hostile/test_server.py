"""The hostile server itself does what a script says: raw bytes, trickles, drops, echoes."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.hostile.server import (
    Answer,
    HostileServer,
    OtherHost,
    json_answer,
    routes,
    trickle,
)


def test_a_scripted_answer_is_sent_byte_for_byte(hostile: HostileServer) -> None:
    hostile.script(lambda seen: Answer(418, [("x-echo", seen.header("x-auth-token") or ""),
                                             ("x-raw", b"caf\xe9")], b"body"))
    response = httpx.get(hostile.url + "/p?q=1", headers={"x-auth-token": "t0k"})
    assert (response.status_code, response.content) == (418, b"body")
    assert response.headers["x-echo"] == "t0k"
    assert response.headers.raw[1] == (b"x-raw", b"caf\xe9")
    assert (hostile.seen[0].method, hostile.seen[0].path, hostile.seen[0].query) == (
        "GET", "/p", "q=1")


def test_request_bodies_are_read_whole_even_when_chunked(hostile: HostileServer) -> None:
    hostile.script(routes({("PUT", "/up"): json_answer({"ok": True})}))
    response = httpx.put(hostile.url + "/up", content=iter([b"ab", b"cd"]))
    assert response.json() == {"ok": True}
    assert hostile.seen[0].body == b"abcd"
    assert httpx.get(hostile.url + "/other").status_code == 404


def test_a_trickle_pauses_between_pieces(hostile: HostileServer) -> None:
    hostile.queue(Answer(200, body=trickle(b"abc", 0.05), framing="close"))
    started = time.monotonic()
    assert httpx.get(hostile.url).content == b"abc"
    assert time.monotonic() - started >= 0.15


def test_a_dropped_connection_leaves_the_body_short(hostile: HostileServer) -> None:
    hostile.queue(Answer(200, body=b"x" * 100, drop_after=10))
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(hostile.url)
    assert hostile.sent == [10]


def test_stopping_cuts_a_trickle_short() -> None:
    server = HostileServer(lambda seen: Answer(200, body=trickle(b"x" * 100, 10.0),
                                               framing="close"))
    server.start()
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    sock.recv(1024)
    started = time.monotonic()
    server.stop()
    sock.close()
    assert time.monotonic() - started < 5


def test_the_other_host_records_whoever_reaches_it() -> None:
    with OtherHost() as other:
        assert httpx.get(other.url + "/x", headers={"x-auth-token": "t"}).status_code == 500
    assert len(other.reached) == 1
    assert b"x-auth-token: t" in other.reached[0]
