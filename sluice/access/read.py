"""``read_dataset``: a dataset's rows and columns as its policy allows them to a principal, audited.

The Delta table's Arrow dataset is registered in an in-memory DuckDB that
may not touch files or load extensions (``enable_external_access`` off,
configuration locked, no extension autoload), and the plan of
:mod:`sluice.access.plan` runs over it. The read's audit row is written
before the rows are handed back; a read the audit cannot record fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads

from sluice.access.audit import AccessAction, AccessRecord, policy_change, record_access
from sluice.access.plan import ReadPlan, plan_read
from sluice.access.policy import LoadedPolicy, load_policy
from sluice.access.principal import Principal
from sluice.errors import AccessDenied, LakeError, QueryError
from sluice.lake.table import lake_dataset, open_table, table_uri
from sluice.paths import ensure_dataset_name
from sluice.settings import Settings, get_settings

_DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


@dataclass(frozen=True)
class GovernedRead:
    """The rows returned, and the rule and plan that produced them."""

    table: pa.Table
    rule: str
    plan: ReadPlan
    policy_sha256: str


def run_plan(source: pads.Dataset, plan: ReadPlan) -> pa.Table:
    """The rows of ``plan`` over ``source``.

    Raises:
        QueryError: DuckDB refused the query (a value of the wrong type for its column, for instance).
    """
    con = duckdb.connect(config=_DUCKDB_CONFIG)
    try:
        con.register("source", source)
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        return con.sql(plan.sql, params=plan.params).to_arrow_table()
    except duckdb.Error as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        raise QueryError(
            f"the query cannot run: {first}", hint="compare numbers with numbers and text with 'quoted text'"
        ) from None
    finally:
        con.close()


def _deny(
    exc: AccessDenied,
    dataset: str,
    principal: Principal,
    loaded: LoadedPolicy | None,
    reason: str | None,
    settings: Settings,
) -> None:
    record = AccessRecord(
        action=AccessAction.DENIED,
        subject=principal.subject,
        issuer=principal.issuer,
        dataset=dataset,
        reason=reason,
        policy_sha256=loaded.sha256 if loaded else None,
        detail=str(exc.args[0])[:500],
    )
    record_access(record, settings=settings)


def _read_record(principal: Principal, plan: ReadPlan, reason: str | None, loaded: LoadedPolicy) -> AccessRecord:
    return AccessRecord(
        action=AccessAction.READ,
        subject=principal.subject,
        issuer=principal.issuer,
        columns=plan.columns,
        where=plan.where,
        row_filter=plan.row_filter,
        reason=reason,
        policy_sha256=loaded.sha256,
    )


def governed_read(
    dataset: str,
    principal: Principal,
    *,
    columns: Sequence[str] | None = None,
    where: str | None = None,
    reason: str | None = None,
    limit: int | None = None,
    settings: Settings | None = None,
) -> GovernedRead:
    """Read ``dataset`` for ``principal`` through its policy, and audit the read (or the denial).

    Raises:
        AccessDenied: no policy, or no rule for the principal (audited as a denial).
        PolicyError: the policy does not load or does not fit the table.
        QueryError: ``columns`` or ``where`` cannot be used.
        LakeError: the table does not exist, or the audit cannot be written.
    """
    settings = settings or get_settings()
    ensure_dataset_name(dataset)
    loaded = None
    try:
        loaded = load_policy(settings.access.policies_root(), dataset)
        rule = loaded.policy.rule_for(principal)
    except AccessDenied as exc:
        _deny(exc, dataset, principal, loaded, reason, settings)
        raise
    uri = table_uri(settings.lake_root(), dataset)
    delta = open_table(uri, dict(settings.lake_storage_options) or None)
    if delta is None:
        raise LakeError(f"dataset {dataset!r} has no table at {uri}", hint=f"run an ingestion of {dataset} first")
    source = lake_dataset(delta)
    plan = plan_read(rule, principal, source.schema, columns=columns, where=where, limit=limit)
    table = run_plan(source, plan)
    change = policy_change(dataset, loaded.sha256, str(loaded.path), principal.subject, principal.issuer, settings)
    read = replace(
        _read_record(principal, plan, reason, loaded),
        dataset=dataset,
        rows=table.num_rows,
        rule=rule.name,
        detail=f"table version {delta.version()}",
    )
    record_access(*([change] if change else []), read, settings=settings)
    return GovernedRead(table, rule.name, plan, loaded.sha256)


def read_dataset(
    dataset: str,
    principal: Principal,
    columns: Sequence[str] | None = None,
    where: str | None = None,
    *,
    reason: str | None = None,
    limit: int | None = None,
    settings: Settings | None = None,
) -> pa.Table:
    """The rows and columns of ``dataset`` that ``principal`` may read, masked as the policy says; audited.

    Raises the errors of :func:`governed_read`.
    """
    return governed_read(
        dataset, principal, columns=columns, where=where, reason=reason, limit=limit, settings=settings
    ).table
