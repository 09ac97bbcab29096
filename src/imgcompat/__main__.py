"""``python -m imgcompat``: the same command as the ``imgcompat`` console script."""

from imgcompat.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
