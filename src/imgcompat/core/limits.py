"""The safety limits a client holds against a broken or hostile server, in one record.

The client runs inside a long-lived service and talks to a server it does not control: every
resource an answer can make it spend (memory, time, requests) has a bound here, with a
default that no real Glance comes near. Hitting one raises a
:class:`~imgcompat.core.errors.LimitExceeded` naming the field, so raising it is one edit:
``ImageClient(url, limits=Limits(max_pages=50_000))`` for a client, or
``client.with_limits(deadline=5).show(image_id)`` for the calls of one view.

The record is pure (values only); the shell enforces the byte and time limits on the wire
(``imgcompat.shell.bounds``), the listing's pager counts its pages.
"""

from __future__ import annotations

from typing import Any

import attrs

from imgcompat.core.errors import InvalidRecord

MiB = 1024 * 1024


def _positive_int(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRecord(f"must be a positive integer, got {value!r}", field=attribute.name)


def _seconds(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 \
            or value == float("inf"):
        raise InvalidRecord(f"must be a positive number of seconds or None, got {value!r}",
                            field=attribute.name)


@attrs.frozen
class Limits:
    """Every bound a client keeps; defaults in brackets.

    - ``max_answer_bytes`` [16 MiB]: the most a JSON answer or an error body may hold once
      decoded (a compressed answer is inflated only that far).
    - ``max_versions_bytes`` [256 KiB]: the same for the versions document (a real one is
      about 2 KiB).
    - ``max_pages`` [10,000]: the most pages one listing fetches; a marker that comes
      round again is an error whatever this says.
    - ``deadline`` [300 s]: the most a call may take, retries and backoff waits included.
      A call that moves image data (a download, or a create/update/upload/snapshot with
      data) is bounded instead by ``transfer_deadline`` as a whole, while each of its
      metadata requests still gets ``deadline``.
    - ``transfer_deadline`` [None: no bound]: the most a call moving image data may take.
    - ``min_transfer_bytes`` / ``min_transfer_window`` [64 KiB / 60 s]: a download that
      receives fewer than ``min_transfer_bytes`` in a ``min_transfer_window`` of seconds
      fails (its temporary file removed). ``min_transfer_window=None`` turns the rule off.
    """

    max_answer_bytes: int = attrs.field(default=16 * MiB, validator=_positive_int)
    max_versions_bytes: int = attrs.field(default=256 * 1024, validator=_positive_int)
    max_pages: int = attrs.field(default=10_000, validator=_positive_int)
    deadline: float | None = attrs.field(default=300.0, validator=_seconds)
    transfer_deadline: float | None = attrs.field(default=None, validator=_seconds)
    min_transfer_bytes: int = attrs.field(default=64 * 1024, validator=_positive_int)
    min_transfer_window: float | None = attrs.field(default=60.0, validator=_seconds)

    def call_deadline(self, *, moves_data: bool) -> float | None:
        """The seconds a whole call may take (None: no bound on the call as a whole)."""
        return self.transfer_deadline if moves_data else self.deadline


#: The limits a client has unless it is given others.
DEFAULT_LIMITS = Limits()
