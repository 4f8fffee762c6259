"""The SQL of a governed read: the policy's rows and masks first, the reader's columns and ``--where`` over them.

The reader's query runs over the masked view, never the raw table::

    SELECT <requested> FROM (
        SELECT <each visible column, masked> FROM source WHERE <policy row filter>
    ) AS governed WHERE <--where>

so a ``--where`` can neither name a hidden column nor test a masked one's
clear value. Every value (policy or reader) is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from sluice.access.expr import Const, Expr, Scalar, parse_where, quote_ident, render, to_sql
from sluice.access.policy import Partial, PartialMask, Rule
from sluice.access.principal import Principal
from sluice.errors import PolicyError, QueryError
from sluice.validate.chunk import BATCH_COL, ROW_COL, WARNINGS_COL

INTERNAL_COLUMNS = frozenset({BATCH_COL, ROW_COL, WARNINGS_COL})
MAX_LIMIT = 10_000_000


@dataclass(frozen=True)
class ReadPlan:
    """What a read runs and what the audit records of it."""

    sql: str
    params: list[Scalar]
    columns: tuple[str, ...]
    row_filter: str
    where: str | None
    masks: dict[str, str]


def mask_name(mask: object) -> str:
    return "partial" if isinstance(mask, PartialMask) else str(mask)


def _mask_sql(column: str, mask: object) -> str:
    q = quote_ident(column)
    if mask is None:
        return q
    if mask == "null":
        return f"CASE WHEN FALSE THEN {q} END"
    if mask == "hash":
        return f"sha256({q})"
    part = mask.partial if isinstance(mask, PartialMask) else Partial()
    start, end = int(part.keep_start), int(part.keep_end)
    kept = start + end
    tail = f"right({q}, {end})" if end else "''"
    return (
        f"CASE WHEN {q} IS NULL THEN NULL WHEN length({q}) <= {kept} THEN repeat('*', length({q})) "
        f"ELSE left({q}, {start}) || repeat('*', length({q}) - {kept}) || {tail} END"
    )


def _check_rule(rule: Rule, schema: pa.Schema) -> None:
    names = set(schema.names)
    unknown = sorted(rule.referenced_columns() - names)
    if unknown:
        raise PolicyError(
            f"rule {rule.name!r} names column(s) {unknown} that the table does not have",
            hint="fix the policy to use the dataset's column names (see its contract)",
        )
    for column, mask in rule.masks.items():
        if (
            mask_name(mask) in ("hash", "partial")
            and not pa.types.is_string(schema.field(column).type)
            and not (
                pa.types.is_large_string(schema.field(column).type)
                or pa.types.is_string_view(schema.field(column).type)
            )
        ):
            raise PolicyError(
                f"rule {rule.name!r} masks {column!r} with {mask_name(mask)}, which needs a text column",
                hint="use null or hide for columns that are not text",
            )


def visible_columns(rule: Rule, schema: pa.Schema) -> list[str]:
    """The columns ``rule`` shows, in table order: its ``columns`` (or all), less hidden and internal ones."""
    allowed = set(rule.columns) if rule.columns is not None else set(schema.names) - INTERNAL_COLUMNS
    return [c for c in schema.names if c in allowed and rule.mask_of(c) != "hide"]


def plan_read(
    rule: Rule,
    principal: Principal,
    schema: pa.Schema,
    *,
    columns: Sequence[str] | None = None,
    where: str | None = None,
    limit: int | None = None,
) -> ReadPlan:
    """The read of ``rule`` for ``principal`` over a table of ``schema``.

    Raises:
        PolicyError: the rule names columns the table lacks, or masks a non-text column as text.
        QueryError: ``columns`` or ``where`` name a column the rule does not show, or ``where`` does not parse.
    """
    _check_rule(rule, schema)
    shown = visible_columns(rule, schema)
    policy_expr: Expr = rule.rows.compile(principal) if rule.rows else Const(True)
    policy_sql, params = to_sql(policy_expr, schema.names)
    requested = list(dict.fromkeys(columns)) if columns else shown
    missing = [c for c in requested if c not in shown]
    if missing:
        raise QueryError(
            f"column(s) {[c[:80] for c in missing[:5]]} are not available to you in this dataset",
            hint=f"the columns you can read: {', '.join(shown) or 'none'}",
        )
    masked = ", ".join(f"{_mask_sql(c, rule.mask_of(c))} AS {quote_ident(c)}" for c in shown) or "NULL AS _none"
    chosen = ", ".join(quote_ident(c) for c in requested)
    sql = f"SELECT {chosen} FROM (SELECT {masked} FROM source WHERE {policy_sql}) AS governed"
    where_text = None
    if where is not None:
        expr = parse_where(where)
        where_sql, where_params = to_sql(expr, shown)
        sql += f" WHERE {where_sql}"
        params = params + where_params
        where_text = render(expr)
    if limit is not None:
        if not 0 < limit <= MAX_LIMIT:
            raise QueryError(f"limit {limit} is outside 1..{MAX_LIMIT}")
        sql += f" LIMIT {int(limit)}"
    masks = {c: mask_name(m) for c, m in rule.masks.items() if c in requested}
    return ReadPlan(sql, params, tuple(requested), render(policy_expr), where_text, masks)
