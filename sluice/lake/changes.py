"""What change rows leave out, made explicit before a keyed table resolves them (:mod:`sluice.lake.resolve`).

Change data capture delivers rows that do not hold a whole version of their key:

- an update lists in ``_unchanged`` (a JSON list of names) the columns the
  server did not send (TOASTed values it left untouched): the key's previous
  version's values are kept, not nulled;
- a delete of replica identity DEFAULT holds the key columns only (its
  partition column is null, which no whole row has): its other columns, and
  its partition date, are the key's previous version's, so a tombstone keeps
  the key's last values in the key's partition;
- a TRUNCATE (``_op`` ``t``, key columns null) deletes every key present
  before it: it becomes one ``t`` row per such key, at the truncate's place
  in the order (its ``order_by`` value, batch id and row), holding that key's
  last values. A key whose version before the truncate is a delete, or whose
  scd2 interval already ended by then, is not present.

"Previous version" follows the total order of :mod:`sluice.lake.resolve`
(``order_by``, ``_batch_id``, ``_source_row``) over the table's rows and the
run's rows together, so a change that arrives late still takes its values
from the version before it. An update that also changes the key and leaves a
TOASTed column out gets that column null: the new key has no previous
version to take it from.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.validate.chunk import BATCH_COL, PARTITION, ROW_COL
from sluice.validate.contracts import DELETE_OP, OP_COLUMN, SCD2_COLUMNS, Contract

TRUNCATE_OP = "t"
UNCHANGED_COLUMN = "_unchanged"
LSN_COLUMN = "_lsn"


def ops(table: pa.Table, op: str) -> np.ndarray:
    """Which rows have ``_op`` equal to ``op`` (none when the table has no ``_op``)."""
    if OP_COLUMN not in table.column_names:
        return np.zeros(table.num_rows, dtype=bool)
    marks = pc.equal(table.column(OP_COLUMN), op)
    return np.asarray(pc.fill_null(marks, False).to_numpy(zero_copy_only=False), dtype=bool)


def _order(contract: Contract) -> list[str]:
    assert contract.order_by is not None  # keyed contracts only: validated with the contract
    return [contract.order_by, BATCH_COL, ROW_COL]


def _carried_columns(contract: Contract, schema: pa.Schema) -> list[str]:
    fixed = {*contract.primary_key, contract.order_by, OP_COLUMN, LSN_COLUMN, *SCD2_COLUMNS, BATCH_COL, ROW_COL}
    return [f.name for f in schema if f.name not in fixed and not f.name.startswith("_")] + [PARTITION]


def _key_changes(raw: pa.Table) -> dict[int, int]:
    """The updates that changed their key: the row of the ``u`` and of the ``d`` at the same ``_lsn``."""
    if LSN_COLUMN not in raw.column_names:
        return {}
    lsns = raw.column(LSN_COLUMN).to_pylist()
    deletes = {lsns[i]: i for i in np.flatnonzero(ops(raw, DELETE_OP)) if lsns[i] is not None}
    return {int(i): int(deletes[lsns[i]]) for i in np.flatnonzero(ops(raw, "u")) if lsns[i] in deletes}


def _unsent(
    contract: Contract, raw: pa.Table, columns: list[str], moved: dict[int, int]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per column, the incoming rows that did not send it: those that take it from the key's previous version,
    and the key changes (``moved``), which take it from the old key's."""
    n = raw.num_rows
    masks: dict[str, np.ndarray] = {}
    from_old: dict[str, np.ndarray] = {}
    if UNCHANGED_COLUMN in raw.column_names:
        updates = ops(raw, "u")
        for i, text in enumerate(raw.column(UNCHANGED_COLUMN).to_pylist()):
            if text and updates[i]:
                for name in json.loads(text):
                    if name in columns:
                        found = from_old if i in moved else masks
                        found.setdefault(name, np.zeros(n, dtype=bool))[i] = True
    part = raw.column(contract.partition.column)
    key_only = ops(raw, DELETE_OP) & np.asarray(pc.is_null(part).to_numpy(zero_copy_only=False), dtype=bool)
    if key_only.any():
        for name in columns:
            masks[name] = masks.get(name, np.zeros(n, dtype=bool)) | key_only
    return masks, from_old


def _group_starts(sorted_keys: pa.Table) -> np.ndarray:
    """For rows sorted by key: the index of the first row of each row's key."""
    n = sorted_keys.num_rows
    first = np.ones(n, dtype=bool)
    if n > 1:
        same = np.ones(n - 1, dtype=bool)
        for name in sorted_keys.column_names:
            col = sorted_keys.column(name).combine_chunks()
            eq = pc.fill_null(pc.equal(col.slice(0, n - 1), col.slice(1)), False)
            same &= np.asarray(eq.to_numpy(zero_copy_only=False), dtype=bool)
        first[1:] = ~same
    starts = np.flatnonzero(first)
    found: np.ndarray = starts[np.cumsum(first) - 1]
    return found


def carried(contract: Contract, current: pa.Table, incoming: pa.Table, aligned_incoming: pa.Table) -> pa.Table:
    """``aligned_incoming`` with every value its row did not send taken from the key's previous version.

    ``current`` and ``aligned_incoming`` are in the lake schema; ``incoming``
    is the same rows as delivered (with ``_unchanged``).
    """
    schema = aligned_incoming.schema
    moved = _key_changes(incoming)
    masks, from_old = _unsent(contract, incoming, _carried_columns(contract, schema), moved)
    if not masks:
        return _from_old_key(aligned_incoming, from_old, moved)
    both = pa.concat_tables([current.select(schema.names).cast(schema), aligned_incoming])
    n, n_cur = both.num_rows, current.num_rows
    sort_keys = [(c, "ascending") for c in [*contract.primary_key, *_order(contract)]]
    order = pc.sort_indices(both, sort_keys=sort_keys).to_numpy()
    starts = _group_starts(both.select(contract.primary_key).take(order))
    back = np.empty(n, dtype=np.int64)
    back[order] = np.arange(n)
    out = aligned_incoming
    for name, mask in masks.items():
        unsent = np.zeros(n, dtype=bool)
        unsent[n_cur:] = mask
        unsent = unsent[order]
        last_sent = np.maximum.accumulate(np.where(unsent, -1, np.arange(n)))
        source = np.where(unsent & (last_sent >= starts), last_sent, np.arange(n))
        values = both.column(name).take(pa.array(order[source]))
        out = out.set_column(schema.get_field_index(name), name, values.take(pa.array(back[n_cur:])))
    return _from_old_key(out, from_old, moved)


def _from_old_key(rows: pa.Table, from_old: dict[str, np.ndarray], moved: dict[int, int]) -> pa.Table:
    """Rows whose key changed with the values they did not send taken from the old key's (completed) ``d`` row."""
    source = np.arange(rows.num_rows)
    for new, old in moved.items():
        source[new] = old
    for name, mask in from_old.items():
        col = rows.column(name)
        rows = rows.set_column(
            rows.schema.get_field_index(name),
            name,
            col.take(pa.array(np.where(mask, source, np.arange(rows.num_rows)))),
        )
    return rows


def _before(table: pa.Table, order: list[str], at: dict[str, object]) -> np.ndarray:
    """Rows whose (``order_by``, batch, row) comes before ``at``'s."""
    below = pa.array(np.zeros(table.num_rows, dtype=bool))
    for i in reversed(range(len(order))):
        col = table.column(order[i])
        less = pc.less(col, pa.scalar(at[order[i]], col.type))
        below = pc.or_(less, pc.and_(pc.equal(col, pa.scalar(at[order[i]], col.type)), below))
    return np.asarray(pc.fill_null(below, False).to_numpy(zero_copy_only=False), dtype=bool)


def _present(contract: Contract, pool: pa.Table, truncate: dict[str, object]) -> pa.Table:
    """The last version before ``truncate`` of each key that is present then (not deleted, not ended)."""
    keys, order = contract.primary_key, _order(contract)
    earlier = pool.filter(pa.array(_before(pool, order, truncate)))
    ranked = earlier.sort_by([(c, "ascending") for c in [*keys, *order]])
    starts = _group_starts(ranked.select(keys))
    last = np.ones(ranked.num_rows, dtype=bool)
    last[:-1] = starts[1:] != starts[:-1]
    latest = ranked.filter(pa.array(last))
    alive = ~(ops(latest, DELETE_OP) | ops(latest, TRUNCATE_OP))
    valid_to = SCD2_COLUMNS[1]
    if valid_to in latest.column_names:
        at = pa.scalar(truncate[contract.order_by or ""], latest.column(valid_to).type)
        open_then = pc.fill_null(
            pc.or_kleene(pc.is_null(latest.column(valid_to)), pc.greater(latest.column(valid_to), at)), True
        )
        alive &= np.asarray(open_then.to_numpy(zero_copy_only=False), dtype=bool)
    return latest.filter(pa.array(alive))


def expand_truncates(contract: Contract, current: pa.Table, incoming: pa.Table) -> tuple[pa.Table, int]:
    """``incoming`` (lake schema) with each TRUNCATE row replaced by a ``t`` row per key present before it.

    Returns the rows and how many truncates there were.
    """
    marks = ops(incoming, TRUNCATE_OP)
    if not marks.any():
        return incoming, 0
    truncates = incoming.filter(pa.array(marks)).sort_by([(c, "ascending") for c in _order(contract)])
    pool = pa.concat_tables(
        [current.select(incoming.schema.names).cast(incoming.schema), incoming.filter(pa.array(~marks))]
    )
    stamped = [OP_COLUMN, *_order(contract), *([LSN_COLUMN] if LSN_COLUMN in incoming.column_names else [])]
    cleared = list(SCD2_COLUMNS) if SCD2_COLUMNS[0] in incoming.column_names else []
    for t in truncates.to_pylist():
        rows = _present(contract, pool, t)
        for name in stamped:
            rows = rows.set_column(
                rows.schema.get_field_index(name),
                name,
                pa.repeat(pa.scalar(t[name], rows.schema.field(name).type), rows.num_rows),
            )
        for name in cleared:
            rows = rows.set_column(
                rows.schema.get_field_index(name), name, pa.nulls(rows.num_rows, rows.schema.field(name).type)
            )
        pool = pa.concat_tables([pool, rows])
    generated = pool.slice(current.num_rows)
    return generated, truncates.num_rows
