"""imgcompat: one image API for a compute service, over Glance v1, v2 or both.

The core (records, codecs, translation, planning) is pure; the clients and the emulator
are the imperative shell around it. Everything listed in ``__all__`` is public.
"""

from imgcompat.core.discovery import (
    Endpoint,
    VersionChoice,
    choose_version,
    normalize_endpoint,
)
from imgcompat.core.enums import Api, ContainerFormat, DiskFormat, Status, Visibility
from imgcompat.core.errors import (
    ChecksumMismatch,
    Conflict,
    ConnectionFailed,
    Forbidden,
    ImageBadRequest,
    ImageChecksumMismatch,
    ImageNotAuthorized,
    ImageNotFound,
    ImageQuotaExceeded,
    ImageUnacceptable,
    ImgcompatError,
    Invalid,
    InvalidRecord,
    NotFound,
    RangeNotSatisfiable,
    ServerError,
    ServiceUnavailable,
    UnexpectedResponse,
    UnsupportedMediaType,
    VersionNotAvailable,
    error_for,
)
from imgcompat.core.immutable import FrozenDict
from imgcompat.core.model import Image, Location, Loss, Translated, V1Image, V2Image
from imgcompat.core.query import FilterPlan, filters_for
from imgcompat.core.seam import (
    from_seam_dict,
    from_v1_headers,
    from_v1_json,
    from_v1_json_list,
    from_v2,
    from_v2_list,
    to_seam_dict,
    to_seam_json,
    to_v1_headers,
    to_v2,
)
from imgcompat.core.translate import image_to_v1, image_to_v2, v1_to_image, v2_to_image
from imgcompat.core.writes import v1_update_headers, v2_patch
from imgcompat.shell.aclient import AsyncImageClient, AsyncListing
from imgcompat.shell.auth import CallableToken, SessionAuth, StaticToken
from imgcompat.shell.client import ImageClient, Listing
from imgcompat.shell.config import ClientConfig

__all__ = [
    "Api",
    "AsyncImageClient",
    "AsyncListing",
    "CallableToken",
    "ClientConfig",
    "ImageClient",
    "Listing",
    "SessionAuth",
    "StaticToken",
    "ChecksumMismatch",
    "Conflict",
    "ConnectionFailed",
    "ContainerFormat",
    "DiskFormat",
    "Endpoint",
    "FilterPlan",
    "Forbidden",
    "FrozenDict",
    "Image",
    "ImageBadRequest",
    "ImageChecksumMismatch",
    "ImageNotAuthorized",
    "ImageNotFound",
    "ImageQuotaExceeded",
    "ImageUnacceptable",
    "ImgcompatError",
    "Invalid",
    "InvalidRecord",
    "Location",
    "Loss",
    "NotFound",
    "RangeNotSatisfiable",
    "ServerError",
    "ServiceUnavailable",
    "Status",
    "Translated",
    "UnexpectedResponse",
    "UnsupportedMediaType",
    "V1Image",
    "V2Image",
    "VersionChoice",
    "VersionNotAvailable",
    "Visibility",
    "choose_version",
    "error_for",
    "filters_for",
    "from_seam_dict",
    "from_v1_headers",
    "from_v1_json",
    "from_v1_json_list",
    "from_v2",
    "from_v2_list",
    "image_to_v1",
    "image_to_v2",
    "normalize_endpoint",
    "to_seam_dict",
    "to_seam_json",
    "to_v1_headers",
    "to_v2",
    "v1_to_image",
    "v1_update_headers",
    "v2_patch",
    "v2_to_image",
]
