"""An embedded Glance (v1, v2 or both) for testing code that talks to Glance.

Like moto for AWS: start one in process in milliseconds, or on a real socket::

    from imgcompat.testing import Emulator, serve

    emu = Emulator(api="both", v2_minor=17)           # data_dir=... keeps bytes on disk
    client = httpx.Client(transport=emu.sync_transport(), base_url="http://glance")
    with serve(emu) as url:                            # uvicorn (the 'emulator' extra)
        ...
    emu.faults.fail_next(2)                            # faults on demand

Nobody logs in by default: every caller is an admin without a project, as on a Glance
without keystone. ``Emulator(auth="trusted")`` takes the caller from keystone-style
``X-Project-Id`` / ``X-Roles`` headers, ``Emulator(identities={"token": Identity("proj",
roles=("member",))})`` from ``X-Auth-Token``; then owners, roles, members and
private / shared / community / public visibility apply as on Glance 33.

Every image is rendered by imgcompat's own codecs, so the emulator has no private idea
of the wire. pytest fixtures: ``pytest_plugins = ["imgcompat.testing.pytest_plugin"]``.
"""

from imgcompat.core.errors import MissingExtra

from .emulator import ApiMode, Emulator
from .faults import ConnectionDropped, Faults
from .identity import AuthMode, Identity
from .server import run_server, serve

__all__ = ["ApiMode", "AuthMode", "ConnectionDropped", "Emulator", "Faults", "Identity",
           "MissingExtra", "run_server", "serve"]
