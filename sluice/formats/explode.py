"""An exploded array's elements as a raw chunk of child rows: one row per element, keyed by its parent.

The JSON Lines reader gives each parent row's array as its JSON text
(:func:`sluice.formats.nested.resolve_json`). A chunk's arrays are read by
Arrow in one pass, as lists of structs of the child's element columns typed
by the contract (or, for ``value_column``, as lists of scalars), and
flattened with ``list_flatten`` / ``list_parent_indices``: the parent's key
(and carried) columns are taken once per element, the index column is each
element's offset in its array. Only a chunk that Arrow refuses (an element
of another shape or type, keys nested in a way the schema cannot hold) is
read array by array with Python's parser, each element then resolved by the
same path and shape rules as a parent record; an element that is neither an
object nor (with ``value_column``) a scalar fails its child row as
``wrong_shape``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.formats.base import RawChunk
from sluice.formats.nested import (
    ColumnPaths,
    json_text,
    read_block,
    read_objects,
    resolve_json,
    scalar_text,
    text_lines,
)
from sluice.validate.columns import ColumnSpec, ColumnType
from sluice.validate.explode import ExplodeSpec
from sluice.validate.quality import FailureLog, Reason

_TEXT = pa.string()
_JSON_TYPES = {ColumnType.INT64: pa.int64(), ColumnType.FLOAT64: pa.float64(), ColumnType.BOOL: pa.bool_()}


@dataclass
class Children:
    """The child rows of one parent chunk; ``parent`` is each row's parent position in that chunk."""

    chunk: RawChunk
    parent: np.ndarray


def _json_type(spec: ColumnSpec) -> pa.DataType:
    if spec.type is ColumnType.LIST:
        return pa.list_(_JSON_TYPES.get(spec.items or ColumnType.STRING, _TEXT))
    return _JSON_TYPES.get(spec.type, _TEXT)


def _struct_type(paths: ColumnPaths) -> pa.StructType | None:
    """The element struct holding every path the columns read, leaves typed; None when a key is both."""
    tree: dict[str, Any] = {}
    for spec in paths.columns:
        for path in paths.candidates(spec):
            node = tree
            for key in path[:-1]:
                node = node.setdefault(key, {})
                if not isinstance(node, dict):
                    return None
            if isinstance(node.get(path[-1]), dict):
                return None
            node[path[-1]] = _json_type(spec)

    def build(node: dict[str, Any]) -> pa.StructType:
        return pa.struct([(k, build(v) if isinstance(v, dict) else v) for k, v in node.items()])

    return build(tree)


def _field(values: pa.Array, path: tuple[str, ...]) -> pa.Array:
    for key in path:
        values = pc.struct_field(values, key)
    return values


def _element_columns(elements: pa.Array, paths: ColumnPaths) -> dict[str, pa.Array]:
    """Each column's value in the flattened element structs, the first of its paths that holds one."""
    out = {}
    for spec in paths.columns:
        found = [_field(elements, p) for p in paths.candidates(spec)]
        out[spec.name] = found[0] if len(found) == 1 else pc.coalesce(*found)
    return out


def _fast(
    texts: pa.Array, paths: ColumnPaths, spec: ExplodeSpec, where: str, log: FailureLog
) -> tuple[dict[str, pa.Array], pa.Array] | None:
    """Element columns and each array as a list, read by Arrow; None when Arrow refuses."""
    block = text_lines(pc.binary_join_element_wise('{"v":', pc.fill_null(texts, "null"), "}", ""))
    struct = _struct_type(paths)
    if struct is not None:
        table = read_block(block, pa.schema([("v", pa.list_(struct))]))
        if table is not None and table.num_rows == len(texts):
            lists = table.column("v").combine_chunks()
            flat = pc.list_flatten(lists)
            nulls = np.flatnonzero(pc.is_null(flat).to_numpy(zero_copy_only=False))
            if len(nulls):
                check = "shape: object element, found null"
                log.add(nulls, column=where, reason=Reason.WRONG_SHAPE, check=check, values=None, critical=True)
            return _element_columns(flat, paths), lists
    if spec.value_column is not None:
        value = spec.child.column(spec.value_column)
        table = read_block(block, pa.schema([("v", pa.list_(_json_type(value)))]))
        if table is not None and table.num_rows == len(texts):
            lists = table.column("v").combine_chunks()
            flat = pc.list_flatten(lists)
            return {
                c: flat if c == spec.value_column else pa.nulls(len(flat), _TEXT) for c in spec.element_columns()
            }, lists
    return None


@dataclass
class _Parsed:
    parent: list[int]
    index: list[int]
    objects: list[str | None]  # an object element's JSON text
    scalars: list[str | None]  # a scalar element's text
    wrong: dict[int, tuple[str, str | None]]  # element position: (check, value)


def _kind(item: Any) -> str:
    return "null" if item is None else "array" if isinstance(item, list) else "scalar"


def _parse_arrays(texts: pa.Array, spec: ExplodeSpec) -> _Parsed:
    out = _Parsed([], [], [], [], {})
    scalars_fit = spec.value_column is not None
    for row in np.flatnonzero(pc.is_valid(texts).to_numpy(zero_copy_only=False)).tolist():
        try:
            items = json.loads(texts[row].as_py())
        except (ValueError, RecursionError):
            items = None
        for index, item in enumerate(items if isinstance(items, list) else []):
            out.parent.append(row)
            out.index.append(index)
            is_object = isinstance(item, dict)
            out.objects.append(json_text(item) if is_object else None)
            fits = is_object or (scalars_fit and not isinstance(item, list))
            out.scalars.append(scalar_text(item) if fits and not is_object else None)
            if not fits:
                want = "object or scalar" if scalars_fit else "object"
                out.wrong[len(out.index) - 1] = (f"shape: {want} element, found {_kind(item)}", json_text(item))
    return out


def _slow(
    texts: pa.Array, paths: ColumnPaths, spec: ExplodeSpec, where: str, log: FailureLog
) -> tuple[dict[str, pa.Array], pa.Array]:
    """Element columns array by array with Python's parser; wrong elements logged against their child row."""
    parsed = _parse_arrays(texts, spec)
    n = len(parsed.index)
    objects = pa.array(parsed.objects, _TEXT)
    is_object = pc.is_valid(objects).to_numpy(zero_copy_only=False)
    top, broken = read_objects(objects, is_object, paths.heads)
    columns_table, failures = resolve_json(top, paths)
    log.extend(failures)
    columns = {name: columns_table.column(name).combine_chunks() for name in columns_table.column_names}
    if spec.value_column is not None:
        scalars = pa.array(parsed.scalars, _TEXT)
        current = columns[spec.value_column]
        columns[spec.value_column] = pc.if_else(pa.array(is_object), current.cast(_TEXT), scalars)
    by_check: dict[str, list[tuple[int, str | None]]] = {}
    for row, (check, value) in sorted({**parsed.wrong, **broken}.items()):
        by_check.setdefault(check, []).append((row, value))
    for check, found in by_check.items():
        rows = np.array([r for r, _ in found], dtype=np.int64)
        log.add(rows, column=where, reason=Reason.WRONG_SHAPE, check=check, values=[v for _, v in found], critical=True)
    offsets = np.zeros(len(texts) + 1, dtype=np.int32)
    np.add.at(offsets, np.array(parsed.parent, dtype=np.int64) + 1, 1)
    lists = pa.ListArray.from_arrays(pa.array(np.cumsum(offsets, dtype=np.int32)), pa.nulls(n))
    return columns, lists


def explode_chunk(parent: RawChunk, key: str, spec: ExplodeSpec) -> Children:
    """The child rows of ``parent``'s arrays under ``key``: parent columns, index, element columns."""
    child = spec.child
    texts = parent.table.column(key).combine_chunks() if key in parent.table.column_names else None
    if texts is None or texts.null_count == len(texts):
        empty = pa.table({c: pa.nulls(0) for c in child.column_names})
        return Children(RawChunk(empty, np.zeros(0, dtype=np.int64)), np.zeros(0, dtype=np.int64))
    paths = ColumnPaths(tuple(child.column(c) for c in spec.element_columns()), child.nested.separator)
    log = FailureLog()
    read = _fast(texts, paths, spec, key, log)
    columns, lists = read if read is not None else _slow(texts, paths, spec, key, log)
    owner = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = np.asarray(lists.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    take = pa.array(owner)
    out: dict[str, pa.Array] = {c: parent.table.column(c).combine_chunks().take(take) for c in spec.from_parent}
    # The flattened values start at the first offset: an element's index is its distance from its list's start.
    out[spec.index_column] = pa.array(np.arange(len(owner), dtype=np.int64) + offsets[0] - offsets[owner])
    out.update(columns)
    table = pa.table({c: out[c] for c in child.column_names if c in out})
    return Children(RawChunk(table, parent.rows[owner], failures=log), owner)
