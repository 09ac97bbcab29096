"""Open string enums: known values are members, unknown ones still parse.

A newer Glance may add a status or a disk format; an older client must carry it through
instead of crashing. ``_missing_`` mints (and caches) a pseudo-member for any other string,
so ``Status("uploading_v3")`` works, compares equal to its text, and ``.known`` says False.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class OpenStrEnum(StrEnum):
    """A StrEnum that accepts values it does not list."""

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        if not isinstance(value, str) or not value:
            return None
        cached = cls._value2member_map_.get(value)
        if cached is not None:
            return cached  # type: ignore[return-value]
        member = str.__new__(cls, value)
        member._name_ = value.upper()
        member._value_ = value
        cls._value2member_map_[value] = member
        return member

    @property
    def known(self) -> bool:
        """True when this value is one the library was written for."""
        return self._name_ in type(self).__members__


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
