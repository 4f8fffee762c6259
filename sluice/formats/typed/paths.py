"""A typed record's value for a column: the column's paths followed through the decoded dicts, its shape checked.

The rules are :mod:`sluice.formats.nested`'s: the first path that holds a
value wins; a declared ``path`` must lead through records or maps; a scalar
column takes a scalar, a list column a list of one kind of scalar.
"""

from __future__ import annotations

from typing import Any

from sluice.formats.nested import item_problem
from sluice.validate.contracts import ColumnSpec, ColumnType


class WrongShape(Exception):
    """A typed record's value does not have the shape its column needs."""


ABSENT = object()  # no path of the column exists in the record


def _walk(record: dict[str, Any], path: tuple[str, ...], *, declared: bool) -> Any:
    node: Any = record
    for depth, key in enumerate(path):
        if not isinstance(node, dict):
            if declared and node is not None:
                kind = "an array" if isinstance(node, list) else "a scalar"
                raise WrongShape(f"expected an object on the path {'.'.join(path)}: {'.'.join(path[:depth])} is {kind}")
            return ABSENT
        if key not in node:
            return ABSENT
        node = node[key]
    return node


def typed_value(record: dict[str, Any], spec: ColumnSpec, candidates: list[tuple[str, ...]]) -> Any:
    """The value of ``spec`` in a decoded record: ``ABSENT`` when no path exists, None when null.

    Raises:
        WrongShape: the value, or a value on its declared path, has the wrong shape.
    """
    found: Any = ABSENT
    for k, path in enumerate(candidates):
        value = _walk(record, path, declared=k == 0 and spec.path is not None)
        if value is not ABSENT:
            found = value
            if value is not None:
                break
    if found is ABSENT or found is None:
        return found
    if spec.type is ColumnType.LIST:
        if not isinstance(found, list | tuple):
            raise WrongShape(f"{'an object' if isinstance(found, dict) else 'a scalar'} where an array is expected")
        problem = item_problem(list(found))
        if problem:
            raise WrongShape(problem)
        return list(found)
    if isinstance(found, dict | list | tuple):
        raise WrongShape(f"{'an object' if isinstance(found, dict) else 'an array'} where a scalar is expected")
    return found
