"""The public API is a decision: this list changes only on purpose (as httpx pins its own)."""

from __future__ import annotations

import inspect
import subprocess
import sys

import imgcompat

EXPECTED = {
    "Image", "V1Image", "V2Image", "Location", "Loss", "Translated",
    "Api", "Status", "Visibility", "DiskFormat", "ContainerFormat",
    "ImageClient", "AsyncImageClient", "Listing", "AsyncListing", "Verified", "VersionChoice",
    "from_seam_dict", "to_seam_dict", "from_v1_headers", "from_v1_json", "to_v1_headers",
    "from_v2", "to_v2", "v1_update_headers", "v2_patch", "filters_for",
    "ImgcompatError", "InvalidRecord", "InvalidResponse", "StatusError", "ConnectionFailed",
    "NotFound", "ImageNotFound", "Forbidden", "ImageNotAuthorized", "Invalid",
    "ImageBadRequest", "Conflict", "ImageQuotaExceeded", "ImageUnacceptable",
    "ChecksumMismatch", "ServiceUnavailable",
}


def test_all_is_pinned() -> None:
    assert set(imgcompat.__all__) == EXPECTED
    assert len(imgcompat.__all__) == len(EXPECTED) <= 45


def test_every_exported_name_exists_and_no_other_public_name_leaks() -> None:
    for name in imgcompat.__all__:
        assert hasattr(imgcompat, name), name
    public = {n for n in vars(imgcompat) if not n.startswith("_")}
    # subpackages (and imgcompat.nova) become attributes once imported; nothing else may
    assert public - EXPECTED <= {"core", "shell", "testing", "cli", "nova"}


def test_every_exported_exception_is_an_imgcompat_error() -> None:
    for name in imgcompat.__all__:
        obj = getattr(imgcompat, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            assert issubclass(obj, imgcompat.ImgcompatError), name


def _public_methods(cls: type) -> list[str]:
    return [n for n, member in inspect.getmembers(cls)
            if not n.startswith("_") and (inspect.isfunction(member) or inspect.ismethod(member)
                                          or isinstance(member, property))]


def test_every_public_method_of_both_clients_is_documented() -> None:
    for cls in (imgcompat.ImageClient, imgcompat.AsyncImageClient):
        methods = _public_methods(cls)
        assert {"show", "detail", "create", "update", "delete", "download"} <= set(methods)
        for name in methods:
            doc = inspect.getdoc(getattr(cls, name)) or ""
            assert doc.strip(), f"{cls.__name__}.{name} has no docstring"
        assert inspect.getdoc(cls.__init__), f"{cls.__name__}.__init__ has no docstring"


def test_importing_imgcompat_loads_no_cli_or_server_module() -> None:
    # httpx itself imports click and rich for its own CLI when they are installed: what
    # counts is what imgcompat adds on top of httpx.
    code = ("import sys, httpx; before = set(sys.modules); import imgcompat; "
            "bad = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in "
            "('click', 'rich', 'uvicorn') or m.startswith('imgcompat.cli')); print(bad)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
