"""The ``glance`` command run in process, its printed tables parsed (stdlib + glanceclient).

Both command drivers use it: the v2 one of the differential tests and the v1 one. A subprocess
per command would cost a second each, so :func:`run_glance` calls the command's own entry
point (``glanceclient.shell.main``, what the ``glance`` script calls) with ``sys.argv`` set;
parsing, output and exit status are the command's. ``client_options`` are keywords added to the
client the command builds (the command has no option for, say, identity headers).
"""

from __future__ import annotations

import contextlib
import functools
import io
import sys
from typing import Any

import glanceclient
from glanceclient import shell


class Terminal(io.StringIO):
    """Standard input as at a terminal: ``image-create`` uploads stdin when it is not a tty
    (even /dev/null, as empty data), which is not what a create without ``--file`` means."""

    def isatty(self) -> bool:
        return True


class CommandFailed(Exception):
    """The command exited non-zero: its status and what it printed on stderr."""

    def __init__(self, status: int, stderr: str) -> None:
        super().__init__(stderr.strip())
        self.status = status


def run_glance(argv: list[str], **client_options: Any) -> Any:
    """Run ``glance ARGV``; the first table it printed (see :func:`tables`), or CommandFailed."""
    real_client = glanceclient.Client
    if client_options:
        glanceclient.Client = functools.partial(real_client, **client_options)
    sys.argv = ["glance", *argv]
    out, err = io.StringIO(), io.StringIO()
    sys.stdin = Terminal()
    status: int | str | None = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            shell.main()
    except SystemExit as done:
        status = done.code
    finally:
        glanceclient.Client = real_client
    if status not in (0, None):
        raise CommandFailed(status if isinstance(status, int) else 1, err.getvalue())
    return tables(out.getvalue())


def tables(text: str) -> Any:
    """The first table printed: ``Property``/``Value`` as a dict, other tables as rows."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|")]
    if not rows:
        return text.strip() or None
    header, body = rows[0], rows[1:]
    if header == ["Property", "Value"]:
        shown: dict[str, str] = {}
        last = ""
        for key, value in body:
            if key:  # a row with no key continues the value above, wrapped at 80 columns
                shown[key], last = value, key
            else:
                shown[last] += "\n" + value
        return shown
    return [dict(zip(header, row, strict=True)) for row in body]
