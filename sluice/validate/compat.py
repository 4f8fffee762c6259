"""Schema compatibility by Confluent's definitions, on a neutral field model.

A schema is a sequence of :class:`Field` (name, type, nullability, default,
value constraints). Dataset contracts map onto it
(:mod:`sluice.validate.evolution`), and so can registry schemas (Avro,
Protobuf): the same rules judge both.

The rules are Avro's reader/writer resolution, which Confluent's levels are
built on:

- a reader reads data written with a writer's schema when every reader field
  is either in the writer's schema, with a type the writer's type promotes to
  and values the reader accepts, or optional for the reader (with a default,
  or not enforced); writer fields the reader lacks are ignored;
- promotions: ``int`` to ``long``, ``float`` or ``double``; ``long`` to
  ``float`` or ``double``; ``float`` to ``double``; ``string`` to and from
  ``bytes``; every other type only to itself;
- a rename is a removal and an addition.

``BACKWARD``: the new schema reads data written with the previous one.
``FORWARD``: the previous schema reads data written with the new one.
``FULL``: both. The ``_TRANSITIVE`` levels judge the new schema against every
previous version, the others against the last one only. ``NONE`` accepts
any change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Compatibility(StrEnum):
    """A dataset's declared compatibility level (Confluent Schema Registry's names)."""

    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"

    @property
    def needs_backward(self) -> bool:
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def needs_forward(self) -> bool:
        return self.value.startswith(("FORWARD", "FULL"))

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")


class FieldType(StrEnum):
    """Field types, named as Avro names them (``timestamp`` and ``date`` for its logical types)."""

    BOOLEAN = "boolean"
    INT = "int"
    LONG = "long"
    FLOAT = "float"
    DOUBLE = "double"
    STRING = "string"
    BYTES = "bytes"
    DATE = "date"
    TIMESTAMP = "timestamp"
    ARRAY = "array"  # of ``Field.items``


_PROMOTIONS: dict[FieldType, frozenset[FieldType]] = {
    FieldType.INT: frozenset({FieldType.LONG, FieldType.FLOAT, FieldType.DOUBLE}),
    FieldType.LONG: frozenset({FieldType.FLOAT, FieldType.DOUBLE}),
    FieldType.FLOAT: frozenset({FieldType.DOUBLE}),
    FieldType.STRING: frozenset({FieldType.BYTES}),
    FieldType.BYTES: frozenset({FieldType.STRING}),
}


def promotes(writer: FieldType, reader: FieldType) -> bool:
    """Whether a value written as ``writer`` reads as ``reader`` (Avro's promotion rules)."""
    return writer == reader or reader in _PROMOTIONS.get(writer, frozenset())


@dataclass(frozen=True)
class Field:
    """One field of a schema, in terms both contracts and registry schemas map to.

    ``enforced``: whether a reader refuses a value that breaks the field
    (a contract's critical column; a warning column only counts the breach).
    ``symbols``, ``minimum``/``maximum``, ``max_length`` and ``pattern``
    restrict the values (an Avro enum's symbols, a contract's checks); None
    leaves them free.
    """

    name: str
    type: FieldType
    nullable: bool = False
    has_default: bool = False
    enforced: bool = True
    symbols: frozenset[str] | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    pattern: str | None = None
    items: FieldType | None = None  # the item type of an array

    @property
    def optional(self) -> bool:
        """Whether a reader of this field reads data that lacks it: with a default, or not enforced.

        Nullable is not enough, as in Avro (a union with null needs ``"default": null``)
        and in contracts (a file that lacks a critical column quarantines its rows).
        """
        return self.has_default or not self.enforced

    @property
    def restricted(self) -> bool:
        """Whether the field refuses any value of its type (null included)."""
        return not self.nullable or any(
            v is not None for v in (self.symbols, self.minimum, self.maximum, self.max_length, self.pattern)
        )


def _within(reader: float | None, writer: float | None, *, low: bool) -> bool:
    if reader is None:
        return True
    if writer is None:
        return False
    return reader <= writer if low else reader >= writer


@dataclass(frozen=True)
class _Aspect:
    """One property of a field: how to show it, and whether a reader accepts what a writer writes."""

    name: str
    show: Callable[[Field], object]
    reads: Callable[[Field, Field], bool]  # (reader, writer)


def _enforced(reader: Field, writer: Field, check: bool) -> bool:
    return not reader.enforced or check


def _type_shown(field: Field) -> str:
    return f"array<{field.items.value}>" if field.items is not None else field.type.value


def _type_reads(reader: Field, writer: Field) -> bool:
    if reader.items is None or writer.items is None:
        return reader.items is writer.items and promotes(writer.type, reader.type)
    return reader.type == writer.type and promotes(writer.items, reader.items)


_ASPECTS = (
    _Aspect("type", _type_shown, _type_reads),
    _Aspect("nullable", lambda f: f.nullable, lambda r, w: _enforced(r, w, r.nullable or not w.nullable)),
    _Aspect("default", lambda f: f.has_default, lambda r, w: True),
    _Aspect(
        "enforced",
        lambda f: f.enforced,
        lambda r, w: not r.enforced or w.enforced or not r.restricted,
    ),
    _Aspect(
        "values",
        lambda f: tuple(sorted(f.symbols)) if f.symbols is not None else None,
        lambda r, w: _enforced(r, w, r.symbols is None or (w.symbols is not None and w.symbols <= r.symbols)),
    ),
    _Aspect("min", lambda f: f.minimum, lambda r, w: _enforced(r, w, _within(r.minimum, w.minimum, low=True))),
    _Aspect("max", lambda f: f.maximum, lambda r, w: _enforced(r, w, _within(r.maximum, w.maximum, low=False))),
    _Aspect(
        "max_length",
        lambda f: f.max_length,
        lambda r, w: _enforced(r, w, _within(r.max_length, w.max_length, low=False)),
    ),
    _Aspect(
        "pattern",
        lambda f: f.pattern,
        lambda r, w: _enforced(r, w, r.pattern is None or r.pattern == w.pattern),
    ),
)


@dataclass(frozen=True)
class Change:
    """One difference between two schema versions and its effect.

    ``backward``: readers of the new version still read data of the old one;
    ``forward``: readers of the old version read data of the new one.
    """

    field: str
    what: str  # "added", "removed", or the aspect that changed: "type", "nullable", "values"...
    old: object
    new: object
    backward: bool
    forward: bool

    @property
    def effect(self) -> str:
        """FULL, BACKWARD, FORWARD or NONE: the levels this change alone keeps."""
        return level_name(self.backward, self.forward)


def level_name(backward: bool, forward: bool) -> str:
    return {(True, True): "FULL", (True, False): "BACKWARD", (False, True): "FORWARD"}.get((backward, forward), "NONE")


def _field_changes(old: Field, new: Field) -> list[Change]:
    return [
        Change(old.name, a.name, a.show(old), a.show(new), a.reads(new, old), a.reads(old, new))
        for a in _ASPECTS
        if a.show(old) != a.show(new)
    ]


def diff_fields(old: Sequence[Field], new: Sequence[Field]) -> list[Change]:
    """Every change from ``old`` to ``new``: removed fields, changed ones, then added ones, in field order."""
    before = {f.name: f for f in old}
    after = {f.name: f for f in new}
    changes = [Change(f.name, "removed", f.type.value, None, True, f.optional) for f in old if f.name not in after]
    for f in old:
        if f.name in after:
            changes.extend(_field_changes(f, after[f.name]))
    changes += [Change(f.name, "added", None, f.type.value, f.optional, True) for f in new if f.name not in before]
    return changes


@dataclass(frozen=True)
class Verdict:
    """The changes from one version to the next and the levels they keep together."""

    changes: tuple[Change, ...]

    @property
    def backward(self) -> bool:
        return all(c.backward for c in self.changes)

    @property
    def forward(self) -> bool:
        return all(c.forward for c in self.changes)

    @property
    def full(self) -> bool:
        return self.backward and self.forward

    @property
    def level(self) -> str:
        """FULL, BACKWARD, FORWARD or NONE: the strongest level the whole change keeps."""
        return level_name(self.backward, self.forward)

    def keeps(self, level: Compatibility) -> bool:
        """Whether this step alone keeps ``level`` (transitivity is :func:`breaking_changes`'s concern)."""
        return (self.backward or not level.needs_backward) and (self.forward or not level.needs_forward)

    def breaking(self, level: Compatibility) -> list[Change]:
        """The changes that break ``level``."""
        return [
            c
            for c in self.changes
            if (level.needs_backward and not c.backward) or (level.needs_forward and not c.forward)
        ]


def judge(old: Sequence[Field], new: Sequence[Field]) -> Verdict:
    """The verdict on changing a schema from ``old`` to ``new``."""
    return Verdict(tuple(diff_fields(old, new)))


def breaking_changes(
    new: Sequence[Field], previous: Sequence[Sequence[Field]], level: Compatibility
) -> list[tuple[int, Change]]:
    """The changes that break ``level`` from the previous versions (oldest first) to ``new``.

    Each comes with the index in ``previous`` of the version it is judged
    against: the last one only, or every one for a transitive level.
    """
    if level is Compatibility.NONE or not previous:
        return []
    indexes = range(len(previous)) if level.transitive else [len(previous) - 1]
    return [(i, c) for i in indexes for c in judge(previous[i], new).breaking(level)]
