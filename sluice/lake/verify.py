"""Verdicts on a commit, and the contract check: the rows a version added, read back and validated.

Each check of a commit (the contract's ``verify:`` block,
:class:`sluice.validate.contract_parts.VerifySpec`) returns a :class:`Verdict`
with its reason; one that fails rolls the commit back. The anomaly checks
(rows written, quarantined share) judge against earlier runs and live with the
baselines (:mod:`ops.baselines.commit_checks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pandas as pd
import pandera.errors
import pyarrow as pa
import pyarrow.parquet as pq

from sluice.errors import ContractError, LakeError
from sluice.lake.commit_log import read_commit
from sluice.lake.table import lake_filesystem
from sluice.validate.contracts import Contract
from sluice.validate.schema import build_schema, register_backends

SHOWN_FAILURES = 3


# Flows that acknowledge their source as soon as the lake holds a batch: a rollback afterwards would leave rows
# the source no longer holds for them, so a contract with a verify block is refused before anything is read.
UNVERIFIABLE = {
    "capture-changes": (
        "the replication slot is advanced past each batch right after its lake commit, and PostgreSQL frees the "
        "changes behind it: a rolled-back batch could never be captured again"
    ),
    "ingest-stream": (
        "the broker is acknowledged (Kafka offsets, Redis XACK, RabbitMQ ack) right after each lake commit: a "
        "rolled-back batch's messages would not be delivered again"
    ),
}


def ensure_verifiable(contract: Contract, flow: str) -> None:
    """Refuse a contract whose ``verify:`` block ``flow`` cannot honour (:data:`UNVERIFIABLE`).

    Raises:
        ContractError: the contract turns a check on and ``flow`` cannot roll a commit back safely.
    """
    why = UNVERIFIABLE.get(flow)
    on = contract.verify.checks_on
    if why is None or not on:
        return
    raise ContractError(
        f"{contract.name}: {flow} cannot verify and roll back its commits ({', '.join(on)} turned on): {why}",
        hint=f"remove the verify block from {contract.name}'s contract; verification covers ingest-files and "
        "ingest-table (see the lake concepts page, 'Rolling a bad commit back')",
    )


class Check(StrEnum):
    CONTRACT = "contract"
    ROW_COUNT = "row-count"
    QUARANTINE_SPIKE = "quarantine-spike"


@dataclass(frozen=True)
class Verdict:
    """One check of one commit: whether it passed, and why."""

    check: Check
    passed: bool
    reason: str


def _checked_columns(contract: Contract) -> list[str]:
    """Columns whose stored values the contract's rules apply to (protected ones hold ciphertext)."""
    return [c.name for c in contract.columns if c.protect is None]


def contract_failures(rows: pa.Table, contract: Contract) -> tuple[int, list[str]]:
    """Rows of ``rows`` that break a critical rule of ``contract``, and the first rules they break."""
    columns = _checked_columns(contract)
    missing = [c for c in columns if c not in rows.column_names]
    if missing:
        return rows.num_rows, [f"column(s) {', '.join(missing)} missing"]
    critical = {c.name for c in contract.columns if c.critical}
    schema = build_schema(contract)
    schema = schema.remove_columns([c for c in schema.columns if c not in columns])
    register_backends()
    try:
        schema.validate(rows.select(columns).to_pandas(types_mapper=pd.ArrowDtype), lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        cases = cases[cases["column"].isin(critical)]
        if cases.empty:
            return 0, []
        bad = cases["index"].dropna().nunique() if cases["index"].notna().any() else rows.num_rows
        rules = [f"{c} ({k})" for (c, k), _ in cases.groupby(["column", "check"], sort=False)]
        return int(bad), rules
    return 0, []


def check_contract(
    uri: str, version: int, contract: Contract, storage_options: dict[str, str] | None = None
) -> Verdict:
    """Read back the rows version ``version`` of the table added and validate them against ``contract``.

    Raises:
        LakeError: the version or one of its files cannot be read.
    """
    entry = read_commit(uri, version, storage_options)
    if entry is None:
        raise LakeError(f"version {version} of {uri} is not in the table's log", hint="check `ops lake history`")
    fs, root = lake_filesystem(uri, storage_options)
    rows, bad, rules = 0, 0, []
    for path, _size in entry.added:
        try:
            part = pq.read_table(f"{root}/{path}", filesystem=fs)
        except (OSError, pa.ArrowException) as exc:
            raise LakeError(f"cannot read {path} of {uri}: {exc}", hint="check the lake path and credentials") from None
        found, broken = contract_failures(part, contract)
        rows, bad = rows + part.num_rows, bad + found
        rules += [r for r in broken if r not in rules]
    if bad:
        shown = ", ".join(rules[:SHOWN_FAILURES]) + (" ..." if len(rules) > SHOWN_FAILURES else "")
        return Verdict(Check.CONTRACT, False, f"{bad:,} of {rows:,} committed rows break the contract: {shown}")
    return Verdict(Check.CONTRACT, True, f"all {rows:,} committed rows meet the contract")
