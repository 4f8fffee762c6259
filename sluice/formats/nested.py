"""Nested source values mapped onto a contract's columns: struct paths resolved, arrays kept as lists.

A column's value is looked for at its source paths
(:meth:`~sluice.validate.contracts.ColumnSpec.source_paths`), the first
that holds a value winning row by row. Its shape must fit the column: a
scalar column takes a scalar, a list column an array of scalars of one kind.
A value of another shape (an object or array where a scalar is expected, a
scalar or object where a list is, an array holding nested or mixed items,
something other than an object on a declared ``path``) is a ``wrong_shape``
failure of the column, never turned into text.

JSON Lines (:func:`resolve_json`): the reader gives, per top-level key, the
text of its scalar values and, under the key with
:data:`~sluice.formats.json_bytes.NESTED_MARK`, the JSON text of its nested
ones. A deeper key is reached one level at a time: the objects found at a
prefix are written out as a block of JSON lines and read by the same byte
scan, rewrite and Arrow reader as the file, so each level costs a few
vectorised passes over the chunk. Arrays are read by Arrow as lists of the
items' JSON type; only a block that Arrow refuses (an array of mixed or
nested items, a malformed value) is read again by Python's parser, to say
which rows are wrong and why.

Typed records (:mod:`sluice.formats.typed.paths`): the same paths and shape
rules on the dicts and lists a deserializer returns.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from sluice.formats.json_bytes import NESTED_MARK, rewrite, scan
from sluice.validate.contracts import NESTED_PATH_SEPARATOR, ColumnSpec, ColumnType, Contract
from sluice.validate.quality import FailureLog, Reason

EXCERPT_CHARS = 1024
_TEXT = pa.string()
# The JSON type Arrow reads a list column's items as before they are typed by the contract.
_ITEM_JSON_TYPES = {ColumnType.INT64: pa.int64(), ColumnType.FLOAT64: pa.float64(), ColumnType.BOOL: pa.bool_()}


@dataclass(frozen=True)
class ColumnPaths:
    """A contract's columns with the source paths of each."""

    columns: tuple[ColumnSpec, ...]
    separator: str = "_"
    arrays: tuple[str, ...] = ()  # keys of arrays exploded into child datasets, given as their JSON text

    @classmethod
    def of(cls, contract: Contract) -> ColumnPaths:
        return cls(tuple(contract.columns), contract.nested.separator, tuple(contract.explode))

    @classmethod
    def text_columns(cls, names: Sequence[str]) -> ColumnPaths:
        """Nullable string columns of these names (a reader asked for names alone)."""
        return cls(tuple(ColumnSpec(name=n, type=ColumnType.STRING, nullable=True) for n in names))

    def candidates(self, spec: ColumnSpec) -> list[tuple[str, ...]]:
        return spec.source_paths(self.separator)

    def _all_paths(self) -> list[tuple[str, ...]]:
        paths = [path for spec in self.columns for path in self.candidates(spec)]
        return paths + [tuple(key.split(NESTED_PATH_SEPARATOR)) for key in self.arrays]

    @property
    def heads(self) -> list[str]:
        """The top-level keys the columns (and exploded arrays) read, in column order."""
        return list(dict.fromkeys(path[0] for path in self._all_paths()))

    def keys_under(self) -> dict[tuple[str, ...], list[str]]:
        """For each prefix of a path (the top level is ``()``), the keys read below it."""
        under: dict[tuple[str, ...], dict[str, None]] = {}
        for path in self._all_paths():
            for depth in range(len(path)):
                under.setdefault(path[:depth], {}).setdefault(path[depth], None)
        return {prefix: list(keys) for prefix, keys in under.items()}


def _np(mask: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def text_lines(values: pa.Array) -> bytes:
    """String values, each followed by a newline, as one block of bytes."""
    joined = pc.binary_join_element_wise(values, pa.scalar("\n"), "")
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32)[joined.offset : joined.offset + len(joined) + 1]
    data = joined.buffers()[2]
    return b"" if data is None else data.to_pybytes()[int(offsets[0]) : int(offsets[-1])]


def read_block(block: bytes, schema: pa.Schema) -> pa.Table | None:
    try:
        return pj.read_json(
            io.BytesIO(block),
            read_options=pj.ReadOptions(block_size=len(block) + 1),
            parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _nulls(schema: pa.Schema, n: int) -> pa.Table:
    return pa.table([pa.nulls(n, f.type) for f in schema], schema=schema)


def scalar_text(value: Any) -> str | None:
    """A parsed JSON scalar as the text the reader gives scalars."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# Why a row's value is refused: the check it failed and the value (or the parser's message).
Failure = tuple[str, str | None]


@dataclass
class _Level:
    """The values found at one path: scalar text, nested JSON text, and rows the path cannot reach."""

    scalar: pa.Array
    nested: pa.Array
    blocked: np.ndarray  # a value on the way is not an object (a scalar or an array)
    broken: np.ndarray  # a value on the way is not valid JSON
    why: dict[int, Failure] = field(default_factory=dict)  # for blocked and broken rows


class _JsonLevels:
    """The values at every path the columns read, one nesting level at a time, cached by path."""

    def __init__(self, top: pa.Table, paths: ColumnPaths) -> None:
        self.n = top.num_rows
        self.under = paths.keys_under()
        self.tables: dict[tuple[str, ...], tuple[pa.Table, dict[int, Failure]]] = {(): (top, {})}
        self.levels: dict[tuple[str, ...], _Level] = {}

    def _column(self, table: pa.Table, name: str) -> pa.Array:
        if name not in table.column_names:
            return pa.nulls(self.n, _TEXT)
        column = table.column(name).combine_chunks()
        return column if column.type == _TEXT else column.cast(_TEXT)

    def at(self, path: tuple[str, ...]) -> _Level:
        if path not in self.levels:
            table, broken_here = self._objects(path[:-1])
            blocked, broken = np.zeros(self.n, dtype=bool), np.zeros(self.n, dtype=bool)
            why = dict(broken_here)
            broken[list(broken_here)] = True
            if len(path) > 1:
                up = self.at(path[:-1])
                blocked, broken, why = up.blocked.copy(), up.broken | broken, {**up.why, **why}
                is_scalar = _np(pc.is_valid(up.scalar))
                is_array = _np(pc.is_valid(up.nested)) & ~_np(pc.starts_with(up.nested, "{"))
                prefix = ".".join(path[:-1])
                for i in np.flatnonzero((is_scalar | is_array) & ~blocked & ~broken).tolist():
                    found = "scalar" if is_scalar[i] else "array"
                    text = (up.scalar if is_scalar[i] else up.nested)[i].as_py()
                    why[i] = (f"shape: object at {prefix}, found {found}", text)
                blocked |= is_scalar | is_array
            name = path[-1]
            self.levels[path] = _Level(
                self._column(table, name), self._column(table, name + NESTED_MARK), blocked, broken, why
            )
        return self.levels[path]

    def _objects(self, prefix: tuple[str, ...]) -> tuple[pa.Table, dict[int, Failure]]:
        """The keys read below ``prefix``, from the objects found there."""
        if prefix not in self.tables:
            up = self.at(prefix)
            objects = _np(pc.starts_with(up.nested, "{"))
            self.tables[prefix] = read_objects(up.nested, objects, self.under.get(prefix, []))
        return self.tables[prefix]


def _parse(text: str) -> tuple[Any, Failure | None]:
    try:
        return json.loads(text), None
    except (ValueError, RecursionError) as exc:
        return None, ("parse_json", str(exc)[:200])


def read_objects(texts: pa.Array, objects: np.ndarray, keys: list[str]) -> tuple[pa.Table, dict[int, Failure]]:
    """``keys`` of the JSON objects in ``texts`` (rows where ``objects``), one row per text.

    Each key gives its scalar values as text and, under the key with
    ``NESTED_MARK``, its nested ones as JSON text. Also returns the rows whose
    object is not valid JSON, with the parser's reason.
    """
    n = len(texts)
    schema = pa.schema([(k + suffix, _TEXT) for k in keys for suffix in ("", NESTED_MARK)])
    if not objects.any():
        return _nulls(schema, n), {}
    block = text_lines(pc.if_else(pa.array(objects), texts, pa.scalar("{}")))
    found = scan(block)
    text, odd = rewrite(block, found)
    if len(found.starts) == n and found.shaped.all() and not odd.any():
        table = read_block(text, schema)
        if table is not None and table.num_rows == n:
            return table, {}
    columns: dict[str, list[str | None]] = {name: [None] * n for name in schema.names}
    broken: dict[int, Failure] = {}
    for i in np.flatnonzero(objects).tolist():
        value, problem = _parse(texts[i].as_py())
        if problem is not None:
            broken[i] = problem
            continue
        for key in keys:
            item = value.get(key)
            if isinstance(item, dict | list):
                columns[key + NESTED_MARK][i] = json_text(item)
            else:
                columns[key][i] = scalar_text(item)
    return pa.table({k: pa.array(v, _TEXT) for k, v in columns.items()}, schema=schema), broken


def _kind(item: Any) -> str:
    if isinstance(item, bool):
        return "bool"
    if isinstance(item, int | float):
        return "number"
    if isinstance(item, str):
        return "string"
    return "object" if isinstance(item, dict) else "array" if isinstance(item, list) else type(item).__name__


def item_problem(items: list[Any]) -> str:
    """What is wrong with these items of a list column ('' when nothing)."""
    kinds = {_kind(i) for i in items if i is not None}
    nested = kinds & {"object", "array"}
    if nested:
        return f"{' and '.join(sorted(nested))} items"
    if len(kinds) > 1:
        return f"mixed items ({', '.join(sorted(kinds))})"
    return ""


@dataclass
class _Lists:
    values: pa.Array
    wrong: dict[int, Failure]
    broken: dict[int, Failure]


def read_arrays(texts: pa.Array, arrays: np.ndarray, items: ColumnType) -> _Lists:
    """The JSON arrays in ``texts`` (rows where ``arrays``) as a list column, and the rows that do not fit.

    Items arrive in their JSON type where Arrow reads the block whole as
    lists of it; otherwise as text, each array checked by Python's parser.
    """
    n = len(texts)
    kept = pc.if_else(pa.array(arrays), texts, pa.scalar(None, _TEXT))
    block = text_lines(pc.binary_join_element_wise('{"v":', pc.fill_null(kept, "null"), "}", ""))
    table = read_block(block, pa.schema([("v", pa.list_(_ITEM_JSON_TYPES.get(items, _TEXT)))]))
    if table is not None and table.num_rows == n:
        return _Lists(table.column("v").combine_chunks(), {}, {})
    out: list[list[str | None] | None] = [None] * n
    lists = _Lists(pa.nulls(0), {}, {})
    for i in np.flatnonzero(arrays).tolist():
        text = texts[i].as_py()
        value, broken = _parse(text)
        if broken is not None:
            lists.broken[i] = broken
        elif problem := item_problem(value):
            lists.wrong[i] = (f"shape: list of {items.value}, found {problem}", text)
        else:
            out[i] = [scalar_text(v) for v in value]
    lists.values = pa.array(out, pa.list_(_TEXT))
    return lists


@dataclass
class _Chosen:
    """A column's values taken from its paths, first present wins."""

    scalar: pa.Array
    nested: pa.Array
    wrong: dict[int, Failure]  # rows whose declared path meets something other than an object
    broken: dict[int, Failure]


def _choose(levels: _JsonLevels, spec: ColumnSpec, candidates: list[tuple[str, ...]]) -> _Chosen:
    n = levels.n
    chosen = _Chosen(pa.nulls(n, _TEXT), pa.nulls(n, _TEXT), {}, {})
    present = np.zeros(n, dtype=bool)
    for k, path in enumerate(candidates):
        if k and present.all():
            break
        level = levels.at(path)
        for i in np.flatnonzero(level.broken & ~present).tolist():
            chosen.broken[i] = level.why[i]
        present |= level.broken
        if k == 0 and spec.path is not None:  # a declared path must lead through objects
            for i in np.flatnonzero(level.blocked & ~present).tolist():
                chosen.wrong[i] = level.why[i]
            present |= level.blocked
        s_new = _np(pc.is_valid(level.scalar)) & ~present
        n_new = _np(pc.is_valid(level.nested)) & ~present
        if s_new.any():
            chosen.scalar = pc.if_else(pa.array(s_new), level.scalar, chosen.scalar)
        if n_new.any():
            chosen.nested = pc.if_else(pa.array(n_new), level.nested, chosen.nested)
        present |= s_new | n_new
    return chosen


def _log_rows(log: FailureLog, spec: ColumnSpec, rows: dict[int, Failure], reason: Reason, *, critical: bool) -> None:
    by_check: dict[str, list[tuple[int, str | None]]] = {}
    for row, (check, value) in sorted(rows.items()):
        by_check.setdefault(check, []).append((row, None if value is None else value[:EXCERPT_CHARS]))
    for check, found in by_check.items():
        log.add(
            np.array([r for r, _ in found], dtype=np.int64),
            column=spec.name,
            reason=reason,
            check=check,
            values=[v for _, v in found],
            critical=critical,
        )


def _shape_failures(chosen: _Chosen, spec: ColumnSpec) -> tuple[pa.Array, dict[int, Failure], dict[int, Failure]]:
    """The column's values of the shape it needs, and the rows whose value is of another shape."""
    wrong, broken = dict(chosen.wrong), dict(chosen.broken)
    has_nested = _np(pc.is_valid(chosen.nested))
    is_array = has_nested & _np(pc.starts_with(chosen.nested, "["))
    if spec.type is not ColumnType.LIST:
        for i in np.flatnonzero(has_nested).tolist():
            wrong[i] = (f"shape: scalar, found {'array' if is_array[i] else 'object'}", chosen.nested[i].as_py())
        return chosen.scalar, wrong, broken
    items = spec.items or ColumnType.STRING
    for i in np.flatnonzero(_np(pc.is_valid(chosen.scalar))).tolist():
        wrong[i] = (f"shape: list of {items.value}, found scalar", chosen.scalar[i].as_py())
    for i in np.flatnonzero(has_nested & ~is_array).tolist():
        wrong[i] = (f"shape: list of {items.value}, found object", chosen.nested[i].as_py())
    lists = read_arrays(chosen.nested, is_array, items)
    return lists.values, {**wrong, **lists.wrong}, {**broken, **lists.broken}


def _resolve_column(
    levels: _JsonLevels, spec: ColumnSpec, candidates: list[tuple[str, ...]], log: FailureLog
) -> pa.Array:
    out, wrong, broken = _shape_failures(_choose(levels, spec, candidates), spec)
    _log_rows(log, spec, broken, Reason.MALFORMED_JSON, critical=True)
    _log_rows(log, spec, wrong, Reason.WRONG_SHAPE, critical=spec.critical)
    if wrong or broken:
        mask = np.zeros(levels.n, dtype=bool)
        mask[[*wrong, *broken]] = True
        out = pc.if_else(pa.array(mask), pa.scalar(None, out.type), out)
    return out


def resolve_json(top: pa.Table, paths: ColumnPaths) -> tuple[pa.Table, FailureLog]:
    """The contract's columns from a table of top-level keys as the JSON Lines reader gives them.

    Scalar columns come out as text, list columns as lists (of text, or of
    the items' JSON type); values of the wrong shape are null and logged.
    """
    levels = _JsonLevels(top, paths)
    log = FailureLog()
    columns = {spec.name: _resolve_column(levels, spec, paths.candidates(spec), log) for spec in paths.columns}
    for key in paths.arrays:
        columns[key] = _resolve_array(levels, key, log)
    return pa.table(columns), log


def _resolve_array(levels: _JsonLevels, key: str, log: FailureLog) -> pa.Array:
    """An exploded array's JSON text (null where absent or null); any other value fails its row."""
    spec = ColumnSpec(name=key, type=ColumnType.STRING, nullable=True, path=key)
    chosen = _choose(levels, spec, [tuple(key.split(NESTED_PATH_SEPARATOR))])
    wrong, has_nested = dict(chosen.wrong), _np(pc.is_valid(chosen.nested))
    is_array = has_nested & _np(pc.starts_with(chosen.nested, "["))
    for i in np.flatnonzero(_np(pc.is_valid(chosen.scalar))).tolist():
        wrong[i] = ("shape: array to explode, found scalar", chosen.scalar[i].as_py())
    for i in np.flatnonzero(has_nested & ~is_array).tolist():
        wrong[i] = ("shape: array to explode, found object", chosen.nested[i].as_py())
    _log_rows(log, spec, chosen.broken, Reason.MALFORMED_JSON, critical=True)
    _log_rows(log, spec, wrong, Reason.WRONG_SHAPE, critical=True)
    return pc.if_else(pa.array(is_array), chosen.nested, pa.scalar(None, _TEXT))
