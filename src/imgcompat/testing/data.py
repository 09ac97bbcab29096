"""Image bytes in and out: streamed uploads with hashing and format inspection, ranges.

Shared by both APIs. An upload is written chunk by chunk to the blob store while md5 and
sha512 are computed, so nothing of the image is held beyond one chunk (with a directory
store).

Format inspection is Glance 33's, with the very inspectors it uses (oslo.utils'
``format_inspector``), and only where Glance runs them: a v2 upload (or import) into an
image whose ``container_format`` is ``bare``. Then the data must be of the declared
``disk_format`` (and pass that format's safety checks), except that ``raw`` takes any
recognisable format that is safe, and formats that cannot be inspected (``ami``,
``ploop``...) take unrecognised data; ``virtual_size`` is what the inspector reports.
Other containers are stored unread, with no virtual size. The v1 API (whose last server
inspected nothing) only measures: the virtual size of data that is of its declared
format, never a refusal.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from typing import Any, Literal

import attrs

from imgcompat.core.errors import MissingExtra

from .store import Blobs, Hasher


def inspectors() -> Any:
    """oslo.utils' ``format_inspector`` (the ``emulator`` extra), imported on first use so
    that ``import imgcompat.testing`` needs nothing beyond the library."""
    try:
        from oslo_utils.imageutils import format_inspector
    except ImportError as exc:
        raise MissingExtra("the emulator checks uploads with Glance's own format inspectors "
                           "(oslo.utils): pip install 'imgcompat[emulator]'",
                           extra="emulator") from exc
    return format_inspector

#: glance_store's filesystem driver writes (and checks sizes) 64 KiB at a time.
_WRITE_CHUNK = 64 * 1024


class FormatMismatch(Exception):
    """The data is not of the image's disk format, or is unsafe (415 on v2)."""


class SizeMismatch(Exception):
    """The data is not as long as ``x-openstack-image-size`` said (400 on v2)."""


@attrs.frozen
class Stored:
    """Bytes written to a blob store, and what was learnt on the way."""

    location: str
    size: int
    md5: str
    sha512: str
    virtual_size: int | None
    #: The store id (``/v2/info/stores``) they were written for (None: the default).
    store: str | None = None


class _Feed(io.BytesIO):
    """The stream an ``InspectWrapper`` reads: the chunk just received."""

    def __init__(self) -> None:
        super().__init__()
        self.chunk = b""

    def read(self, size: int | None = -1) -> bytes:
        del size
        return self.chunk


class Inspection:
    """Glance's ``set_data`` inspection: chunks in, then the verdict on the whole."""

    def __init__(self, disk_format: str | None) -> None:
        self.disk_format = disk_format or ""
        self._feed = _Feed()
        self._fi = inspectors()
        self._wrapper = self._fi.InspectWrapper(self._feed)

    def eat(self, chunk: bytes) -> None:
        """Show the inspectors one more chunk."""
        self._feed.chunk = chunk
        self._wrapper.read(len(chunk))

    def measure(self) -> int | None:
        """The virtual size when the data is of the declared format (None otherwise)."""
        self._wrapper.close()
        try:
            inspector = self._wrapper.format
        except self._fi.ImageFormatError:
            return None
        if inspector is None or str(inspector) != self.disk_format:
            return None
        return inspector.virtual_size or None

    def verdict(self) -> int | None:
        """The virtual size to record (None: none); :class:`FormatMismatch` if refused."""
        self._wrapper.close()
        disk_format = self.disk_format
        fi = self._fi
        try:
            matches = self._wrapper.formats or []
            by_name = {str(i): i for i in matches}
            if by_name.keys() == {"iso", "gpt"}:
                inspector: Any = by_name["iso"]
            else:
                inspector = self._wrapper.format
            found = str(inspector)
            virtual_size = 0
            if found == disk_format:
                virtual_size = inspector.virtual_size
            elif found == "raw" and disk_format not in fi.ALL_FORMATS:
                pass  # not an inspectable format: unrecognised data is fine
            elif disk_format == "raw":
                virtual_size = inspector.actual_size
            else:
                raise fi.ImageFormatError(
                    f"Image disk_format {disk_format} does not match stream data {found}")
            inspector.safety_check()
        except fi.ImageFormatError as exc:
            raise FormatMismatch(str(exc)) from None
        except fi.SafetyCheckFailed as exc:
            fatal = set(exc.failures)
            if disk_format in ("aki", "ari"):
                fatal.discard("mbr")
            if inspector.NAME != "gpt" or fatal:
                raise FormatMismatch("Image failed safety checks") from None
        except Exception:  # Glance: "Unable to determine stream format"
            raise FormatMismatch("Image format inspection failed") from None
        return virtual_size or None


Inspect = Literal["off", "enforce", "measure"]


async def receive_data(chunks: AsyncIterator[bytes], blobs: Blobs, image_id: str,
                       disk_format: str | None, *, container_format: str | None = None,
                       inspect: Inspect = "off", expected_size: int | None = None) -> Stored:
    """Stream ``chunks`` into the blob store; raise BodyBroken / FormatMismatch /
    SizeMismatch.

    ``inspect="enforce"`` runs Glance's format inspection when the container is
    ``bare``; ``"measure"`` only records the virtual size of data of the declared
    format. ``expected_size`` (a non-zero ``x-openstack-image-size``) is held to as
    glance_store's filesystem driver does. On failure the partial blob is discarded; a
    format refusal keeps the blob (see :class:`Refused`).
    """
    writer = blobs.writer(image_id)
    hasher = Hasher()
    enforce = inspect == "enforce" and container_format == "bare"
    inspection = Inspection(disk_format) if enforce or inspect == "measure" else None
    try:
        async for chunk in chunks:
            total = hasher.size + len(chunk)
            if expected_size and total > expected_size:
                got = min(total, (expected_size // _WRITE_CHUNK + 1) * _WRITE_CHUNK)
                raise SizeMismatch(f"Size exceeds: expected {expected_size} bytes, got "
                                   f"{got} bytes")
            if inspection is not None:
                inspection.eat(chunk)
            hasher.update(chunk)
            writer.write(chunk)
        if expected_size and hasher.size != expected_size:
            raise SizeMismatch(f"Size mismatch: expected {expected_size} bytes, got "
                               f"{hasher.size} bytes")
    except BaseException:
        writer.abort()
        raise
    location = writer.commit()
    stored = Stored(location, hasher.size, hasher.md5.hexdigest(), hasher.sha512.hexdigest(),
                    None)
    if inspection is None:
        return stored
    if not enforce:
        return attrs.evolve(stored, virtual_size=inspection.measure())
    try:
        virtual_size = inspection.verdict()
    except FormatMismatch as exc:
        raise Refused(str(exc), stored) from None
    return attrs.evolve(stored, virtual_size=virtual_size)


class Refused(FormatMismatch):
    """The data was stored, then refused by the inspection (Glance keeps its hashes)."""

    def __init__(self, message: str, stored: Stored) -> None:
        super().__init__(message)
        self.stored = stored


# ---------------------------------------------------------------------------- ranges


class RangeError(Exception):
    """A Range header the server refuses; ``status`` is 400 or 416."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def parse_range(header: str, size: int) -> tuple[int, int]:
    """``Range: bytes=...`` as a half-open ``(start, end)`` within ``size`` bytes.

    Single ranges only (several → 400, as Glance answers); ``N-``, ``N-M`` and the suffix
    form ``-N``; a malformed header or a start at or past the end → 416.
    """
    text = header.strip()
    if "," in text:
        raise RangeError(400, "Requests with multiple ranges are not supported in Glance. "
                              "You may make multiple single-range requests instead.")
    match = _RANGE.fullmatch(text.replace(" ", ""))
    if match is None or (not match.group(1) and not match.group(2)):
        raise RangeError(416, "Invalid Range header.")
    first, last = match.group(1), match.group(2)
    if not first:
        start, end = max(0, size - int(last)), size
    else:
        start = int(first)
        end = size if not last else min(int(last) + 1, size)
        if last and int(last) < start:
            raise RangeError(416, "Invalid Range header.")
    if start >= size:
        raise RangeError(416, "Invalid start position in Range header. Start position "
                              f"MUST be in the inclusive range [0, {size - 1}].")
    return start, end
