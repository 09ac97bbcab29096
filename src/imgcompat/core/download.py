"""The decisions of one download, apart from the bytes' movement: sans-I/O.

A download asks for an offset, judges each response (continue, restart, skip ahead), groups
the network's pieces into batches, accounts for every batch the shell hashed and wrote, and
decides at the end of each body whether it is done, must resume, or has failed. All of it is
here so the sync and async drivers in :mod:`imgcompat.shell.download` take each decision the
same way; they only read sockets, write files and run the hashers on threads.

:class:`DownloadOptions` is the one record a caller tunes a download with.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from typing import TypeAlias, TypedDict

import attrs

from imgcompat.core.errors import ImageNotVerifiable, ImageTooLarge, TransferInterrupted
from imgcompat.core.integrity import Action, Expected, Hasher, Resumer, Start, Verified, Verifier

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_SIZE",
    "Batcher",
    "DownloadOptions",
    "DownloadPolicy",
    "DownloadState",
    "Progress",
    "Verification",
]

#: Buffer size handed to the hashers and the disk: large enough that hashlib drops the GIL
#: for long stretches, small enough that two in flight stay far below the memory budget.
DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024

#: progress(bytes_done, total_or_None); bytes_done drops back to 0 when a download restarts.
Progress: TypeAlias = Callable[[int, "int | None"], None]

#: The default ``max_size``: Glance's own default ``image_size_cap`` (1 TiB), the largest
#: image a default server stores, so no genuine image is refused; it still stops an endless
#: body from a record that states no size. Lower it where the disk is smaller.
DEFAULT_MAX_SIZE = 1 << 40

#: Network pieces smaller than this are joined before hashing (hashlib keeps the GIL for
#: tiny buffers, and per-piece overhead would dominate); larger ones are never copied.
_SMALL = 16 * 1024


class Verification(enum.Enum):
    """Which of the digests the server publishes a transfer checks: a download
    (:meth:`select`) or an upload (:meth:`upload_digests`).

    An enum, not a flag, so a policy can be added without another keyword everywhere.
    """

    #: The strongest digest the record publishes: the multihash (``os_hash_algo``, sha512
    #: by default) when this Python can compute it, else md5. The default: md5 beside a
    #: matching sha512 adds no assurance and doubles the hashing. What Glance designed the
    #: multihash for, and what python-glanceclient checks.
    STRONGEST = "strongest"
    #: md5 and the multihash, each when published: twice the hashing, for a caller that
    #: wants both compared.
    ALL = "all"

    def select(self, expected: Expected) -> Expected:
        """The expectation this policy checks, out of everything the record promised."""
        match self:
            case Verification.STRONGEST:
                return expected.strongest()
            case Verification.ALL:
                return expected

    def upload_digests(self, published: Sequence[str]) -> tuple[str, ...]:
        """The digests an upload computes, out of those the record will publish once the
        server has the data (``published``, weakest first: md5, then the multihash; the
        dialect knows them, see :attr:`~imgcompat.core.dialect.Dialect.published_digests`).

        The choice :meth:`select` makes for a download, made before the record exists:
        STRONGEST hashes the multihash alone when the record will have one, else md5; ALL
        hashes every one. Whatever is computed is all
        :func:`~imgcompat.core.integrity.verify_upload` can compare, so an upload hashes
        nothing it will not compare, and the default hashes once.
        """
        chosen = tuple(dict.fromkeys(published))
        if self is Verification.STRONGEST:
            return tuple(a for a in chosen if a != "md5")[-1:] or chosen
        return chosen


@attrs.frozen
class DownloadOptions:
    """How one download runs; every field has the behaviour a caller wants by default.

    ``image_id`` only names the image in errors. ``resumable=False`` asks every retry from
    byte 0 (v1 has no ranges). ``parallel`` hashes the digests and the disk write on threads
    side by side; ``False`` does them in turn. ``verification`` chooses which published
    digests are computed (:class:`Verification`; the strongest one by default).

    ``require_verified=True`` refuses a download no digest can verify (the record publishes
    none, or only one this Python cannot compute) with
    :class:`~imgcompat.core.errors.ImageNotVerifiable`, before any byte is written. The
    library's default is False: images with no checksum are legitimate in Glance (an image
    registered by location, e.g. a compute host's RBD snapshot, has none), and a compute
    service must still boot them; the shell logs a warning naming the image instead. The
    ``imgcompat`` command turns it on.

    ``max_size`` bounds the bytes accepted (:data:`DEFAULT_MAX_SIZE`, Glance's default
    ``image_size_cap``; None: no bound): a larger announced size, or a body that goes past
    it when no size was announced, raises :class:`~imgcompat.core.errors.ImageTooLarge`
    before the excess is written.
    """

    image_id: str | None = None
    progress: Progress | None = None
    max_resumes: int = 3
    resumable: bool = True
    chunk_size: int = attrs.field(default=DEFAULT_CHUNK_SIZE,
                                  validator=attrs.validators.gt(0))
    parallel: bool = True
    verification: Verification = Verification.STRONGEST
    require_verified: bool = False
    max_size: int | None = attrs.field(default=DEFAULT_MAX_SIZE)

    @max_size.validator
    def _check_max_size(self, _: attrs.Attribute[int | None], value: int | None) -> None:
        if value is not None and value < 0:
            raise ValueError(f"max_size must be >= 0 or None, got {value}")


class DownloadPolicy(TypedDict, total=False):
    """What a caller of the clients' ``download`` may choose (their keywords), documented
    on :class:`DownloadOptions`: ``verification``, ``require_verified``, ``max_size``."""

    verification: Verification
    require_verified: bool
    max_size: int | None


class Batcher:
    """Groups network pieces into batches of at least ``size`` bytes without copying them.

    The hashers and the writer walk a batch piece by piece (``os.writev`` for files), so
    large pieces are never copied; only runs of small pieces are joined.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._parts: list[bytes] = []
        self._small: list[bytes] = []
        self._small_len = 0
        self._len = 0

    def _flush_small(self) -> None:
        if self._small:
            self._parts.append(self._small[0] if len(self._small) == 1
                               else b"".join(self._small))
            self._small.clear()
            self._small_len = 0

    def add(self, chunk: bytes) -> list[bytes] | None:
        """Take one piece; a full batch comes back once ``size`` bytes are gathered."""
        if len(chunk) < _SMALL:
            self._small.append(chunk)
            self._small_len += len(chunk)
            if self._small_len >= _SMALL:
                self._flush_small()
        else:
            self._flush_small()
            self._parts.append(chunk)
        self._len += len(chunk)
        return self.take() if self._len >= self.size else None

    def take(self) -> list[bytes]:
        """Whatever is gathered, as one (possibly short) batch; the batcher is empty after."""
        self._flush_small()
        out, self._parts, self._len = self._parts, [], 0
        return out

    def __len__(self) -> int:
        return self._len


class DownloadState:
    """Where one download stands: the verifier, the resume rules, the batch being gathered.

    The driver reads a response with :meth:`start`, feeds its pieces to :meth:`accept`,
    calls :meth:`account` for each batch and hashes it with :attr:`hashers` as it writes it;
    at the end of a body it asks :meth:`body_ended` whether to go on.
    ``can_rewind`` says whether the target can throw written bytes away (a temp file, a
    seekable file); if not, a server that starts over is skipped ahead instead.
    """

    def __init__(self, expected: Expected, options: DownloadOptions, *,
                 can_rewind: bool) -> None:
        self.image_id = options.image_id
        self.require_verified = options.require_verified
        self.max_size = options.max_size
        self.skipped = tuple(a for a in expected.published()
                             if a not in options.verification.select(expected).published())
        self.verifier = Verifier(options.verification.select(expected),
                                 image_id=options.image_id)
        self.resumer = Resumer(
            max_resumes=options.max_resumes,
            resumable=options.resumable,
            can_rewind=can_rewind,
            image_id=options.image_id,
        )
        self.batcher = Batcher(options.chunk_size)
        self.skip = 0

    # -- responses

    def ask(self) -> int:
        """The offset the next request starts at (0: no ``Range``)."""
        return self.resumer.ask()

    def start(self, status: int, headers: Mapping[str, str]) -> Start:
        """Judge a response; on :attr:`Action.RESTART` the driver rewinds its target.

        A response whose headers contradict what is known raises before any byte is used;
        so does one announcing more than ``max_size``, or one nothing can verify when the
        download must be verified.
        """
        start = self.resumer.on_response(status, headers)
        expected = self.verifier.expected.with_headers(
            headers, start.total, image_id=self.image_id
        )
        if start.action is Action.RESTART:
            self.verifier.reset()
        self.verifier.learn(expected)
        self._check_size(self.verifier.expected.size or 0)
        if self.require_verified and not self.verifier.planned:
            raise ImageNotVerifiable(self.verifier.reasons, image_id=self.image_id)
        self.skip = start.skip
        return start

    def _check_size(self, size: int) -> None:
        if self.max_size is not None and size > self.max_size:
            raise ImageTooLarge(limit=self.max_size, size=size, image_id=self.image_id)

    # -- bytes

    def accept(self, chunk: bytes) -> list[bytes] | None:
        """Take one network piece; a full batch comes back when one is ready to hash."""
        if self.skip:
            if len(chunk) <= self.skip:
                self.skip -= len(chunk)
                return None
            chunk = chunk[self.skip :]
            self.skip = 0
        if not chunk:
            return None
        return self.batcher.add(chunk)

    def leftover(self) -> list[bytes] | None:
        """The partial batch, once the body ended or broke."""
        return self.batcher.take() if len(self.batcher) else None

    @property
    def hashers(self) -> tuple[Hasher, ...]:
        """The digests to update with each batch (on any thread, one batch at a time)."""
        return self.verifier.hashers

    def account(self, parts: list[bytes]) -> None:
        """Count a batch about to be hashed and written; more than promised raises now."""
        n = sum(map(len, parts))
        self._check_size(self.resumer.offset + n)
        self.verifier.count(n)
        self.resumer.advance(n)

    @property
    def position(self) -> tuple[int, int | None]:
        """(bytes delivered, total or None): what a progress callback is told."""
        return self.resumer.offset, self.resumer.total

    # -- ends of a body

    def body_ended(self, broke: TransferInterrupted | None = None) -> bool:
        """True when the download is complete; False to ask again from :meth:`ask`.

        ``broke`` is the error that cut the body short, if one did. A body that broke once
        every byte had arrived is complete; one that broke earlier, or ended cleanly short of
        the announced total (a truncation), spends one resume, or raises when none are left.
        """
        if broke is not None:
            if self.resumer.complete:
                return True
        elif self.resumer.ended_early():
            broke = TransferInterrupted(
                f"the body ended at byte {self.resumer.offset} of {self.resumer.total}",
                offset=self.resumer.offset,
                image_id=self.image_id,
            )
        else:
            return True
        self.resumer.on_interrupted(broke)
        return False

    def finish(self) -> Verified:
        """Compare every digest; raise on a difference, or when nothing was verified and
        the download had to be."""
        result = attrs.evolve(self.verifier.finish(), skipped=self.skipped)
        if self.require_verified and not result.verified:
            raise ImageNotVerifiable(result.unverified, image_id=self.image_id)
        return result
