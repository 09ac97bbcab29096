"""The pure download decisions (core/download.py), driven by hand: no file, socket or thread."""

from __future__ import annotations

import hashlib

import pytest

from imgcompat.core.download import DownloadOptions, DownloadState, Verification
from imgcompat.core.errors import ChecksumMismatch, TransferInterrupted
from imgcompat.core.integrity import Action, Expected

DATA = bytes(range(256)) * 400
MD5 = hashlib.md5(DATA).hexdigest()
SHA512 = hashlib.sha512(DATA).hexdigest()
EXPECTED = Expected(len(DATA), MD5, "sha512", SHA512)
FULL = {"content-length": str(len(DATA))}


def deliver(state: DownloadState, body: bytes, piece: int = 1000) -> bytes:
    """What a driver does with one body: batches hashed and accounted, in order."""
    out = bytearray()
    batches = [state.accept(body[i : i + piece]) for i in range(0, len(body), piece)]
    batches.append(state.leftover())
    for batch in batches:
        if batch is not None:
            state.account(batch)
            for h in state.hashers:
                for part in batch:
                    h.update(part)
            out += b"".join(batch)
    return bytes(out)


def test_a_cut_body_resumes_at_the_offset_reached() -> None:
    state = DownloadState(EXPECTED, DownloadOptions(chunk_size=4096,
                                                    verification=Verification.ALL),
                          can_rewind=True)
    assert state.ask() == 0
    assert state.start(200, FULL).action is Action.CONTINUE
    got = deliver(state, DATA[:30_000])
    assert not state.body_ended(TransferInterrupted("reset"))
    assert state.ask() == 30_000
    assert state.position == (30_000, len(DATA))
    rest = {"content-range": f"bytes 30000-{len(DATA) - 1}/{len(DATA)}"}
    assert state.start(206, rest).action is Action.CONTINUE
    got += deliver(state, DATA[30_000:])
    assert state.body_ended()
    assert got == DATA
    assert dict(state.finish().checked) == {"md5": MD5, "sha512": SHA512}


def test_a_target_that_cannot_rewind_skips_what_a_full_answer_repeats() -> None:
    state = DownloadState(EXPECTED, DownloadOptions(chunk_size=4096), can_rewind=False)
    state.start(200, FULL)
    got = deliver(state, DATA[:10_000])
    assert not state.body_ended(TransferInterrupted("reset"))
    start = state.start(200, FULL)  # the server ignored Range
    assert (start.action, start.skip) == (Action.SKIP, 10_000)
    got += deliver(state, DATA)
    assert state.body_ended()
    assert got == DATA
    assert state.finish().verified


def test_a_short_clean_body_spends_resumes_then_raises() -> None:
    state = DownloadState(EXPECTED, DownloadOptions(max_resumes=1), can_rewind=True)
    state.start(200, FULL)
    deliver(state, DATA[:100])
    assert not state.body_ended()  # a truncation is a drop: one resume spent
    state.start(206, {"content-range": f"bytes 100-{len(DATA) - 1}/{len(DATA)}"})
    deliver(state, DATA[100:200])
    with pytest.raises(TransferInterrupted) as info:
        state.body_ended()
    assert info.value.offset == 200


def mismatch(expected: Expected, options: DownloadOptions) -> tuple[list[str], str]:
    """The digests a whole download computed, and the one that did not match."""
    state = DownloadState(expected, options, can_rewind=True)
    computed = sorted(h.name for h in state.hashers)
    state.start(200, FULL)
    deliver(state, DATA)
    assert state.body_ended()
    with pytest.raises(ChecksumMismatch) as info:
        state.finish()
    return computed, info.value.algorithm


def test_the_strongest_published_digest_is_checked_by_default() -> None:
    options = DownloadOptions()
    assert options.verification is Verification.STRONGEST
    bad_sha = Expected(len(DATA), MD5, "sha512", "0" * 128)
    # md5 is not computed at all
    assert mismatch(bad_sha, options) == (["sha512"], "sha512")


def test_the_strongest_digest_says_what_it_left_out() -> None:
    state = DownloadState(EXPECTED, DownloadOptions(), can_rewind=True)
    state.start(200, {**FULL, "content-md5": MD5})  # a header does not add md5 back
    deliver(state, DATA)
    assert state.body_ended()
    result = state.finish()
    assert dict(result.checked) == {"sha512": SHA512}
    assert result.skipped == ("md5",)
    assert result.reason == "verified (sha512); not computed: md5"


def test_the_strongest_digest_is_md5_without_a_usable_multihash() -> None:
    for expected in (Expected(len(DATA), MD5), Expected(len(DATA), MD5, "whirlpool9", "ab" * 32)):
        state = DownloadState(expected, DownloadOptions(), can_rewind=True)
        state.start(200, FULL)
        deliver(state, DATA)
        assert state.body_ended()
        result = state.finish()
        assert dict(result.checked) == {"md5": MD5}
        assert result.skipped == ()


def test_all_checks_every_published_digest() -> None:
    bad_md5 = Expected(len(DATA), "0" * 32, "sha512", SHA512)
    assert mismatch(bad_md5, DownloadOptions(verification=Verification.ALL)) == (
        ["md5", "sha512"], "md5")


def test_options_refuse_a_chunk_size_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        DownloadOptions(chunk_size=0)
