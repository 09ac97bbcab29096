"""The pure core: records, codecs, translation, plans and verification decisions.

Nothing here does I/O, logs, reads the clock or imports httpx, tenacity, asyncio or
threading (import-linter enforces it, see ``pyproject.toml``): immutable values in,
immutable values out. The shell (``imgcompat.shell``) moves the bytes these modules plan.
"""
