"""``imgcompat.nova``: the classic image seam's call shapes (context first, seam dicts back).

The code lives in :mod:`imgcompat.shell.nova`, under the shell's import contracts; this
module is the name a compute service imports. It is not in ``imgcompat.__all__``.
"""

from imgcompat.shell.nova import REQUEST_ID_ATTRIBUTES, ImageService, ServiceToken

__all__ = ["REQUEST_ID_ATTRIBUTES", "ImageService", "ServiceToken"]
