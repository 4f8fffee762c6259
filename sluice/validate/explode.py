"""Arrays exploded into child datasets: the ``explode:`` block of a contract.

``explode`` maps the key of an array in the source record (a top-level key,
or keys joined by dots) to the child dataset its elements land in::

    explode:
      items:
        dataset: orders_items          # the child dataset
        parent_key: [order_id]         # the parent's columns each child row carries
        index_column: item_index       # the element's position in its array (0-based)
        contract: orders_items         # a contract file beside this one, or the child contract inline

Each element becomes one child row: an object's keys fill the child's
columns (as a record's keys fill a parent's), a scalar element fills
``value_column``. The child contract declares the parent key columns (of the
parent's types), the index column (``int64``, critical, not nullable) and
its primary key, which is the parent key and the index column; ``carry``
names further parent columns copied onto each child row (the parent's
partition column, say, for the child's partition).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from sluice.errors import ContractError
from sluice.paths import DATASET_NAME_HINT, dataset_name_problem
from sluice.validate.columns import NESTED_PATH_SEPARATOR, ColumnType

if TYPE_CHECKING:
    from sluice.validate.contracts import Contract


class ExplodeSpec(BaseModel):
    """One exploded array: where its elements go and how each child row is keyed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str
    parent_key: list[str] = Field(min_length=1)
    index_column: str
    # A contract's name (its file beside the parent's), or the child contract itself.
    contract: Annotated[
        Annotated[str, Tag("name")] | Annotated[Contract, Tag("inline")],
        Discriminator(lambda v: "name" if isinstance(v, str) else "inline"),
    ]
    carry: list[str] = Field(default_factory=list)  # further parent columns copied onto each child row
    value_column: str | None = None  # the child column a scalar element fills (None: elements are objects)

    @field_validator("dataset")
    @classmethod
    def _dataset_name(cls, value: str) -> str:
        problem = dataset_name_problem(value)
        if problem is not None:
            raise ValueError(f"explode dataset {value!r}: {problem}; {DATASET_NAME_HINT}")
        return value

    @property
    def child(self) -> Contract:
        """The child contract (a reference is resolved when the parent's file is loaded)."""
        if isinstance(self.contract, str):
            raise ValueError(f"the child contract {self.contract!r} of {self.dataset} is not loaded")
        return self.contract

    @property
    def from_parent(self) -> list[str]:
        """The child columns whose values come from the parent row."""
        return [*self.parent_key, *[c for c in self.carry if c not in self.parent_key]]

    def element_columns(self) -> list[str]:
        """The child columns an element fills."""
        taken = {*self.from_parent, self.index_column}
        return [c for c in self.child.column_names if c not in taken]


def array_path(key: str) -> tuple[str, ...]:
    return tuple(key.split(NESTED_PATH_SEPARATOR))


def _child_problems(parent: Contract, key: str, spec: ExplodeSpec) -> list[str]:
    child, out = spec.child, []
    if child.name != spec.dataset:
        out.append(f"the child contract is named {child.name!r}, not the dataset {spec.dataset!r}")
    for name in spec.from_parent:
        if name not in parent.column_names:
            out.append(f"{name!r} is not a column of {parent.name}")
        elif name not in child.column_names:
            out.append(f"the child contract lacks the parent column {name!r}")
        elif (p := parent.column(name)).type is not (c := child.column(name)).type or p.items is not c.items:
            out.append(f"{name!r} is {c.type.value} in the child but {p.type.value} in {parent.name}")
    if spec.index_column not in child.column_names:
        out.append(f"the child contract lacks the index column {spec.index_column!r} (type int64)")
    else:
        index = child.column(spec.index_column)
        if index.type is not ColumnType.INT64 or index.nullable or not index.critical:
            out.append(f"index column {spec.index_column!r} must be a critical, non-nullable int64")
    if (
        set(child.primary_key) != {*spec.parent_key, spec.index_column}
        or len(child.primary_key) != len(spec.parent_key) + 1
    ):
        out.append(f"the child's primary_key must be {[*spec.parent_key, spec.index_column]}")
    if spec.value_column is not None and (
        spec.value_column not in spec.element_columns() or child.column(spec.value_column).type is ColumnType.LIST
    ):
        out.append(f"value_column {spec.value_column!r} must be a scalar child column an element fills")
    if child.keyed or child.explode:
        out.append("a child dataset is append-only and explodes nothing further")
    return [f"explode {key!r} ({spec.dataset}): {p}" for p in out]


def explode_problems(parent: Contract) -> list[str]:
    """What is wrong with a contract's ``explode`` block (its child contracts loaded)."""
    out: list[str] = []
    if parent.explode and parent.keyed:
        out.append(f"explode applies to append-mode datasets; {parent.name} is {parent.mode.value}")
    targets = [s.dataset for s in parent.explode.values()]
    for key, spec in parent.explode.items():
        if any(not part for part in array_path(key)):
            out.append(f"explode key {key!r} must be keys joined by dots, such as items or order.lines")
        if key in parent.column_names:
            out.append(f"explode key {key!r} is also a column of {parent.name}; an exploded array is not")
        if spec.dataset == parent.name or targets.count(spec.dataset) > 1:
            out.append(f"explode {key!r}: dataset {spec.dataset!r} is the parent's or another array's")
        if not isinstance(spec.contract, str):
            out.extend(_child_problems(parent, key, spec))
    return out


def with_children(contract: Contract, load: Callable[[str], Contract], *, origin: str) -> Contract:
    """``contract`` with each child contract named by reference loaded by ``load`` and checked against it.

    Raises:
        ContractError: a child contract cannot be loaded, or does not fit its parent.
    """
    if not any(isinstance(s.contract, str) for s in contract.explode.values()):
        return contract
    specs = {
        key: spec if not isinstance(spec.contract, str) else spec.model_copy(update={"contract": load(spec.contract)})
        for key, spec in contract.explode.items()
    }
    loaded = contract.model_copy(update={"explode": specs})
    if problems := explode_problems(loaded):
        raise ContractError(
            f"contract {origin} is invalid:\n" + "\n".join(f"  - {p}" for p in problems),
            hint="docs/concepts/contracts.md#arrays-exploded-into-child-datasets describes explode",
        )
    return loaded


EXPLODABLE_FORMATS = ("jsonl", "json")  # the file format and the stream value format whose arrays are exploded


def ensure_explodable(contract: Contract, source_format: str, where: str) -> None:
    """Refuse a source whose arrays the contract explodes but Sluice cannot explode (its rows would lose them).

    Raises:
        ContractError: the contract explodes arrays and ``source_format`` is not JSON Lines or JSON.
    """
    if contract.explode and source_format not in EXPLODABLE_FORMATS:
        raise ContractError(
            f"{where}: contract {contract.name} explodes {', '.join(sorted(contract.explode))} into child datasets, "
            f"but {source_format} sources are not exploded",
            hint="explode reads JSON Lines files and JSON stream messages: deliver those, or remove explode",
        )
