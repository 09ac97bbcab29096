"""Image bytes in and out: streamed uploads with hashing and format inspection, ranges.

Shared by both APIs. An upload is written chunk by chunk to the blob store while md5 and
sha512 are computed, so nothing of the image is held beyond one chunk (with a directory
store). Like Glance 33, the first bytes are inspected: data that is plainly another format
than the declared ``disk_format`` is refused.
"""

from __future__ import annotations

import re
import struct

import attrs

from .http import Request
from .store import Blobs, Hasher

#: Magic numbers of the formats the emulator recognises, at offset 0.
_MAGIC: dict[str, bytes] = {
    "qcow2": b"QFI\xfb",
    "vhdx": b"vhdxfile",
    "vmdk": b"KDMV",
}
_HEAD = max(len(m) for m in _MAGIC.values())


def detect_format(head: bytes) -> str:
    """The disk format the first bytes show; ``raw`` when no magic number matches."""
    for name, magic in _MAGIC.items():
        if head.startswith(magic):
            return name
    return "raw"


def format_mismatch(disk_format: str | None, head: bytes) -> str | None:
    """Why data does not fit ``disk_format`` (None when it fits).

    Formats with a magic number (qcow2, vhdx, vmdk) must show it; ``raw`` refuses data
    that is recognisably one of those. Other formats (iso, vdi, vhd, ami, ...) are not
    inspected by the emulator and accept anything.
    """
    found = detect_format(head)
    declared = disk_format or ""
    if declared in _MAGIC and found != declared:
        return f"Image disk_format {declared} does not match stream data {found}"
    if declared == "raw" and found != "raw":
        return f"Image disk_format raw does not match stream data {found}"
    return None


def virtual_size(disk_format: str | None, head: bytes, size: int) -> int | None:
    """What the inspector would report: raw is its own size, qcow2 says it in its header."""
    if disk_format == "raw":
        return size
    if disk_format == "qcow2" and len(head) >= 32 and head.startswith(_MAGIC["qcow2"]):
        value: int = struct.unpack(">Q", head[24:32])[0]
        return value
    return None


class FormatMismatch(Exception):
    """The data is not of the image's disk format (415 on v2)."""


@attrs.frozen
class Stored:
    location: str
    size: int
    md5: str
    sha512: str
    virtual_size: int | None


async def receive_data(request: Request, blobs: Blobs, image_id: str,
                       disk_format: str | None, *, inspect: bool) -> Stored:
    """Stream the request body into the blob store; raise BodyBroken / FormatMismatch.

    Nothing is left behind on failure: the partial blob is discarded.
    """
    writer = blobs.writer(image_id)
    hasher = Hasher()
    head = b""
    checked = not inspect
    try:
        async for chunk in request.chunks():
            if len(head) < 32:
                head += chunk[: 32 - len(head)]
            if not checked and len(head) >= _HEAD:
                checked = True
                reason = format_mismatch(disk_format, head)
                if reason:
                    raise FormatMismatch(reason)
            hasher.update(chunk)
            writer.write(chunk)
        if not checked:
            reason = format_mismatch(disk_format, head)
            if reason:
                raise FormatMismatch(reason)
    except BaseException:
        writer.abort()
        raise
    location = writer.commit()
    return Stored(location, hasher.size, hasher.md5.hexdigest(), hasher.sha512.hexdigest(),
                  virtual_size(disk_format, head, hasher.size))


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
