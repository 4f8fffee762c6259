"""What ``ops ingest`` and ``ops backfill`` check before creating runs: the dataset, the deployment's name."""

from __future__ import annotations

from ops.cli._utilities import error_message, exit_with_error, load_settings
from sluice.errors import ContractError

FLOW_NAME = "ingest-files"


def ensure_known_dataset(dataset: str) -> None:
    """Exit 2 unless a contract of that name exists (a contract that exists but does not load exits 1)."""
    from sluice.validate.contracts import available_contracts, find_contract

    root = load_settings().contracts_root()
    try:
        find_contract(dataset, root)
    except ContractError as exc:
        known = available_contracts(root)
        if dataset in known:
            raise
        hint = exc.hint if "known contracts" in exc.hint else f"known contracts: {', '.join(known) or 'none'}"
        exit_with_error(f"unknown dataset: {error_message(exc)}", hint=hint, code=2)


def deployment_name(deployment: str) -> str:
    """``orders-dev`` or ``ingest-files/orders-dev`` as Prefect names it; exit 2 for another flow's."""
    flow, _, name = deployment.rpartition("/")
    if (flow and flow != FLOW_NAME) or not name.strip():
        exit_with_error(
            f"{deployment!r} is not a deployment of {FLOW_NAME}",
            hint=f"give its name (orders-dev) or {FLOW_NAME}/NAME; `prefect deployment ls` lists them",
            code=2,
        )
    return f"{FLOW_NAME}/{name}"
