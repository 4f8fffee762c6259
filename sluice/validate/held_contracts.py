"""Which contracts hold orphans for late arrival, and where a ``hold`` reference is refused.

``references: policy: hold`` keeps an orphan out of the lake until its parent lands: its row is stored
in the hold table in the same commit protocol step as its batch (:mod:`sluice.lake.held`). The file and
table ingestions do that; a flow that cannot (streams, change capture) refuses such a contract before it
reads anything, with :func:`ensure_no_hold`.
"""

from __future__ import annotations

from pathlib import Path

from sluice.errors import ContractError
from sluice.validate.contracts import Contract, available_contracts, find_contract
from sluice.validate.references import ReferencePolicy, holds


def holding_contracts(contracts_root: Path) -> list[Contract]:
    """Every contract under ``contracts_root`` with a ``hold`` reference (a broken contract is left out)."""
    found = []
    for name in available_contracts(contracts_root):
        try:
            contract = find_contract(name, contracts_root)
        except ContractError:
            continue  # a broken contract is its own runs' failure, not the maintenance's
        if holds(contract):
            found.append(contract)
    return found


def ensure_no_hold(contract: Contract, flow: str) -> None:
    """Refuse a contract with a ``hold`` reference in ``flow``, which cannot store held rows with its batches.

    Raises:
        ContractError: a reference of the contract holds orphans.
    """
    held = [r for r in contract.references if r.policy is ReferencePolicy.HOLD]
    if held:
        names = ", ".join(f"{r.label} -> {r.to}" for r in held)
        raise ContractError(
            f"{contract.name}: {flow} cannot hold orphans for late arrival (references {names} have policy: hold)",
            hint="use policy: quarantine (then `ops quarantine replay` once the parent landed) or policy: warn "
            "for this dataset, or ingest it with ingest-files or ingest-table",
        )
