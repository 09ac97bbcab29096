"""Open string enums: known values are members, unknown ones still parse.

A newer Glance may add a status or a disk format; an older client must carry it through
instead of crashing. ``_missing_`` mints a pseudo-member for any other string, so
``Status("uploading_v3")`` works, compares equal (and hashes equal) to its text, and ``.known``
says False.

Pseudo-members are not registered in the enum: the server chooses these strings, and a
registry of them would grow with every new one it sends (a hostile server sending a fresh
64 KiB status per answer once pinned 192 MiB per 1,000 answers). Only the most recent few
short ones are remembered (a bounded LRU), so a value a server keeps sending stays one
object; a long one is minted afresh each time. Compare unknown values with ``==``. The
schemas also cap these strings at Glance's own column widths.
"""

from __future__ import annotations

import functools
import re
from enum import StrEnum
from typing import Self, cast

from imgcompat.core.errors import InvalidRecord

#: How many unknown values are remembered (across the open enums), and up to what length:
#: longer than any Glance column for these fields, so only a misbehaving server goes past it.
_REMEMBERED = 256
_REMEMBERED_LENGTH = 64


class OpenStrEnum(StrEnum):
    """A StrEnum that accepts values it does not list."""

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        if not isinstance(value, str) or not value:
            return None
        make = _remembered if len(value) <= _REMEMBERED_LENGTH else _mint
        return cast(Self, make(cls, value))

    @property
    def known(self) -> bool:
        """True when this value is one the library was written for."""
        return self._value_ in type(self)._value2member_map_


def _mint(cls: type[OpenStrEnum], value: str) -> OpenStrEnum:
    """A pseudo-member of ``cls`` for ``value``, registered nowhere."""
    member = str.__new__(cls, value)
    member._name_ = value.upper()
    member._value_ = value
    return member


_remembered = functools.lru_cache(maxsize=_REMEMBERED)(_mint)


class Status(OpenStrEnum):
    QUEUED = "queued"
    SAVING = "saving"
    UPLOADING = "uploading"
    IMPORTING = "importing"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    KILLED = "killed"
    DELETED = "deleted"
    PENDING_DELETE = "pending_delete"


#: Statuses a v1 server knows; the others are v2-only.
V1_STATUSES = frozenset(
    {Status.QUEUED, Status.SAVING, Status.ACTIVE, Status.KILLED, Status.DELETED,
     Status.PENDING_DELETE}
)


class Visibility(OpenStrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    SHARED = "shared"
    COMMUNITY = "community"


class DiskFormat(OpenStrEnum):
    AMI = "ami"
    ARI = "ari"
    AKI = "aki"
    VHD = "vhd"
    VHDX = "vhdx"
    VMDK = "vmdk"
    RAW = "raw"
    QCOW2 = "qcow2"
    VDI = "vdi"
    ISO = "iso"
    PLOOP = "ploop"


class ContainerFormat(OpenStrEnum):
    AMI = "ami"
    ARI = "ari"
    AKI = "aki"
    BARE = "bare"
    OVF = "ovf"
    OVA = "ova"
    DOCKER = "docker"
    COMPRESSED = "compressed"


class Api(StrEnum):
    """The Glance API major version a request is planned for."""

    V1 = "1"
    V2 = "2"


#: How users spell an API version (in options, ``OS_IMAGE_API_VERSION``, the CLI).
API_SPELLINGS = ("1", "2", "v1", "v2", "1.0", "2.0", "2.<minor>")
_API_SPELLING = re.compile(r"^v?([12])(?:\.\d{1,3})?\Z")


def parse_api(value: Api | str | int) -> Api:
    """An API major from any usual spelling: ``1``, ``"2"``, ``"v2"``, ``"2.0"``, ``"v2.15"``.

    One parser for every place a version is taken, so ``OS_IMAGE_API_VERSION=2`` and
    ``version="v2"`` mean the same everywhere and a typo fails the same way.
    """
    if isinstance(value, Api):
        return value
    match = None
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        match = _API_SPELLING.match(str(value).strip().lower())
    if match is None:
        shown = repr(value)[:40]
        raise InvalidRecord(f"unknown image API version {shown}; write one of "
                            f"{', '.join(API_SPELLINGS)}", field="version")
    return Api(match.group(1))
