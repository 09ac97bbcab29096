"""The pure verification core: expected digests, the incremental verifier, the resume rules."""

from __future__ import annotations

import base64
import hashlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgcompat.core.errors import (
    ChecksumMismatch,
    ImageUnacceptable,
    SizeMismatch,
    TransferInterrupted,
    UnexpectedTransferResponse,
)
from imgcompat.core.integrity import Action, Expected, Resumer, Verifier, new_hasher, normalize_md5
from imgcompat.core.model import Image

DATA = b"glance image bytes " * 1000
MD5 = hashlib.md5(DATA).hexdigest()
SHA512 = hashlib.sha512(DATA).hexdigest()


def expected(**kw: object) -> Expected:
    base: dict[str, object] = {
        "size": len(DATA), "md5": MD5, "hash_algo": "sha512", "hash_value": SHA512,
    }
    base.update(kw)
    return Expected(**base)  # type: ignore[arg-type]


# ------------------------------------------------------------------ Expected


def test_md5_header_hex_and_base64_both_normalize() -> None:
    raw = hashlib.md5(DATA).digest()
    assert normalize_md5(MD5.upper()) == MD5
    assert normalize_md5(base64.b64encode(raw).decode()) == MD5
    assert normalize_md5(f'"{MD5}"') == MD5
    assert normalize_md5("not-a-digest") is None
    assert normalize_md5(base64.b64encode(b"short").decode()) is None


def test_from_image_takes_checksum_multihash_and_size() -> None:
    image = Image(id="i1", size=len(DATA), checksum=MD5.upper(), os_hash_algo="sha512",
                  os_hash_value=SHA512)
    exp = Expected.from_image(image)
    assert exp == Expected(len(DATA), MD5, "sha512", SHA512)


def test_from_image_without_data_facts_has_unknown_size() -> None:
    assert Expected.from_image(Image(id="i1")).size is None


def test_content_md5_fills_a_missing_checksum_and_contradiction_raises() -> None:
    image = Image(id="i1", size=len(DATA))
    raw = hashlib.md5(DATA).digest()
    assert Expected.from_image(image, base64.b64encode(raw).decode()).md5 == MD5
    with_checksum = Image(id="i1", size=len(DATA), checksum=MD5)
    with pytest.raises(ChecksumMismatch) as info:
        Expected.from_image(with_checksum, "0" * 32)
    assert info.value.expected == MD5
    assert info.value.actual == "0" * 32
    assert info.value.image_id == "i1"


def test_unusable_content_md5_is_noted_not_ignored() -> None:
    exp = Expected(size=3).with_content_md5("garbage")
    assert exp.md5 is None
    verifier = Verifier(exp)
    verifier.update(b"abc")
    result = verifier.finish()
    assert not result.verified
    assert any("garbage" in note for note in result.unverified)


def test_with_headers_merges_v1_checksum_and_total() -> None:
    exp = Expected().with_headers({"x-image-meta-checksum": MD5}, len(DATA))
    assert exp == Expected(size=len(DATA), md5=MD5)
    with pytest.raises(SizeMismatch):
        exp.with_headers({}, len(DATA) + 1)


def test_strongest_keeps_only_a_computable_multihash() -> None:
    assert expected().strongest() == expected(md5=None, multihash_only=True)
    assert expected().strongest().with_content_md5("0" * 32).md5 is None
    unknown = expected(hash_algo="nope", hash_value="ab")
    assert unknown.strongest() == unknown
    no_multihash = expected(hash_algo=None, hash_value=None)
    assert no_multihash.strongest() == no_multihash
    verifier = Verifier(expected().strongest())
    verifier.update(DATA)
    assert set(verifier.finish().checked) == {"sha512"}


# ------------------------------------------------------------------ Verifier


@given(st.lists(st.integers(min_value=0, max_value=len(DATA)), max_size=8))
def test_verifier_any_chunking_verifies_both_digests(cuts: list[int]) -> None:
    verifier = Verifier(expected(), image_id="i1")
    points = [0, *sorted(cuts), len(DATA)]
    for a, b in itertools.pairwise(points):
        verifier.update(DATA[a:b])
    result = verifier.finish()
    assert result.verified
    assert dict(result.checked) == {"md5": MD5, "sha512": SHA512}
    assert result.size == len(DATA)
    assert result.unverified == ()


def test_corruption_names_algorithm_and_both_digests() -> None:
    verifier = Verifier(expected(), image_id="img")
    verifier.update(DATA[:-1] + b"X")
    with pytest.raises(ChecksumMismatch) as info:
        verifier.finish()
    err = info.value
    assert err.algorithm == "md5"
    assert err.expected == MD5
    assert err.actual == hashlib.md5(DATA[:-1] + b"X").hexdigest()
    assert err.image_id == "img"
    assert err.expected in str(err)
    assert err.actual in str(err)


def test_multihash_alone_is_checked() -> None:
    verifier = Verifier(expected(md5=None))
    verifier.update(DATA[:-1] + b"X")
    with pytest.raises(ChecksumMismatch) as info:
        verifier.finish()
    assert info.value.algorithm == "sha512"
    assert info.value.expected == SHA512


@pytest.mark.parametrize("algo", ["sha256", "sha3_512", "blake2b", "SHA384"])
def test_any_hashlib_algorithm_verifies(algo: str) -> None:
    value = hashlib.new(algo.lower(), DATA).hexdigest()
    verifier = Verifier(expected(hash_algo=algo, hash_value=value))
    verifier.update(DATA)
    assert dict(verifier.finish().checked) == {"md5": MD5, algo.lower(): value}


def test_shake_uses_the_expected_length() -> None:
    value = hashlib.shake_256(DATA).hexdigest(64)
    verifier = Verifier(expected(md5=None, hash_algo="shake_256", hash_value=value))
    verifier.update(DATA)
    assert verifier.finish().checked["shake_256"] == value


def test_unknown_algorithm_is_reported_and_md5_still_checked() -> None:
    verifier = Verifier(expected(hash_algo="whirlpool-9000", hash_value="ab" * 32))
    verifier.update(DATA)
    result = verifier.finish()
    assert result.verified
    assert set(result.checked) == {"md5"}
    assert any("whirlpool-9000" in note for note in result.unverified)
    assert "whirlpool-9000" in result.reason


def test_unknown_algorithm_without_md5_is_not_verified() -> None:
    verifier = Verifier(expected(md5=None, hash_algo="nope", hash_value="ab"))
    verifier.update(DATA)
    result = verifier.finish()
    assert not result.verified
    assert result.reason.startswith("NOT verified")
    assert "nope" in result.reason


def test_nothing_published_means_not_verified() -> None:
    verifier = Verifier(Expected())
    verifier.update(DATA)
    result = verifier.finish()
    assert not result.verified
    assert result.size == len(DATA)
    assert "no usable checksum" in result.reason


def test_incomplete_multihash_is_reported() -> None:
    verifier = Verifier(Expected(hash_algo="sha512"))
    verifier.update(b"")
    assert any("incomplete" in n for n in verifier.finish().unverified)


def test_md5_as_multihash_must_agree_with_checksum() -> None:
    with pytest.raises(ChecksumMismatch):
        Verifier(expected(hash_algo="md5", hash_value="0" * 32))
    verifier = Verifier(expected(md5=None, hash_algo="md5", hash_value=MD5))
    verifier.update(DATA)
    assert set(verifier.finish().checked) == {"md5"}


def test_size_too_long_raises_at_once_and_too_short_at_finish() -> None:
    verifier = Verifier(expected(size=10), image_id="i")
    verifier.update(b"x" * 10)
    with pytest.raises(SizeMismatch) as info:
        verifier.update(b"y")
    assert (info.value.expected_size, info.value.actual_size) == (10, 11)
    short = Verifier(expected())
    short.update(DATA[:5])
    with pytest.raises(SizeMismatch):
        short.finish()


def test_reset_starts_over() -> None:
    verifier = Verifier(expected())
    verifier.update(b"garbage that was thrown away")
    verifier.reset()
    verifier.update(DATA)
    assert verifier.finish().verified


def test_learn_before_bytes_adds_md5_after_bytes_reports_it() -> None:
    early = Verifier(Expected(size=len(DATA)))
    early.learn(Expected(size=len(DATA), md5=MD5))
    early.update(DATA)
    assert set(early.finish().checked) == {"md5"}

    late = Verifier(Expected(size=len(DATA)))
    late.update(DATA[:10])
    late.learn(Expected(size=len(DATA), md5=MD5))
    late.update(DATA[10:])
    result = late.finish()
    assert not result.verified
    assert any("after the transfer began" in n for n in result.unverified)


def test_learn_keeps_hash_state_when_plan_is_unchanged() -> None:
    verifier = Verifier(Expected(md5=MD5))
    verifier.update(DATA[:100])
    verifier.learn(Expected(md5=MD5, size=len(DATA)))
    verifier.update(DATA[100:])
    assert verifier.finish().checked["md5"] == MD5


def test_new_hasher_rejects_unknown() -> None:
    with pytest.raises(ValueError, match=r"unsupported|hash"):
        new_hasher("definitely-not-a-hash")
    with pytest.raises(ValueError, match="even-length"):
        new_hasher("shake_128")


# ------------------------------------------------------------------ Resumer


def test_first_response_continues_and_records_total() -> None:
    r = Resumer()
    start = r.on_response(200, {"content-length": "100"})
    assert (start.action, start.skip, start.total) == (Action.CONTINUE, 0, 100)


def test_206_after_a_drop_continues_at_offset() -> None:
    r = Resumer()
    r.on_response(200, {"content-length": "100"})
    r.advance(40)
    r.on_interrupted(TransferInterrupted("boom"))
    assert r.ask() == 40
    start = r.on_response(206, {"content-range": "bytes 40-99/100"})
    assert start.action is Action.CONTINUE
    assert r.offset == 40


def test_200_to_a_range_restarts_or_skips() -> None:
    r = Resumer(can_rewind=True)
    r.advance(40)
    assert r.on_response(200, {}).action is Action.RESTART
    assert r.offset == 0
    pipe = Resumer(can_rewind=False)
    pipe.advance(40)
    start = pipe.on_response(200, {})
    assert (start.action, start.skip) == (Action.SKIP, 40)
    assert pipe.offset == 40


def test_v1_never_asks_for_a_range() -> None:
    r = Resumer(resumable=False)
    r.advance(40)
    r.on_interrupted(TransferInterrupted("boom"))
    assert r.ask() == 0
    assert r.on_response(200, {}).action is Action.RESTART


def test_204_is_unacceptable() -> None:
    with pytest.raises(ImageUnacceptable):
        Resumer(image_id="i").on_response(204, {})


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (206, {}),
        (206, {"content-range": "bytes 10-99/100"}),
        (206, {"content-range": "bytes 0-49/100"}),
        (206, {"content-range": "items 0-99/100"}),
        (302, {}),
    ],
)
def test_unusable_responses_raise(status: int, headers: dict[str, str]) -> None:
    with pytest.raises(UnexpectedTransferResponse):
        Resumer().on_response(status, headers)


def test_total_that_changes_between_responses_raises() -> None:
    r = Resumer()
    r.on_response(200, {"content-length": "100"})
    r.advance(10)
    with pytest.raises(SizeMismatch):
        r.on_response(206, {"content-range": "bytes 10-199/200"})


def test_unknown_total_and_star_range() -> None:
    r = Resumer()
    assert r.on_response(200, {"content-length": "None"}).total is None
    r.advance(5)
    assert r.on_response(206, {"content-range": "bytes 5-9/*"}).action is Action.CONTINUE
    assert not r.ended_early()


def test_resumes_are_bounded_and_report_the_offset() -> None:
    r = Resumer(max_resumes=2, image_id="i")
    r.advance(7)
    r.on_interrupted(TransferInterrupted("a"))
    r.on_interrupted(TransferInterrupted("b"))
    with pytest.raises(TransferInterrupted) as info:
        r.on_interrupted(TransferInterrupted("c"))
    assert info.value.offset == 7
    assert info.value.image_id == "i"
    with pytest.raises(ValueError, match="max_resumes"):
        Resumer(max_resumes=-1)


def test_ended_early_detects_a_short_clean_body() -> None:
    r = Resumer()
    r.on_response(200, {"content-length": "10"})
    r.advance(9)
    assert r.ended_early()
    r.advance(1)
    assert not r.ended_early()
