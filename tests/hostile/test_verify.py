"""The slow leak, the downloads and the command under a hostile server (issue 11: "Slow
leak", "Downloads", "CLI"), on a real socket, with both clients (the command is one)."""

from __future__ import annotations

import gc
import hashlib
import stat
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from imgcompat.cli.app import main
from imgcompat.core.download import Verification
from imgcompat.core.errors import (
    ImageIdMismatch,
    ImageNotVerifiable,
    ImageTooLarge,
    InvalidResponse,
    InvalidServerRecord,
)
from imgcompat.core.integrity import Verified
from imgcompat.core.limits import MiB
from imgcompat.core.model import Image
from tests.hostile.drivers import Driver
from tests.hostile.server import (
    Answer,
    BodyPiece,
    HostileServer,
    Seen,
    image_record,
    json_answer,
    routes,
    versions,
)

IMAGE_A = "0f8e2b9c-1d3a-4c5b-8e7f-6a9b0c1d2e3f"
IMAGE_B = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
DATA = b"verified bytes " * 4096
OCTET = ("content-type", "application/octet-stream")


def digests(data: bytes) -> dict[str, Any]:
    return {"size": len(data), "checksum": hashlib.md5(data).hexdigest(),
            "os_hash_algo": "sha512", "os_hash_value": hashlib.sha512(data).hexdigest()}


def serve_image(server: HostileServer, record: dict[str, Any] | Callable[[Seen], Answer],
                body: Answer | None = None) -> None:
    """Discovery, one image's record (as asked for ``IMAGE_A``) and its bytes."""
    show = record if callable(record) else json_answer(record)
    server.script(routes({
        ("GET", "/"): versions(server.url),
        ("GET", f"/v2/images/{IMAGE_A}"): show,
        ("PATCH", f"/v2/images/{IMAGE_A}"): show,
        ("GET", f"/v2/images/{IMAGE_A}/file"): body or Answer(200, [OCTET], DATA),
    }))


def file_requests(server: HostileServer) -> int:
    return sum(1 for seen in server.seen if seen.path.endswith("/file"))


def endless() -> Iterator[BodyPiece]:
    """Bytes until the client hangs up."""
    piece = b"\0" * 65536
    while True:
        yield piece


# --------------------------------------------------------------------------- slow leak


#: The scripted server runs in this process and keeps every request and thread it saw:
#: not the client's memory, so not counted (the clients start no thread to show).
_NOT_THE_CLIENT = tuple(tracemalloc.Filter(False, pattern) for pattern in (
    "*/tests/hostile/server.py", "*/h11/*", "*/threading.py", "*/_weakrefset.py"))


def grown(action: Callable[[], None], warm_up: Callable[[], None] | None = None) -> int:
    """Bytes the client still holds after ``action`` and a full collection (what
    ``warm_up`` filled, caches at their bound included, not counted)."""
    gc.collect()
    tracemalloc.start()
    try:
        if warm_up is not None:
            warm_up()
            gc.collect()
        before = tracemalloc.take_snapshot().filter_traces(_NOT_THE_CLIENT)
        action()
        gc.collect()
        after = tracemalloc.take_snapshot().filter_traces(_NOT_THE_CLIENT)
        return sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    finally:
        tracemalloc.stop()


def test_fresh_64k_statuses_do_not_stay_in_memory(
        hostile: HostileServer, driver: Callable[..., Driver]) -> None:
    count = iter(range(10**9))
    serve_image(hostile, lambda seen: json_answer(
        image_record(IMAGE_A, status=f"s{next(count):08d}" * 7282)))
    client = driver(hostile.url)
    client.call("discover")

    def shows() -> None:
        for _ in range(150):
            with pytest.raises(InvalidServerRecord, match="status"):
                client.call("show", IMAGE_A)

    # 150 answers of 64 KiB statuses: ~10 MiB of text (29 MiB used to stay)
    assert grown(shows) < 4 * MiB


def test_fresh_short_unknown_values_pass_and_are_not_kept(
        hostile: HostileServer, driver: Callable[..., Driver]) -> None:
    tag = uuid.uuid4().hex[:8]
    count = iter(range(10**9))
    serve_image(hostile, lambda seen: json_answer(image_record(
        IMAGE_A, status=f"st_{tag}_{next(count)}", disk_format=f"df_{tag}_{next(count)}")))
    client = driver(hostile.url)
    first = client.call("show", IMAGE_A)
    assert (first.status, first.status.known) == (f"st_{tag}_0", False)

    def shows(count: int) -> Callable[[], None]:
        def run() -> None:
            for _ in range(count):
                client.call("show", IMAGE_A)
        return run

    # after 300 fresh values (more than the enums remember), 600 more: about 250 KiB stayed
    # when every one was registered
    assert grown(shows(300), warm_up=shows(150)) < 96 * 1024


# --------------------------------------------------------------------------- another image


def test_show_answered_with_another_image_is_refused(
        hostile: HostileServer, driver: Callable[..., Driver]) -> None:
    serve_image(hostile, image_record(IMAGE_B))
    with pytest.raises(ImageIdMismatch) as info:
        driver(hostile.url).call("show", IMAGE_A)
    assert isinstance(info.value, InvalidResponse)
    assert (info.value.expected, info.value.actual) == (IMAGE_A, IMAGE_B)


def test_a_download_of_another_image_asks_for_no_byte(
        hostile: HostileServer, driver: Callable[..., Driver], tmp_path: Path) -> None:
    serve_image(hostile, image_record(IMAGE_B, **digests(DATA)))
    with pytest.raises(ImageIdMismatch):
        driver(hostile.url).call("download", IMAGE_A, tmp_path / "image")
    assert file_requests(hostile) == 0
    assert list(tmp_path.iterdir()) == []


def test_an_update_whose_reread_names_another_image_sends_no_patch(
        hostile: HostileServer, driver: Callable[..., Driver]) -> None:
    serve_image(hostile, image_record(IMAGE_B))
    with pytest.raises(ImageIdMismatch):
        driver(hostile.url).call("update", IMAGE_A, Image(name="renamed"))
    assert [seen for seen in hostile.seen if seen.method == "PATCH"] == []


def test_an_update_answered_with_another_image_is_refused(
        hostile: HostileServer, driver: Callable[..., Driver]) -> None:
    answers = iter([image_record(IMAGE_A), image_record(IMAGE_B)])  # the re-read, the PATCH
    serve_image(hostile, lambda seen: json_answer(next(answers)))
    with pytest.raises(ImageIdMismatch):
        driver(hostile.url).call("update", IMAGE_A, Image(name="renamed"))


def test_the_same_uuid_in_another_spelling_is_the_same_image(
        hostile: HostileServer, driver: Callable[..., Driver]) -> None:
    hostile.script(routes({
        ("GET", "/"): versions(hostile.url),
        ("GET", f"/v2/images/{IMAGE_A.upper()}"): json_answer(image_record(IMAGE_A)),
    }))
    assert driver(hostile.url).call("show", IMAGE_A.upper()).id == IMAGE_A


# --------------------------------------------------------------------------- downloads

NO_DIGEST = {"checksum": None, "os_hash_algo": None, "os_hash_value": None}


def test_nothing_to_verify_is_refused_when_required(
        hostile: HostileServer, driver: Callable[..., Driver], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    serve_image(hostile, image_record(IMAGE_A, size=len(DATA), **NO_DIGEST))
    dest = tmp_path / "image"
    with pytest.raises(ImageNotVerifiable) as info:
        driver(hostile.url).call("download", IMAGE_A, dest, require_verified=True)
    assert info.value.image_id == IMAGE_A
    assert list(tmp_path.iterdir()) == []
    assert f"image {IMAGE_A}: download refused" in caplog.text


def test_nothing_to_verify_is_a_logged_success_by_default(
        hostile: HostileServer, driver: Callable[..., Driver], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    serve_image(hostile, image_record(IMAGE_A, size=len(DATA), **NO_DIGEST))
    result = driver(hostile.url).call("download", IMAGE_A, tmp_path / "image")
    assert isinstance(result, Verified)
    assert not result.verified
    assert (tmp_path / "image").read_bytes() == DATA
    assert f"image {IMAGE_A}: downloaded but NOT verified" in caplog.text


@pytest.mark.parametrize("size", [None, 0])
def test_no_size_and_an_endless_body_stop_at_max_size(
        hostile: HostileServer, driver: Callable[..., Driver], tmp_path: Path,
        size: int | None) -> None:
    serve_image(hostile, image_record(IMAGE_A, size=size, **NO_DIGEST),
                Answer(200, [OCTET], endless, framing="close"))
    with pytest.raises(ImageTooLarge) as info:
        driver(hostile.url).call("download", IMAGE_A, tmp_path / "image", max_size=4 * MiB)
    assert (info.value.limit, info.value.image_id) == (4 * MiB, IMAGE_A)
    assert list(tmp_path.iterdir()) == []


def test_an_announced_size_over_max_size_is_refused_before_the_body(
        hostile: HostileServer, driver: Callable[..., Driver], tmp_path: Path) -> None:
    serve_image(hostile, image_record(IMAGE_A, **digests(DATA)))
    with pytest.raises(ImageTooLarge):
        driver(hostile.url).call("download", IMAGE_A, tmp_path / "image",
                                 max_size=len(DATA) - 1)
    assert list(tmp_path.iterdir()) == []


def test_a_one_byte_shake_digest_verifies_nothing(
        hostile: HostileServer, driver: Callable[..., Driver], tmp_path: Path) -> None:
    short = hashlib.shake_256(DATA).hexdigest(1)
    serve_image(hostile, image_record(IMAGE_A, size=len(DATA), checksum=None,
                                      os_hash_algo="shake_256", os_hash_value=short))
    client = driver(hostile.url)
    result = client.call("download", IMAGE_A, tmp_path / "a")
    assert not result.verified
    with pytest.raises(ImageNotVerifiable):
        client.call("download", IMAGE_A, tmp_path / "b", require_verified=True)


def test_the_strongest_digest_by_default_every_digest_on_request(
        hostile: HostileServer, driver: Callable[..., Driver], tmp_path: Path) -> None:
    serve_image(hostile, image_record(IMAGE_A, **digests(DATA)))
    client = driver(hostile.url)
    default = client.call("download", IMAGE_A, tmp_path / "a")
    assert (set(default.checked), default.skipped) == ({"sha512"}, ("md5",))
    every = client.call("download", IMAGE_A, tmp_path / "b", verification=Verification.ALL)
    assert set(every.checked) == {"md5", "sha512"}


def test_a_replaced_destination_keeps_its_mode(
        hostile: HostileServer, driver: Callable[..., Driver], tmp_path: Path) -> None:
    serve_image(hostile, image_record(IMAGE_A, **digests(DATA)))
    dest = tmp_path / "image"
    dest.write_bytes(b"previous")
    dest.chmod(0o600)
    driver(hostile.url).call("download", IMAGE_A, dest)
    assert dest.read_bytes() == DATA
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600


# --------------------------------------------------------------------------- the command

NAME = "[conceal]secret[/conceal] [/] :skull: \x1b[2J\x1b]0;pwned\x07 ok\rX \u202eevil"
RAW = ("\x1b", "\x07", "\r", "\x9b", "\u202e")


def run_command(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("command", [["show", IMAGE_A], ["list"]])
def test_the_command_prints_hostile_strings_inert(
        hostile: HostileServer, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    record = image_record(IMAGE_A, name=NAME, **{"[bold]key": "[/]v\x1b[31m\x9b2J"})
    serve_image(hostile, record)
    hostile.script(routes({
        ("GET", "/"): versions(hostile.url),
        ("GET", f"/v2/images/{IMAGE_A}"): json_answer(record),
        ("GET", "/v2/images"): json_answer({"images": [record]}),
    }))
    code, out, err = run_command(capsys, "--endpoint", hostile.url, *command)
    assert code == 0, err
    for text in (out, err):
        assert not any(char in text for char in RAW), repr(text)
        assert "MarkupError" not in text
    assert "[conceal]secret[/conceal] [/] :skull:" in out


def test_an_error_message_from_the_server_prints_inert(
        hostile: HostileServer, capsys: pytest.CaptureFixture[str]) -> None:
    hostile.script(routes({
        ("GET", "/"): versions(hostile.url),
        ("GET", f"/v2/images/{IMAGE_A}"): json_answer(
            {"message": "[/] \x1b[2Jgone\r\nimgcompat: forged \u202eline"}, status=404),
    }))
    code, _, err = run_command(capsys, "--endpoint", hostile.url, "show", IMAGE_A)
    assert code == 1
    assert not any(char in err for char in RAW), repr(err)
    assert len(err.splitlines()) == 1, err
    assert "gone" in err
    assert "internal error" not in err


def test_the_command_refuses_an_unverifiable_download(
        hostile: HostileServer, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    serve_image(hostile, image_record(IMAGE_A, size=len(DATA), **NO_DIGEST))
    code, _, err = run_command(capsys, "--endpoint", hostile.url, "download", IMAGE_A,
                               "-o", str(tmp_path / "image"))
    assert code == 1
    assert "--allow-unverified" in err
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- secrets

TOKEN = "0123456789abcdef0123456789abcdef"  # a UUID-style token: short enough for a record


def echoing_token(seen: Seen) -> Answer:
    """The record with the request's own token as its multihash algorithm (and value)."""
    token = seen.header("x-auth-token") or ""
    return json_answer(image_record(IMAGE_A, size=len(DATA), checksum=None,
                                    os_hash_algo=token, os_hash_value=token))


@pytest.mark.parametrize("required", [False, True])
def test_a_token_echoed_into_the_record_is_in_no_download_warning(
        hostile: HostileServer, driver: Callable[..., Driver], tmp_path: Path,
        caplog: pytest.LogCaptureFixture, required: bool) -> None:
    serve_image(hostile, echoing_token)
    client = driver(hostile.url, token=TOKEN)
    if required:
        with pytest.raises(ImageNotVerifiable) as info:
            client.call("download", IMAGE_A, tmp_path / "image", require_verified=True)
        assert TOKEN not in str(info.value)
        assert TOKEN not in repr(info.value.reasons)
    else:
        result = client.call("download", IMAGE_A, tmp_path / "image")
        assert not result.verified
        assert "os_hash_algo" in result.reason
        assert TOKEN not in result.reason
    assert f"image {IMAGE_A}: download" in caplog.text
    assert "os_hash_algo" in caplog.text
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("allow", [False, True])
def test_the_command_shows_no_token_echoed_into_the_record(
        hostile: HostileServer, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        allow: bool) -> None:
    serve_image(hostile, echoing_token)
    code, out, err = run_command(capsys, "--endpoint", hostile.url, "--token", TOKEN,
                                 "download", IMAGE_A, "-o", str(tmp_path / "image"),
                                 *(["--allow-unverified"] if allow else []))
    assert code == (0 if allow else 1), err
    assert "os_hash_algo" in err
    assert TOKEN not in err + out
