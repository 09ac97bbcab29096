"""The ``imgcompat`` command and its demo: the face of the library (the ``cli`` extra).

This package is never imported by ``import imgcompat``. Its entry point, :func:`main`, is
importable without the extra's dependencies so that the console script can say, in one
line, which extra to install instead of failing with a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

#: What a user without the extra is told (and what the tests look for).
MISSING_EXTRA = "imgcompat: the command needs the 'cli' extra: pip install 'imgcompat[cli]'"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; without click and rich installed, say which extra to install."""
    try:
        from imgcompat.cli.app import main as run
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in ("click", "rich"):
            raise
        print(MISSING_EXTRA, file=sys.stderr)
        return 1
    return run(argv)


__all__ = ["MISSING_EXTRA", "main"]
