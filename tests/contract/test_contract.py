"""The contract cases on the emulator: four modes x sync/async (see conftest.py)."""

from __future__ import annotations

from tests.contract.cases import ContractCases


class TestContractOnEmulator(ContractCases):
    """Every case of :class:`ContractCases`, on every emulator mode, with both clients."""
