"""What a keyed table holds after a run: pure Arrow functions, no I/O (:mod:`sluice.lake.apply` does the I/O).

A key's versions are ordered by the contract's ``order_by`` column, then by
``_batch_id``, then by ``_source_row``: a total order that does not depend on
the order in which batches arrive (a batch id is a hash of its source and
position), so ties on ``order_by`` are broken the same way by every writer
and on every replay. The greatest version wins; a version equal to one the
table holds (a replay) changes nothing.

- **upsert**: one row per key, its greatest version. A greatest version
  whose ``_op`` is ``d`` deletes the key: under ``deletes: hard`` the key has
  no row, under ``deletes: tombstone`` the delete row stays as the key's row.
- **scd2**: every version of each key, one per ``order_by`` value (the
  greatest on a tie), with ``valid_from`` (its ``order_by`` value),
  ``valid_to`` (the next version's ``valid_from``, null for the latest) and
  ``is_current`` (no ``valid_to``). A version that arrives late lands at its
  place and closes the interval before it. A delete closes the version before
  it; under ``hard`` the delete row itself is not kept, under ``tombstone`` it
  is (and is current).

Under ``deletes: hard`` the table keeps no trace of a delete, so a version
older than a delete that arrives after the delete was committed is applied
as if the delete had not happened (upsert: the key comes back; scd2: the
version stays open). Sources that can deliver that (files redelivered out of
order) use ``tombstone``; CDC and cursor reads deliver a key's versions in
order and are exact under both.

Change rows that do not hold a whole version (an update's TOASTed columns
left out, a key-only delete, a TRUNCATE) are first completed from the key's
previous version, and a TRUNCATE becomes a delete of every key present
before it (:mod:`sluice.lake.changes`); ``_op`` ``t`` rows are deletes.

Every incoming row is counted once: ``inserted`` (a key the table did not
have), ``updated`` (a new version of a key it had), ``deleted`` (a delete
that took effect), ``unchanged`` (not newer than what the table holds, or a
delete of a key it does not have under ``hard``), ``superseded`` (a greater
version of the same key, or in scd2 of the same key and ``order_by`` value,
came in the same run). A TRUNCATE is one row: ``deleted`` when it deleted a
key, ``unchanged`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.lake.changes import TRUNCATE_OP, carried, expand_truncates, ops
from sluice.validate.chunk import BATCH_COL, ROW_COL
from sluice.validate.contracts import DELETE_OP, SCD2_COLUMNS, ApplyMode, Contract, DeleteMode

_SRC = "__lake"  # 1 on rows the table holds, 0 on incoming rows: the table wins an exact tie
_IDX = "__i"  # row numbers in semi-joins


@dataclass(frozen=True)
class Resolution:
    """The new rows of the keys a run changes, which keys those are, and what each incoming row did."""

    rows: pa.Table  # every row the changed keys now have (lake schema)
    changed: pa.Table  # the changed keys (key columns only)
    inserted: int
    updated: int
    deleted: int
    unchanged: int
    superseded: int
    truncates: frozenset[tuple[str, int]] = frozenset()  # the TRUNCATEs (batch id, row) that deleted a key
    replaced: np.ndarray | None = None  # which rows of ``current`` hold a changed key (None: not worked out)


def order_columns(contract: Contract) -> list[str]:
    assert contract.order_by is not None
    return [contract.order_by, BATCH_COL, ROW_COL]


def _boundaries(table: pa.Table, columns: list[str]) -> np.ndarray:
    """For a table sorted by ``columns``: True on the last row of each run of equal values."""
    n = table.num_rows
    last = np.ones(n, dtype=bool)
    if n > 1:
        same = np.ones(n - 1, dtype=bool)
        for name in columns:
            col = table.column(name).combine_chunks()
            equal = pc.equal(col.slice(0, n - 1), col.slice(1))
            same &= np.asarray(pc.fill_null(equal, False).to_numpy(zero_copy_only=False), dtype=bool)
        last[:-1] = ~same
    return last


def _is_delete(table: pa.Table) -> np.ndarray:
    marks: np.ndarray = ops(table, DELETE_OP) | ops(table, TRUNCATE_OP)
    return marks


def _truncates(rows: pa.Table) -> frozenset[tuple[str, int]]:
    """The TRUNCATEs (batch id and row) the generated ``t`` rows come from."""
    cleared = rows.filter(pa.array(ops(rows, TRUNCATE_OP)))
    if not cleared.num_rows:
        return frozenset()
    found = _distinct_keys(cleared.select([BATCH_COL, ROW_COL]))
    return frozenset(zip(found.column(BATCH_COL).to_pylist(), found.column(ROW_COL).to_pylist(), strict=True))


def aligned(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns: missing ones (scd2 intervals, newer columns) as nulls."""
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _tagged(table: pa.Table, schema: pa.Schema, lake: int) -> pa.Table:
    data = aligned(table, schema)
    return data.append_column(_SRC, pa.array(np.full(data.num_rows, lake, dtype=np.int8)))


def _sorted(table: pa.Table, columns: list[str]) -> pa.Table:
    return table.sort_by([(c, "ascending") for c in columns])


def contains_keys(rows: pa.Table, keys: pa.Table, names: list[str]) -> np.ndarray:
    """Which of ``rows`` have their key in ``keys`` (an exact hash semi-join)."""
    probe = rows.select(names).append_column(_IDX, pa.array(np.arange(rows.num_rows, dtype=np.int64)))
    hit = probe.join(keys.select(names), keys=names, join_type="left semi", use_threads=False)
    mask = np.zeros(rows.num_rows, dtype=bool)
    mask[hit.column(_IDX).to_numpy()] = True
    return mask


def resolve(contract: Contract, current: pa.Table, incoming: pa.Table, schema: pa.Schema) -> Resolution:
    """The new state of the keys ``incoming`` touches, given every row the table holds for them (``current``).

    ``incoming`` may hold change rows (:mod:`sluice.lake.changes`); with a
    TRUNCATE among them, ``current`` must be the whole table.
    """
    lake = aligned(current, schema)
    rows, truncates = expand_truncates(contract, lake, carried(contract, lake, incoming, aligned(incoming, schema)))
    if contract.mode is ApplyMode.SCD2:
        return _resolve_scd2(contract, lake, rows, schema, truncates)
    return _resolve_upsert(contract, lake, rows, schema, truncates)


def _sort_order(table: pa.Table, columns: list[str]) -> np.ndarray:
    """Row indices that sort ``table`` by ``columns`` (only those columns are touched)."""
    found: np.ndarray = pc.sort_indices(table.select(columns), sort_keys=[(c, "ascending") for c in columns]).to_numpy()
    return found


def _newest(contract: Contract, best: pa.Table, current: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the run's greatest version of each key (``best``) against the table's rows (``current``): which rows of
    ``best`` are newer than the key's row in the table, whether that key has one, and each current row's position
    among the keys (an index into the first array, -1 for keys no newer version came for)."""
    keys, order = contract.primary_key, order_columns(contract)
    probe = pa.concat_tables([best.select([*keys, *order]), current.select([*keys, *order])])
    source = np.r_[np.zeros(best.num_rows, dtype=np.int8), np.ones(current.num_rows, dtype=np.int8)]
    probe = probe.append_column(_SRC, pa.array(source))
    idx = _sort_order(probe, [*keys, *order, _SRC])  # the table wins an exact tie: it sorts last
    last = _boundaries(probe.select(keys).take(pa.array(idx)), keys)
    first = np.r_[True, last[:-1]] if len(last) else last
    group = np.cumsum(first) - 1
    held = np.zeros(int(first.sum()), dtype=bool)
    held[group[source[idx] == 1]] = True
    winners = idx[last]
    newer = source[winners] == 0
    slot = np.full(int(first.sum()), -1, dtype=np.int64)
    slot[np.flatnonzero(newer)] = np.arange(int(newer.sum()))
    rows_of_current = idx[source[idx] == 1] - best.num_rows
    position = np.empty(current.num_rows, dtype=np.int64)
    position[rows_of_current] = slot[group[source[idx] == 1]]
    return winners[newer], held[newer], position


def _equal(a: pa.ChunkedArray | pa.Array, b: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Element-wise equality with null equal to null (lists compared as values)."""
    if pa.types.is_nested(a.type):
        return np.array([x == y for x, y in zip(a.to_pylist(), b.to_pylist(), strict=True)], dtype=bool)
    same = pc.fill_null(pc.equal(a, b), False).to_numpy(zero_copy_only=False)
    nulls = pc.and_(pc.is_null(a), pc.is_null(b)).to_numpy(zero_copy_only=False)
    return np.asarray(same | nulls, dtype=bool)


def _as_held(contract: Contract, new: pa.Table, current: pa.Table, position: np.ndarray) -> np.ndarray:
    """Which rows of ``new`` hold exactly the values the table holds for their key: a version seen again."""
    same = np.zeros(new.num_rows, dtype=bool)
    held = np.flatnonzero(position >= 0)
    if not len(held):
        return same
    stored, arriving = current.take(pa.array(held)), new.take(pa.array(position[held]))
    equal = np.ones(len(held), dtype=bool)
    for name in contract.column_names:
        equal &= _equal(stored.column(name), arriving.column(name))
    same[position[held][equal]] = True
    return same


def _resolve_upsert(
    contract: Contract, current: pa.Table, incoming: pa.Table, schema: pa.Schema, truncates: int
) -> Resolution:
    keys, order = contract.primary_key, order_columns(contract)
    arriving = aligned(incoming, schema)
    idx = _sort_order(arriving, [*keys, *order])
    best = arriving.take(pa.array(idx[_boundaries(arriving.select(keys).take(pa.array(idx)), keys)]))
    generated = int(ops(incoming, TRUNCATE_OP).sum())
    superseded = (incoming.num_rows - generated) - (best.num_rows - int(ops(best, TRUNCATE_OP).sum()))
    held = aligned(current, schema)
    winners, known, position = _newest(contract, best, held)
    new = best.take(pa.array(winners))  # keys whose greatest version is incoming
    deletes = _is_delete(new)
    tombstone = contract.deletes is DeleteMode.TOMBSTONE
    seen = _as_held(contract, new, held, position) & known & ~deletes  # the same values again
    inserted = int((~known & ~deletes).sum())
    updated = int((known & ~deletes & ~seen).sum())
    took = deletes & (known | tombstone)
    cleared = ops(new, TRUNCATE_OP)
    truncated = _truncates(new.filter(pa.array(took)))
    deleted = int((took & ~cleared).sum()) + len(truncated)
    unchanged = incoming.num_rows - generated + truncates - superseded - inserted - updated - deleted
    changes = (known | ~deletes | tombstone) & ~seen
    changed = new.filter(pa.array(changes))
    kept = changed if tombstone else changed.filter(pa.array(~_is_delete(changed)))
    replaced = (position >= 0) & np.r_[changes, False][position]
    return Resolution(
        kept.select(schema.names),
        changed.select(keys),
        inserted,
        updated,
        deleted,
        unchanged,
        superseded,
        truncated,
        replaced,
    )


def _resolve_scd2(
    contract: Contract, current: pa.Table, incoming: pa.Table, schema: pa.Schema, truncates: int
) -> Resolution:
    keys = contract.primary_key
    assert contract.order_by is not None
    version = [*keys, contract.order_by]
    runs = _sorted(_tagged(incoming, schema, 0), [*version, BATCH_COL, ROW_COL])
    best = runs.filter(pa.array(_boundaries(runs, version)))  # one row per key and order_by value
    generated = int(ops(incoming, TRUNCATE_OP).sum())
    superseded = (incoming.num_rows - generated) - (best.num_rows - int(ops(best, TRUNCATE_OP).sum()))
    both = _sorted(pa.concat_tables([best, _tagged(current, schema, 1)]), [*version, BATCH_COL, ROW_COL, _SRC])
    final = both.filter(pa.array(_boundaries(both, version)))
    won = final.filter(pc.equal(final.column(_SRC), 0))
    known = contains_keys(won, current, keys)
    deletes = _is_delete(won)
    inserted = int((~known & ~deletes).sum())
    updated = int((known & ~deletes).sum())
    truncated = _truncates(won)
    deleted = int((deletes & ~ops(won, TRUNCATE_OP)).sum()) + len(truncated)
    unchanged = incoming.num_rows - generated + truncates - superseded - inserted - updated - deleted
    changed = _distinct_keys(won.select(keys))
    history = final.filter(pa.array(contains_keys(final, changed, keys)))
    rows = _intervals(contract, history, schema)
    return Resolution(rows, changed, inserted, updated, deleted, unchanged, superseded, truncated)


def _distinct_keys(keys: pa.Table) -> pa.Table:
    names = keys.column_names
    return keys.group_by(names, use_threads=False).aggregate([]).select(names)


def _intervals(contract: Contract, history: pa.Table, schema: pa.Schema) -> pa.Table:
    """Each key's versions (sorted by key, then ``order_by``) with their validity intervals.

    A version ends where the next one starts, or earlier where the table
    already ended it (a hard delete, whose row is not kept, closed it).
    """
    assert contract.order_by is not None
    valid_from, valid_to, is_current = SCD2_COLUMNS
    n = history.num_rows
    last = _boundaries(history, contract.primary_key)
    start = history.column(contract.order_by).combine_chunks()
    ended = history.column(valid_to).combine_chunks()
    following = pa.concat_arrays([start.slice(1), pa.nulls(1, start.type)]) if n else start
    nxt = pc.if_else(pa.array(last), pa.nulls(n, start.type), following)
    sooner = pc.or_(pc.is_null(ended), pc.fill_null(pc.less(nxt, ended), False))
    ends = pc.if_else(sooner, nxt, ended)
    rows = (
        history.set_column(history.schema.get_field_index(valid_from), valid_from, start)
        .set_column(history.schema.get_field_index(valid_to), valid_to, ends)
        .set_column(history.schema.get_field_index(is_current), is_current, pc.is_null(ends))
    )
    if contract.deletes is DeleteMode.HARD:
        rows = rows.filter(pa.array(~_is_delete(rows)))
    return rows.select(schema.names).cast(schema)
