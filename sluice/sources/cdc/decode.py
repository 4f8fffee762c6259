"""wal2json format-version 2 into whole transactions, and transactions into Arrow frames of changes.

One decoded row is one JSON object with an ``action``: ``B`` and ``C`` open
and close a transaction (the commit row's LSN, as the decoding function
returns it, is the end of the commit record: the position a slot advances
to), ``I``/``U``/``D`` are row changes, ``T`` a TRUNCATE and ``M`` a logical
message (heartbeats; ignored). A frame holds the contract's columns and:

``_op``          ``i`` insert, ``u`` update, ``d`` delete, ``t`` truncate (every row of the table
                 committed before this change is gone; the contract's columns are null)
``_lsn``         the change's own LSN (unique: with ``_op``, the key of a change)
``_xid``         the transaction id
``_commit_lsn``  the transaction's commit LSN (end of its commit record)
``_commit_ts``   the transaction's commit time
``_unchanged``   JSON list of columns an update left untouched and the server did not send (TOASTed
                 values under replica identity DEFAULT): null in the frame, the apply keeps the old value
``_extra``       JSON object of columns the table has and the contract does not (added while streaming)

An update that changes the primary key becomes a ``d`` of the old key and a
``u`` of the new one, both at the change's LSN. A delete carries the replica
identity: the key columns under DEFAULT, every column under FULL.

A contract that applies changes to a keyed table (``mode: upsert`` or
``scd2``) declares ``_op`` and may declare ``_lsn`` (its ``order_by``) among
its columns: those are filled from the change, never read from the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pyarrow as pa

from sluice.sources.cdc.errors import CdcDecodeError, SourceSchemaChangeError
from sluice.sources.cdc.positions import parse_lsn
from sluice.validate.coerce import arrow_type
from sluice.validate.contracts import ColumnSpec, ColumnType, Contract

CHANGE_COLUMNS = {
    "_op": pa.string(),
    "_lsn": pa.int64(),
    "_xid": pa.int64(),
    "_commit_lsn": pa.int64(),
    "_commit_ts": pa.timestamp("us", tz="UTC"),
    "_unchanged": pa.string(),
    "_extra": pa.string(),
}
Additive = Literal["carry", "stop"]
# Numbers with a fraction as Decimal: exact, whatever the column's type. One decoder for every row
# (``json.loads`` with arguments builds a new one per call).
_JSON = json.JSONDecoder(parse_float=Decimal)


@dataclass(frozen=True)
class Change:
    op: str
    lsn: int
    values: dict[str, Any]  # contract column -> value, typed for the contract
    unchanged: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Transaction:
    xid: int
    commit_lsn: int = 0
    commit_ts: datetime | None = None
    changes: list[Change] = field(default_factory=list)


@dataclass(frozen=True)
class TableRef:
    """The source table, and how the contract reads it."""

    schema: str
    table: str
    contract: Contract
    additive: Additive = "carry"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"

    @cached_property
    def ordered(self) -> tuple[str, ...]:
        """The contract's columns the table holds, in order (looked up once, not for every change)."""
        return tuple(source_columns(self.contract))

    @cached_property
    def names(self) -> frozenset[str]:
        return frozenset(self.ordered)


def _bad(row: object, why: str) -> CdcDecodeError:
    shown = repr(row)
    return CdcDecodeError(
        f"decoding output is not wal2json format-version 2 ({why}): {shown[:200]}",
        hint="the slot must use the wal2json plugin; recreate it with `ops cdc drop-slot` and the capture flow",
    )


def _timestamp(text: str, zone: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value.astimezone(timezone.utc)


def typed_value(value: Any, spec: ColumnSpec, zone: str) -> Any:
    """A JSON value of wal2json as the contract column's Python value.

    Raises:
        ValueError, TypeError, InvalidOperation: the value cannot be that type.
    """
    if value is None:
        return None
    kind = spec.type
    if kind is ColumnType.INT64 and type(value) is int:  # what wal2json sends for integer columns
        return value
    if kind is ColumnType.STRING:
        return value if isinstance(value, str) else json.dumps(value) if isinstance(value, bool) else str(value)
    if isinstance(value, bool) != (kind is ColumnType.BOOL):
        raise TypeError(f"{value!r} is not {kind.value}")
    if kind is ColumnType.INT64:
        number = Decimal(value) if isinstance(value, str | int | Decimal) else None
        if number is None or number != number.to_integral_value():
            raise ValueError(f"{value!r} is not an integer")
        return int(number)
    if kind is ColumnType.FLOAT64:
        return float(value)
    if kind is ColumnType.BOOL:
        return value
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not text")
    if kind is ColumnType.DATE:
        return date.fromisoformat(value)
    return _timestamp(value, spec.timezone or zone)


def _columns(raw: dict[str, Any], key: str) -> dict[str, Any]:
    items = raw.get(key) or []
    if not isinstance(items, list):
        raise _bad(raw, f"{key} is not a list of named columns")
    out = {}
    for c in items:
        name = c.get("name") if isinstance(c, dict) else None
        if not isinstance(name, str):
            raise _bad(raw, f"{key} is not a list of named columns")
        out[name] = c.get("value")
    return out


def _schema_change(ref: TableRef, what: str) -> SourceSchemaChangeError:
    return SourceSchemaChangeError(
        f"{ref.qualified} changed: {what}; capture of {ref.contract.name} stopped",
        hint="see runbook source-schema-change: change the contract (or the table) and restart the capture",
    )


def _typed(ref: TableRef, found: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for spec in ref.contract.columns:
        if spec.name in found:
            try:
                out[spec.name] = typed_value(found[spec.name], spec, ref.contract.source_timezone)
            except (ValueError, TypeError, ArithmeticError, InvalidOperation) as exc:
                raise _schema_change(ref, f"column {spec.name!r} holds {exc}, not {spec.type.value}") from None
    return out


def source_columns(contract: Contract) -> list[str]:
    """The contract's columns the source table holds: all but the change columns it declares (``_op``, ``_lsn``)."""
    return [n for n in contract.column_names if n not in CHANGE_COLUMNS]


def _extra(ref: TableRef, columns: dict[str, Any]) -> dict[str, Any]:
    if len(columns) <= len(ref.names) and ref.names.issuperset(columns):  # nearly always: no extra column
        return {}
    extra = {k: v for k, v in columns.items() if k not in ref.names}
    if extra and ref.additive == "stop":
        raise _schema_change(ref, f"new column(s) {', '.join(sorted(extra))} the contract does not have")
    return extra


def _row_change(raw: dict[str, Any], lsn: int, ref: TableRef) -> list[Change]:
    action, names = raw["action"], ref.ordered
    if action == "D":
        return [Change("d", lsn, _typed(ref, _columns(raw, "identity")))]
    new = _columns(raw, "columns")
    missing = [n for n in names if n not in new]
    if action == "I":
        if missing:
            raise _schema_change(ref, f"an insert lacks column(s) {', '.join(missing)} (dropped or renamed?)")
        return [Change("i", lsn, _typed(ref, new), (), _extra(ref, new))]
    old = _columns(raw, "identity")
    # Under replica identity FULL the old row holds what an update left untouched.
    filled = {**{n: old[n] for n in missing if n in old}, **new}
    unchanged = tuple(n for n in names if n not in filled)
    update = Change("u", lsn, _typed(ref, filled), unchanged, _extra(ref, new))
    keys = ref.contract.primary_key
    old_key = _typed(ref, {k: old[k] for k in keys if k in old})
    if len(old_key) == len(keys) and any(old_key[k] != update.values.get(k) for k in keys):
        return [Change("d", lsn, old_key), update]
    return [update]


def _is_ours(raw: dict[str, Any], ref: TableRef) -> bool:
    return raw.get("schema") == ref.schema and raw.get("table") == ref.table


def transactions(rows: Iterable[tuple[str, Any, str]], ref: TableRef) -> list[Transaction]:
    """Decoded rows (``lsn``, ``xid``, ``data`` as the decoding functions return them) as whole transactions.

    A transaction whose commit row is missing (the output ended inside it) is
    left out: it comes again whole in the next read.

    Raises:
        CdcDecodeError: a row that is not wal2json format-version 2.
        SourceSchemaChangeError: a change the contract cannot take.
    """
    done: list[Transaction] = []
    open_txn: Transaction | None = None
    for lsn_text, xid, data in rows:
        try:
            raw = _JSON.decode(data) if isinstance(data, str) else json.loads(data, parse_float=Decimal)
        except (ValueError, TypeError, RecursionError):
            raise _bad(data, "not JSON") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("action"), str):
            raise _bad(data, "no action")
        action, lsn = raw["action"], parse_lsn(str(lsn_text))
        if action == "B":
            open_txn = Transaction(int(xid))
        elif open_txn is None:
            raise _bad(data, f"{action} outside a transaction")
        elif action == "C":
            stamp = raw.get("timestamp")
            open_txn.commit_lsn = lsn
            open_txn.commit_ts = _timestamp(str(stamp), "UTC") if stamp else datetime.now(timezone.utc)
            done.append(open_txn)
            open_txn = None
        elif action in "IUDT" and len(action) == 1 and _is_ours(raw, ref):
            change_lsn = parse_lsn(str(raw.get("lsn") or lsn_text))
            if action == "T":
                open_txn.changes.append(Change("t", change_lsn, {}))
            else:
                open_txn.changes.extend(_row_change(raw, change_lsn, ref))
        elif action not in "IUDTM" or len(action) != 1:
            raise _bad(data, f"unknown action {action!r}")
    return done


def change_schema(contract: Contract) -> pa.Schema:
    """The columns of a frame of changes: the contract's source columns, then the change columns."""
    own = [(c.name, arrow_type(c)) for c in contract.columns if c.name not in CHANGE_COLUMNS]
    return pa.schema([*own, *((n, t) for n, t in CHANGE_COLUMNS.items())])


def _json(value: object) -> str | None:
    return json.dumps(value, ensure_ascii=False, default=str) if value else None


def to_frame(txns: list[Transaction], contract: Contract) -> pa.Table:
    """The changes of ``txns``, in commit order, as one Arrow table (see the module doc for the columns)."""
    rows = [(t, c) for t in txns for c in t.changes]
    data: dict[str, list[Any]] = {n: [ch.values.get(n) for _, ch in rows] for n in source_columns(contract)}
    data["_op"] = [c.op for _, c in rows]
    data["_lsn"] = [c.lsn for _, c in rows]
    data["_xid"] = [t.xid for t, _ in rows]
    data["_commit_lsn"] = [t.commit_lsn for t, _ in rows]
    data["_commit_ts"] = [t.commit_ts for t, _ in rows]
    data["_unchanged"] = [_json(list(c.unchanged)) for _, c in rows]
    data["_extra"] = [_json(c.extra) for _, c in rows]
    return pa.Table.from_pydict(data, schema=change_schema(contract))
