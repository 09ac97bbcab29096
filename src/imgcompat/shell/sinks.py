"""Where downloaded bytes land: a temporary file made atomic, a caller's file, or nowhere.

A path download writes to ``.<name>.imgcompat-XXXX.part`` beside the destination with
``writev`` (a batch's pieces are never joined), then fsyncs it, renames it over the
destination and fsyncs the directory; on any failure the temporary file goes away, so
nothing half-written is ever visible at the destination.

The temporary file is created 0600: an image is readable by others only once it is whole
and verified. At the rename it takes its final mode: the permission bits of the file it
replaces (a 0600 destination stays 0600), or, for a new file, what a new file in that
directory gets (0666 less the umask, or the directory's default ACL).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import os
import secrets
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "DROP_BEHIND",
    "BinaryFile",
    "FdSink",
    "FileSink",
    "NullSink",
    "Sink",
    "TempFile",
    "acommit",
    "write_all",
    "writev_all",
]

#: At most this many buffers go to one writev() call (IOV_MAX is 1024 on Linux).
_IOV_BATCH = 512

#: A path download tells the kernel every this many bytes to start writing the file back
#: and to drop the pages already on disk: the page cache an image occupies stays bounded
#: (recycled pages are cheap, fresh ones are not, notably in VMs) and the final fsync short.
#: The price: a caller reading the image right away reads it from disk. 0 turns it off.
DROP_BEHIND = 32 * 1024 * 1024
_fadvise: Callable[[int, int, int, int], None] | None = getattr(os, "posix_fadvise", None)


def writev_all(fd: int, parts: list[bytes]) -> None:
    """Write every byte of ``parts`` in order, with as few system calls as possible."""
    i = 0
    while i < len(parts):
        batch = parts[i : i + _IOV_BATCH]
        done = os.writev(fd, batch)
        for part in batch:
            if done >= len(part):
                done -= len(part)
                i += 1
                continue
            write_all(lambda b: os.write(fd, b), memoryview(part)[done:])
            i += 1
            break


def write_all(write: Callable[[Any], int | None], data: bytes | memoryview) -> None:
    """Write every byte (raw files may accept only part of a buffer)."""
    view = memoryview(data)
    while view:
        n = write(view)
        if n is None:  # a buffered or custom file that accepted everything
            return
        if n <= 0:
            raise OSError(errno.EIO, "write accepted no bytes")
        view = view[n:]


class Sink(Protocol):
    """A download's target, as the drivers see it."""

    #: whether written bytes can be thrown away (a server that starts over is then followed)
    can_rewind: bool
    #: False for the iterator target, whose batches go to the caller instead
    writes: bool

    def write(self, parts: list[bytes]) -> None:
        """Write one batch, piece by piece, in order."""
        ...

    def rewind(self) -> None:
        """Throw away everything written so far."""
        ...


class FdSink:
    """The temporary file of a path download."""

    can_rewind = True
    writes = True

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._since = 0

    def write(self, parts: list[bytes]) -> None:
        """``writev`` the batch; drop the pages behind it every :data:`DROP_BEHIND` bytes."""
        writev_all(self.fd, parts)
        self._since += sum(map(len, parts))
        if DROP_BEHIND and self._since >= DROP_BEHIND and _fadvise is not None:
            self._since = 0
            # async write-back of what is dirty, and eviction of what is already clean
            _fadvise(self.fd, 0, 0, os.POSIX_FADV_DONTNEED)

    def rewind(self) -> None:
        """Truncate the temporary file to nothing."""
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.ftruncate(self.fd, 0)


class BinaryFile(Protocol):
    """What a download needs of a caller's file: ``IO[bytes]`` and raw files qualify."""

    def write(self, data: memoryview, /) -> int | None:
        """Write some or all of ``data``; how much (None: all of it)."""
        ...

    def flush(self) -> object:
        """Hand buffered bytes on."""
        ...

    def seekable(self) -> bool:
        """Whether :meth:`seek` and :meth:`truncate` work (a pipe: no)."""
        ...

    def tell(self) -> int:
        """The current position."""
        ...

    def seek(self, offset: int, /) -> int:
        """Move to ``offset`` from the start."""
        ...

    def truncate(self) -> int:
        """Cut the file at the current position."""
        ...


class FileSink:
    """A caller's binary file: rewound (seek + truncate) only if it is seekable."""

    writes = True

    def __init__(self, fileobj: BinaryFile) -> None:
        self.fileobj = fileobj
        self._start: int | None = None
        try:
            if fileobj.seekable():
                self._start = fileobj.tell()
        except (OSError, ValueError, AttributeError):
            self._start = None
        self.can_rewind = self._start is not None

    def write(self, parts: list[bytes]) -> None:
        """Write each piece whole (a raw file may take only part of one per call)."""
        for part in parts:
            write_all(self.fileobj.write, part)

    def rewind(self) -> None:
        """Back to where the file stood when the download began, and cut it there."""
        if self._start is None:  # pragma: no cover - Resumer never asks without can_rewind
            raise io.UnsupportedOperation("file is not seekable")
        self.fileobj.seek(self._start)
        self.fileobj.truncate()


class NullSink:
    """The iterator target: batches go to the caller, not to a file."""

    can_rewind = False
    writes = False

    def write(self, parts: list[bytes]) -> None:  # pragma: no cover - never submitted
        """Nothing to write: the driver hands the batch to the caller."""
        return

    def rewind(self) -> None:  # pragma: no cover - can_rewind is False
        """Refused: bytes already handed out cannot be taken back."""
        raise io.UnsupportedOperation("an iterator cannot take back bytes it handed out")


class TempFile:
    """``.<name>.imgcompat-XXXX.part`` beside the destination; committed or discarded once.

    Created in the destination's directory so the final rename never crosses a filesystem;
    a missing directory fails here, before any request.
    """

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        flags |= getattr(os, "O_BINARY", 0)
        for _ in range(16):
            tmp = dest.with_name(f".{dest.name}.imgcompat-{secrets.token_hex(4)}.part")
            try:
                self.fd: int | None = os.open(tmp, flags, 0o600)
            except FileExistsError:
                continue
            self.path = tmp
            return
        raise FileExistsError(errno.EEXIST, "no free temporary name beside", str(dest))

    def final_mode(self) -> int:
        """The permission bits the destination should have once replaced.

        Those of the file already there (set-id bits dropped: they belonged to other
        bytes); for a new file, the mode a fresh file in that directory is created with,
        learnt from a probe file (the umask cannot be read without changing it, which races
        with other threads, and a default ACL would be missed).
        """
        try:
            return stat.S_IMODE(os.stat(self.dest).st_mode) & ~(stat.S_ISUID | stat.S_ISGID)
        except FileNotFoundError:
            pass
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        for _ in range(16):
            probe = self.dest.with_name(f".{self.dest.name}.imgcompat-{secrets.token_hex(4)}"
                                        ".mode")
            try:
                fd = os.open(probe, flags, 0o666)
            except FileExistsError:
                continue
            try:
                return stat.S_IMODE(os.fstat(fd).st_mode)
            finally:
                os.close(fd)
                os.unlink(probe)
        raise FileExistsError(errno.EEXIST, "no free probe name beside", str(self.dest))

    def sink(self) -> FdSink:
        """The sink writing into this file."""
        assert self.fd is not None
        return FdSink(self.fd)

    def commit(self) -> None:
        """Give the file its final mode, fsync, rename over the destination, fsync the
        directory (the rename's record)."""
        fd, self.fd = self.fd, None
        assert fd is not None
        try:
            mode = self.final_mode()
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            else:  # pragma: no cover - Windows
                os.chmod(self.path, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.path, self.dest)
        _fsync_dir(self.dest.parent)

    def discard(self) -> None:
        """Close and remove the temporary file; the destination is left as it was."""
        fd, self.fd = self.fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


async def acommit(tmp: TempFile) -> None:
    """Commit on a thread; a cancellation waits for it, so a commit is never half done."""
    executor = ThreadPoolExecutor(1, thread_name_prefix="imgcompat-commit")
    try:
        fut = executor.submit(tmp.commit)
        try:
            await asyncio.wrap_future(fut)
        except asyncio.CancelledError:
            wait_futures([fut])  # blocks the loop for at most one fsync
            raise
    finally:
        executor.shutdown(wait=True)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX); directories cannot be opened on every platform."""
    if not hasattr(os, "O_DIRECTORY"):  # pragma: no cover - Windows
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
