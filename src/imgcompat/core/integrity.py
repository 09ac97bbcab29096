"""What the bytes of an image must hash to, the rules for resuming a broken download, and
the check of an upload against the record the server made of it (:func:`verify_upload`).

Pure: hashing is arithmetic on bytes handed in; nothing here reads a socket or a file, logs,
or starts a thread. :class:`~imgcompat.core.download.DownloadState` drives :class:`Verifier` and
:class:`Resumer` for the sync and async download drivers alike, so every decision is taken
once, here.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import attrs

from imgcompat.core.errors import (
    ChecksumMismatch,
    ImageUnacceptable,
    SizeMismatch,
    TransferInterrupted,
    UnexpectedTransferResponse,
)
from imgcompat.core.immutable import FrozenDict
from imgcompat.core.redaction import redact

if TYPE_CHECKING:
    from imgcompat.core.model import Image

__all__ = [
    "GLANCE_MULTIHASH",
    "UPLOAD_DIGESTS",
    "Action",
    "Expected",
    "Hasher",
    "Resumer",
    "Start",
    "Verified",
    "Verifier",
    "MIN_SHAKE_DIGEST_BYTES",
    "new_hasher",
    "normalize_md5",
    "verify_upload",
]

_HEX = re.compile(r"[0-9a-fA-F]+")
_CONTENT_RANGE = re.compile(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", re.IGNORECASE)

#: The shortest SHAKE output that counts as a digest: 256 bits, what SHAKE128 offers against
#: collisions at best. A SHAKE output can be asked at any length, so a record saying
#: ``shake_256`` with one byte of value would otherwise "verify" with 1 chance in 256 of luck.
MIN_SHAKE_DIGEST_BYTES = 32

#: The multihash a default Glance records (its ``hashing_algorithm`` option, since Rocky).
GLANCE_MULTIHASH = "sha512"
#: Every digest a default Glance's record publishes after an upload, weakest first: the
#: ``checksum`` (md5) and the multihash. What an upload verifying everything computes.
UPLOAD_DIGESTS: tuple[str, ...] = ("md5", GLANCE_MULTIHASH)


class Hasher(Protocol):
    """The part of ``hashlib``'s hash objects the verifier relies on."""

    @property
    def name(self) -> str: ...

    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...

    def hexdigest(self) -> str: ...


class _ShakeHasher:
    """A SHAKE XOF with the digest length fixed, so it quacks like a plain hash."""

    def __init__(self, algo: str, length: int) -> None:
        self._h = hashlib.new(algo)
        self._length = length
        self.name = algo

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        self._h.update(data)

    def hexdigest(self) -> str:
        return self._h.hexdigest(self._length)  # type: ignore[call-arg]


def new_hasher(algo: str, *, digest_hex_len: int | None = None) -> Hasher:
    """A fresh hash object for ``algo`` (any name hashlib knows); ValueError if unknown.

    md5 is asked for with ``usedforsecurity=False`` so FIPS builds still verify transfers.
    SHAKE needs its output length, taken from the expected hex digest, of at least
    :data:`MIN_SHAKE_DIGEST_BYTES` bytes.
    """
    name = algo.strip().lower()
    if name == "md5":
        return hashlib.md5(usedforsecurity=False)
    if name.startswith("shake_"):
        if not digest_hex_len or digest_hex_len % 2:
            raise ValueError(f"{algo}: a SHAKE digest needs an even-length expected value")
        if digest_hex_len < 2 * MIN_SHAKE_DIGEST_BYTES:
            raise ValueError(f"{algo}: a SHAKE digest of {digest_hex_len // 2} byte(s) is too "
                             f"short to prove anything (at least {MIN_SHAKE_DIGEST_BYTES})")
        hashlib.new(name)  # ValueError if unavailable
        return _ShakeHasher(name, digest_hex_len // 2)
    return hashlib.new(name)


def normalize_md5(value: str | None) -> str | None:
    """Lower-case hex of an MD5 given as hex (Glance) or base64 (RFC 1864); None if neither."""
    if value is None:
        return None
    text = value.strip().strip('"')
    if len(text) == 32 and _HEX.fullmatch(text):
        return text.lower()
    if len(text) == 24:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) == 16:
            return raw.hex()
    return None


@attrs.frozen
class Expected:
    """The digests and size the image's bytes must have (None = the server did not say).

    ``notes`` carries what was seen but could not be used (a malformed Content-MD5), so the
    final :class:`Verified` can report it. ``multihash_only`` (see :meth:`strongest`) keeps a
    ``Content-MD5`` header from adding md5 back.
    """

    size: int | None = None
    md5: str | None = None
    hash_algo: str | None = None
    hash_value: str | None = None
    notes: tuple[str, ...] = ()
    multihash_only: bool = False

    @classmethod
    def from_image(
        cls, image: Image, content_md5: str | None = None, *, image_id: str | None = None
    ) -> Expected:
        """Build from the seam record, optionally checked against a ``Content-MD5`` header.

        ``Image.size`` is 0 both for "empty" and "unknown"; without a checksum it is taken as
        unknown (the response's length then decides).
        """
        size: int | None = image.size
        if image.size == 0 and image.checksum is None and image.os_hash_value is None:
            size = None
        base = cls(
            size=size,
            md5=normalize_md5(image.checksum) or _lower(image.checksum),
            hash_algo=image.os_hash_algo or None,
            hash_value=_lower(image.os_hash_value),
        )
        if content_md5 is None:
            return base
        return base.with_content_md5(content_md5, image_id=image_id or image.id)

    def with_content_md5(self, header: str, *, image_id: str | None = None) -> Expected:
        """Merge a ``Content-MD5`` (or v1 ``x-image-meta-checksum``) value.

        A value that contradicts the record raises :class:`ChecksumMismatch` before any byte
        moves: the server promises two different images.
        """
        if self.multihash_only:
            return self
        md5 = normalize_md5(header)
        if md5 is None:
            return attrs.evolve(
                self, notes=(*self.notes, f"unusable Content-MD5 header {header!r}")
            )
        if self.md5 is None:
            return attrs.evolve(self, md5=md5)
        if self.md5 != md5:
            raise ChecksumMismatch(
                algorithm="md5 (record checksum vs Content-MD5)",
                expected=self.md5,
                actual=md5,
                image_id=image_id,
            )
        return self

    def strongest(self) -> Expected:
        """Keep only the multihash when this Python can compute it (md5 otherwise).

        What python-glanceclient verifies; it halves the hashing work where md5 adds nothing
        the multihash does not already guarantee. A ``Content-MD5`` learned later is not
        added back either.
        """
        algo, value = self.hash_algo, self.hash_value
        if not (algo and value) or algo.strip().lower() == "md5":
            return self
        try:
            new_hasher(algo, digest_hex_len=len(value))
        except ValueError:
            return self
        return attrs.evolve(self, md5=None, multihash_only=True)

    def published(self) -> tuple[str, ...]:
        """The digests this expectation names (``md5``, the multihash's algorithm)."""
        out: tuple[str, ...] = ("md5",) if self.md5 else ()
        if self.hash_algo and self.hash_value:
            label = self.hash_algo.strip().lower()
            if label not in out:
                out += (label,)
        return out

    def with_headers(
        self, headers: Mapping[str, str], total: int | None, *, image_id: str | None = None
    ) -> Expected:
        """Merge what a download response states: its MD5 header(s) and the image's total.

        v2 sends ``Content-MD5`` (hex, even on a 206: it covers the whole image); v1 sends
        ``x-image-meta-checksum``.
        """
        out = self
        for name in ("content-md5", "x-image-meta-checksum"):
            value = headers.get(name)
            if value:
                out = out.with_content_md5(value, image_id=image_id)
        if total is not None:
            out = out.with_size(total, image_id=image_id)
        return out

    def with_size(self, total: int, *, image_id: str | None = None) -> Expected:
        """Merge the total length the response announced; a contradiction raises."""
        if self.size is None:
            return attrs.evolve(self, size=total)
        if self.size != total:
            raise SizeMismatch(expected=self.size, actual=total, image_id=image_id)
        return self


def _lower(value: str | None) -> str | None:
    return value.strip().lower() if value else None


def _str_map(value: Mapping[str, str]) -> FrozenDict[str, str]:
    return value if isinstance(value, FrozenDict) else FrozenDict(dict(value))


@attrs.frozen
class Verified:
    """The outcome of a transfer's verification.

    ``checked`` maps each algorithm that was compared (and matched) to its digest;
    ``unverified`` gives the reasons some or all of the checks could not be made;
    ``skipped`` names the digests the server published that the verification policy chose
    not to compute (md5 beside a stronger multihash, by default).
    """

    size: int
    checked: FrozenDict[str, str] = attrs.field(factory=FrozenDict, converter=_str_map)
    unverified: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def verified(self) -> bool:
        """True when at least one digest the server published was compared and matched."""
        return bool(self.checked)

    @property
    def reason(self) -> str:
        """One line for a log or the CLI."""
        if not self.checked:
            why = "; ".join(self.unverified) or "the server published no checksum"
            return f"NOT verified: {why}"
        done = ", ".join(sorted(self.checked))
        notes = [*self.unverified]
        if self.skipped:
            notes.append(f"not computed: {', '.join(self.skipped)}")
        return f"verified ({done})" + (f"; {'; '.join(notes)}" if notes else "")

    def redacted(self, secrets: Sequence[str]) -> Verified:
        """The same outcome with ``secrets`` taken out of its reasons (they quote the
        server, which may echo what the caller sent)."""
        if not (secrets and self.unverified):
            return self
        return attrs.evolve(self, unverified=tuple(redact(r, secrets) for r in self.unverified))


class Verifier:
    """Incremental md5 + multihash check of one image's bytes.

    ``hashers`` is exposed so a transfer loop may update them on different threads (hashlib
    releases the GIL on large buffers); it must then call :meth:`count` once per chunk.
    """

    def __init__(self, expected: Expected, *, image_id: str | None = None) -> None:
        self.image_id = image_id
        self.bytes_seen = 0
        self.hashers: tuple[Hasher, ...] = ()
        self._late: list[str] = []
        self._set_expected(expected)
        self.reset()

    def _set_expected(self, expected: Expected) -> None:
        self.expected = expected
        self._plan: list[tuple[str, int | None]] = []  # (algorithm, hex length for SHAKE)
        self._unverified: list[str] = list(expected.notes)
        if expected.md5:
            self._plan.append(("md5", None))
        algo, value = expected.hash_algo, expected.hash_value
        if algo and value:
            label = algo.strip().lower()
            try:
                new_hasher(label, digest_hex_len=len(value))
            except ValueError as exc:
                self._unverified.append(
                    f"os_hash_algo {algo!r} cannot be checked ({exc}); multihash not verified"
                )
            else:
                if label != "md5":
                    self._plan.append((label, len(value)))
                elif not expected.md5:
                    self.expected = attrs.evolve(expected, md5=value)
                    self._plan.append(("md5", None))
                elif expected.md5 != value:
                    raise ChecksumMismatch(
                        algorithm="md5 (checksum vs os_hash_value)",
                        expected=expected.md5,
                        actual=value,
                        image_id=self.image_id,
                    )
        elif algo or value:
            self._unverified.append(
                f"incomplete multihash (os_hash_algo={algo!r}, os_hash_value={value!r})"
            )
        if not self._plan:
            self._unverified.append("the server published no usable checksum")

    @property
    def planned(self) -> tuple[str, ...]:
        """The digests this verifier computes (empty: nothing can be verified)."""
        return tuple(label for label, _ in self._plan)

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why some or all of the published digests cannot be checked, so far."""
        return (*self._unverified, *self._late)

    def learn(self, expected: Expected) -> None:
        """Adopt a refined expectation (a response's headers merged in).

        New digests can only be added before the first byte is hashed; one learned later is
        reported as unverified rather than half-checked.
        """
        if expected == self.expected:
            return
        if self.bytes_seen == 0:
            self._set_expected(expected)
            self.reset()
            return
        old, plan = self.expected, list(self._plan)
        hashers, seen = self.hashers, self.bytes_seen
        self._set_expected(expected)
        if self._plan != plan:
            self._late.append("a checksum announced after the transfer began was not verified")
            self._set_expected(attrs.evolve(old, size=expected.size))
        self.hashers, self.bytes_seen = hashers, seen

    def reset(self) -> None:
        """Start over (a download restarted from byte 0)."""
        self.bytes_seen = 0
        self.hashers = tuple(new_hasher(algo, digest_hex_len=n) for algo, n in self._plan)

    def count(self, n: int) -> None:
        """Account for ``n`` bytes already fed to every hasher; over-long data raises now."""
        self.bytes_seen += n
        size = self.expected.size
        if size is not None and self.bytes_seen > size:
            raise SizeMismatch(expected=size, actual=self.bytes_seen, image_id=self.image_id)

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        """Feed one chunk to every hasher (single-threaded use)."""
        for h in self.hashers:
            h.update(chunk)
        self.count(len(chunk))

    def finish(self) -> Verified:
        """Compare; raise :class:`SizeMismatch` / :class:`ChecksumMismatch` on a difference."""
        size = self.expected.size
        if size is not None and self.bytes_seen != size:
            raise SizeMismatch(expected=size, actual=self.bytes_seen, image_id=self.image_id)
        checked: dict[str, str] = {}
        for (label, _), h in zip(self._plan, self.hashers, strict=True):
            want = self.expected.md5 if label == "md5" else self.expected.hash_value
            got = h.hexdigest()
            if want is None:  # pragma: no cover - a plan entry always has its digest
                raise AssertionError(label)
            if got != want:
                raise ChecksumMismatch(
                    algorithm=label, expected=want, actual=got, image_id=self.image_id
                )
            checked[label] = got
        return Verified(self.bytes_seen, checked, (*self._unverified, *self._late))


def verify_upload(sent: int, computed: Mapping[str, str], image: Image) -> Verified:
    """Hold the server's record of an upload to what was sent: ``sent`` bytes whose
    ``computed`` digests (algorithm -> hex) the upload source hashed.

    The size is always compared, and so is each computed digest the record publishes (md5
    as ``checksum``, the multihash under its algorithm): a difference raises
    :class:`SizeMismatch` / :class:`ChecksumMismatch`. A published digest of those an upload
    can compute (:data:`UPLOAD_DIGESTS`) that this one did not is ``skipped``. When nothing
    computed could be compared, ``unverified`` says why and whether uploading with
    ``Verification.ALL`` would verify it; the shell logs that, the caller's secrets out.
    """
    notes: list[str] = []
    if image.checksum is None and image.os_hash_value is None and image.size == 0 and sent:
        notes.append("the server's record has no size or checksum after the upload")
    elif image.size != sent:
        raise SizeMismatch(expected=sent, actual=image.size, image_id=image.id)
    theirs = _published_digests(image, notes)
    checked: dict[str, str] = {}
    skipped: list[str] = []
    for algo, value in theirs:
        ours = computed.get(algo)
        if ours is None:
            if algo in UPLOAD_DIGESTS:
                skipped.append(algo)
            else:
                notes.append(f"the server hashes with {algo}, which this upload did not "
                             f"compute ({', '.join(computed) or 'no digest'})")
        elif ours != value:
            raise ChecksumMismatch(algorithm=algo, expected=ours, actual=value,
                                   image_id=image.id)
        else:
            checked[algo] = value
    if not checked:
        notes.append(_why_nothing_compared(tuple(computed),
                                           list(dict.fromkeys(a for a, _ in theirs))))
    return Verified(sent, checked, tuple(notes), tuple(dict.fromkeys(skipped)))


def _published_digests(image: Image, notes: list[str]) -> list[tuple[str, str]]:
    """(algorithm, lower-case hex) of each digest the record publishes that this Python
    can compute; what it cannot is explained in ``notes``."""
    out: list[tuple[str, str]] = []
    if image.checksum:
        out.append(("md5", image.checksum.strip().lower()))
    algo, value = image.os_hash_algo, image.os_hash_value
    if algo and value:
        label = algo.strip().lower()
        if label in hashlib.algorithms_available:
            out.append((label, value.strip().lower()))
        else:
            notes.append(f"os_hash_algo {algo!r} is unknown to this Python")
    elif algo or value:
        notes.append(f"incomplete multihash (os_hash_algo={algo!r}, os_hash_value={value!r})")
    return out


def _why_nothing_compared(computed: tuple[str, ...], published: list[str]) -> str:
    """Why no digest verified an upload, and whether another policy would have."""
    what = (f"the server's record publishes {', '.join(published)}, none of what this "
            f"upload computed ({', '.join(computed) or 'no digest'})" if published
            else "the server's record publishes no checksum")
    missing = [a for a in published if a in UPLOAD_DIGESTS and a not in computed]
    if missing:
        return (f"{what}; upload with verification=Verification.ALL to compute "
                f"{' and '.join(missing)} as well")
    return (f"{what}; Verification.ALL would not help: it computes "
            f"{' and '.join(UPLOAD_DIGESTS)} at most")


class Action(enum.Enum):
    """What to do with the body of the response just received."""

    CONTINUE = "continue"  # the body starts where we asked: append
    RESTART = "restart"  # the body starts at byte 0: rewind the target and the verifier
    SKIP = "skip"  # the body starts at byte 0 but the target cannot rewind: drop `skip` bytes


@attrs.frozen
class Start:
    """How to treat one response: its action, bytes to drop first, and the image's total."""

    action: Action
    skip: int = 0
    total: int | None = None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    text = raw.strip()
    return int(text) if text.isdigit() else None


class Resumer:
    """The resume state machine one download runs through.

    ``offset`` is the number of verified-and-delivered bytes; :meth:`ask` is the offset to
    request next; :meth:`on_response` judges the answer; :meth:`on_interrupted` spends one
    of ``max_resumes`` attempts or gives up. ``can_rewind`` says whether the target can throw
    bytes away (a temp file, a seekable file); if not, a full answer is skipped ahead instead.
    """

    def __init__(
        self,
        *,
        max_resumes: int = 3,
        resumable: bool = True,
        can_rewind: bool = True,
        image_id: str | None = None,
    ) -> None:
        if max_resumes < 0:
            raise ValueError("max_resumes must be >= 0")
        self.max_resumes = max_resumes
        self.resumable = resumable
        self.can_rewind = can_rewind
        self.image_id = image_id
        self.offset = 0
        self.resumes = 0
        self.total: int | None = None

    def ask(self) -> int:
        """The offset to put in ``Range: bytes=N-`` (0 = no Range header)."""
        return self.offset if self.resumable else 0

    def on_response(self, status: int, headers: Mapping[str, str]) -> Start:
        """Judge a 200/204/206 for the offset asked; raise when it cannot be used."""
        if status == 204:
            raise ImageUnacceptable("the image has no data to download", image_id=self.image_id)
        if status == 206:
            first, total = self._content_range(headers, status)
        elif status == 200:
            first = 0
            total = None if headers.get("content-encoding") else _int_header(
                headers, "content-length"
            )
        else:
            raise UnexpectedTransferResponse(
                f"unexpected download status {status}", image_id=self.image_id, status=status
            )
        total = self._note_total(total)
        if first == self.offset:
            return Start(Action.CONTINUE, 0, total)
        if first == 0 and self.can_rewind:
            self.offset = 0
            return Start(Action.RESTART, 0, total)
        return Start(Action.SKIP, self.offset - first, total)

    def _content_range(self, headers: Mapping[str, str], status: int) -> tuple[int, int | None]:
        text = headers.get("content-range") or ""
        match = _CONTENT_RANGE.fullmatch(text)
        if match is None:
            raise UnexpectedTransferResponse(
                f"206 without a usable Content-Range: {text!r}",
                image_id=self.image_id,
                status=status,
            )
        first, last = int(match.group(1)), int(match.group(2))
        total = None if match.group(3) == "*" else int(match.group(3))
        if first != self.ask() or (total is not None and last != total - 1):
            raise UnexpectedTransferResponse(
                f"asked for bytes {self.ask()}- but got Content-Range {text!r}",
                image_id=self.image_id,
                status=status,
            )
        return first, total

    def _note_total(self, total: int | None) -> int | None:
        if total is None:
            return self.total
        if self.total is not None and self.total != total:
            raise SizeMismatch(expected=self.total, actual=total, image_id=self.image_id)
        self.total = total
        return total

    def advance(self, n: int) -> None:
        """Record ``n`` more bytes delivered to the target."""
        self.offset += n

    def on_interrupted(self, exc: TransferInterrupted) -> None:
        """Spend one resume, or re-raise (with the offset reached) when none are left."""
        if self.resumes >= self.max_resumes:
            raise TransferInterrupted(
                f"download broke at byte {self.offset} and {self.resumes} "
                f"resume(s) did not finish it: {exc.message}",
                offset=self.offset,
                image_id=self.image_id,
            ) from exc
        self.resumes += 1

    @property
    def complete(self) -> bool:
        """True once every byte of a known total was delivered."""
        return self.total is not None and self.offset >= self.total

    def ended_early(self) -> bool:
        """True when the body ended cleanly but short of the announced total (a truncation)."""
        return self.total is not None and self.offset < self.total
