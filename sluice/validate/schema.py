"""The pandera schema built from a dataset contract.

The schema checks typed data: nullability, allowed values, ranges, patterns
and lengths. Typing itself happened before, vectorised, in
:mod:`sluice.validate.coerce`, so pandera never coerces dirty data row by row.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import pandas as pd
import pandera.pandas as pa

from sluice.validate.coerce import ARROW_TYPES, arrow_type
from sluice.validate.contracts import ColumnSpec, ColumnType, Contract
from sluice.validate.quality import Reason

# Arrow-backed pandas dtypes: the typed Arrow table becomes a DataFrame
# without copies, and pandera's checks run on Arrow compute kernels.
PANDAS_DTYPES: dict[ColumnType, pd.ArrowDtype] = {kind: pd.ArrowDtype(arrow) for kind, arrow in ARROW_TYPES.items()}

_register_lock = threading.Lock()
_registered = False

CHECK_REASONS: dict[str, Reason] = {
    "not_nullable": Reason.NULL_VALUE,
    "isin": Reason.NOT_ALLOWED,
    "in_range": Reason.OUT_OF_RANGE,
    "greater_than_or_equal_to": Reason.OUT_OF_RANGE,
    "less_than_or_equal_to": Reason.OUT_OF_RANGE,
    "str_matches": Reason.PATTERN_MISMATCH,
    "str_length": Reason.TOO_LONG,
    "dtype": Reason.WRONG_TYPE,
}


def _checks(spec: ColumnSpec) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if spec.allowed_values is not None:
        checks.append(pa.Check.isin(spec.allowed_values))
    if spec.min is not None and spec.max is not None:
        checks.append(pa.Check.in_range(spec.min, spec.max))
    elif spec.min is not None:
        checks.append(pa.Check.ge(spec.min))
    elif spec.max is not None:
        checks.append(pa.Check.le(spec.max))
    if spec.pattern:
        checks.append(pa.Check.str_matches(spec.pattern))
    if spec.max_length:
        checks.append(pa.Check.str_length(max_value=spec.max_length))
    return checks


def build_schema(contract: Contract) -> pa.DataFrameSchema:
    """A pandera ``DataFrameSchema`` equivalent to ``contract``'s column rules."""
    return _build(contract.model_dump_json())


@lru_cache(maxsize=64)
def _build(contract_json: str) -> pa.DataFrameSchema:
    contract = Contract.model_validate_json(contract_json)
    columns = {
        spec.name: pa.Column(
            pd.ArrowDtype(arrow_type(spec)), checks=_checks(spec), nullable=spec.nullable, required=True, coerce=False
        )
        for spec in contract.columns
    }
    return pa.DataFrameSchema(columns, name=contract.name, strict=False, ordered=False)


def register_backends() -> None:
    """Validate a one-row frame once, so pandera registers its pandas backend and built-in checks.

    pandera does that on a process's first validation, without a lock, and
    imports its data-synthesis strategies (hypothesis, when installed) on the
    way. Done here, once, it is neither raced by two thread workers nor paid
    by every worker process forked after it.
    """
    global _registered
    if _registered:  # every chunk asks; only the first takes the lock
        return
    with _register_lock:
        if _registered:
            return
        schema = pa.DataFrameSchema({"x": pa.Column(PANDAS_DTYPES[ColumnType.INT64], pa.Check.isin([1]))})
        schema.validate(pd.DataFrame({"x": pd.Series([1], dtype=PANDAS_DTYPES[ColumnType.INT64])}), lazy=True)
        _registered = True


def reason_for(check: str) -> Reason:
    name = check.split("(", 1)[0]
    return CHECK_REASONS.get(name, Reason.CHECK_FAILED)
