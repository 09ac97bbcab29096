"""imgcompat: one image API for a compute service, over Glance v1, v2 or both.

The names below are the public API, pinned by ``tests/unit/test_exported_members.py``:
growing it is a decision, not an accident. They are the records and the translation
report, the open enums, the two clients and the results a caller holds, the codecs the
README lists, and the exceptions callers catch. Everything else is importable from its
module (``imgcompat.core.*``, ``imgcompat.shell.*``) for those who need it; the whole
exception tree is drawn in :mod:`imgcompat.core.errors`.

``import imgcompat`` loads no CLI or server module: the command (``imgcompat.cli``) and a
socket-serving emulator need the ``cli`` and ``emulator`` extras.
"""

from imgcompat.core.discovery import VersionChoice
from imgcompat.core.enums import Api, ContainerFormat, DiskFormat, Status, Visibility
from imgcompat.core.errors import (
    ChecksumMismatch,
    Conflict,
    ConnectionFailed,
    Forbidden,
    ImageBadRequest,
    ImageNotAuthorized,
    ImageNotFound,
    ImageQuotaExceeded,
    ImageUnacceptable,
    ImgcompatError,
    Invalid,
    InvalidRecord,
    InvalidResponse,
    NotFound,
    ServiceUnavailable,
    StatusError,
)
from imgcompat.core.integrity import Verified
from imgcompat.core.model import Image, Location, Loss, Translated, V1Image, V2Image
from imgcompat.core.query import filters_for
from imgcompat.core.seam import (
    from_seam_dict,
    from_v1_headers,
    from_v1_json,
    from_v2,
    to_seam_dict,
    to_v1_headers,
    to_v2,
)
from imgcompat.core.writes import v1_update_headers, v2_patch
from imgcompat.shell.aclient import AsyncImageClient
from imgcompat.shell.client import ImageClient
from imgcompat.shell.listing import AsyncListing, Listing

__all__ = [
    # records and the translation report
    "Image",
    "V1Image",
    "V2Image",
    "Location",
    "Loss",
    "Translated",
    # open enums
    "Api",
    "Status",
    "Visibility",
    "DiskFormat",
    "ContainerFormat",
    # the clients and what a caller holds from them
    "ImageClient",
    "AsyncImageClient",
    "Listing",
    "AsyncListing",
    "Verified",
    "VersionChoice",
    # codecs
    "from_seam_dict",
    "to_seam_dict",
    "from_v1_headers",
    "from_v1_json",
    "to_v1_headers",
    "from_v2",
    "to_v2",
    "v1_update_headers",
    "v2_patch",
    "filters_for",
    # exceptions callers catch (the whole tree: imgcompat.core.errors)
    "ImgcompatError",
    "InvalidRecord",
    "InvalidResponse",
    "StatusError",
    "ConnectionFailed",
    "NotFound",
    "ImageNotFound",
    "Forbidden",
    "ImageNotAuthorized",
    "Invalid",
    "ImageBadRequest",
    "Conflict",
    "ImageQuotaExceeded",
    "ImageUnacceptable",
    "ChecksumMismatch",
    "ServiceUnavailable",
]
