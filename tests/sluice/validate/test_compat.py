"""Compatibility levels by Confluent's definitions: the rules one by one, and properties on random schemas."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sluice.validate.compat import Compatibility, Field, FieldType, breaking_changes, judge, promotes

T = FieldType
LONG = Field("n", T.LONG)


def _level(old: list[Field], new: list[Field]) -> str:
    return judge(old, new).level


@pytest.mark.parametrize(
    ("old", "new", "level"),
    [
        ([], [Field("x", T.STRING, has_default=True)], "FULL"),  # a field with a default: both ways
        ([], [Field("x", T.STRING, nullable=True)], "FORWARD"),  # nullable without a default: Avro needs one
        ([], [Field("x", T.STRING, enforced=False)], "FULL"),  # a warning column never refuses a row
        ([], [Field("x", T.STRING)], "FORWARD"),  # a required one: old data lacks it
        ([Field("x", T.STRING, has_default=True)], [], "FULL"),
        ([Field("x", T.STRING, nullable=True)], [], "BACKWARD"),
        ([Field("x", T.STRING)], [], "BACKWARD"),  # old readers need it
        ([replace(LONG, type=T.INT)], [LONG], "BACKWARD"),  # int -> long widens
        ([LONG], [replace(LONG, type=T.DOUBLE)], "BACKWARD"),
        ([replace(LONG, type=T.DOUBLE)], [LONG], "FORWARD"),
        ([replace(LONG, type=T.FLOAT)], [replace(LONG, type=T.DOUBLE)], "BACKWARD"),
        ([replace(LONG, type=T.STRING)], [replace(LONG, type=T.BYTES)], "FULL"),
        ([replace(LONG, type=T.TIMESTAMP)], [replace(LONG, type=T.STRING)], "NONE"),
        ([LONG], [replace(LONG, nullable=True)], "BACKWARD"),
        ([Field("s", T.STRING, symbols=frozenset("ab"))], [Field("s", T.STRING, symbols=frozenset("abc"))], "BACKWARD"),
        ([Field("s", T.STRING, symbols=frozenset("ab"))], [Field("s", T.STRING)], "BACKWARD"),
        ([replace(LONG, minimum=0, maximum=9)], [replace(LONG, minimum=1, maximum=9)], "FORWARD"),
        ([Field("s", T.STRING, max_length=5)], [Field("s", T.STRING, max_length=9)], "BACKWARD"),
        ([Field("s", T.STRING, pattern="a+")], [Field("s", T.STRING, pattern="b+")], "NONE"),
        ([LONG], [replace(LONG, enforced=False)], "BACKWARD"),  # critical -> warning: new data may break
        ([replace(LONG, nullable=True, enforced=False)], [replace(LONG, nullable=True)], "FULL"),  # nothing to break
        ([Field("a", T.LONG)], [Field("b", T.LONG)], "NONE"),  # a rename: a required removal and addition
    ],
)
def test_each_change_keeps_the_levels_confluent_defines(old: list[Field], new: list[Field], level: str) -> None:
    assert _level(old, new) == level


def test_promotions_follow_avro() -> None:
    widening = {(w, r) for w in T for r in T if w != r and promotes(w, r)}
    assert widening == {
        (T.INT, T.LONG),
        (T.INT, T.FLOAT),
        (T.INT, T.DOUBLE),
        (T.LONG, T.FLOAT),
        (T.LONG, T.DOUBLE),
        (T.FLOAT, T.DOUBLE),
        (T.STRING, T.BYTES),
        (T.BYTES, T.STRING),
    }


def test_a_transitive_level_judges_every_earlier_version_and_the_plain_one_only_the_last() -> None:
    v1 = [Field("id", T.LONG), Field("x", T.INT)]
    v2 = [Field("id", T.LONG)]  # x removed: BACKWARD
    v3 = [Field("id", T.LONG), Field("x", T.STRING, has_default=True)]  # x back as a string with a default

    assert breaking_changes(v3, [v1, v2], Compatibility.BACKWARD) == []
    broken = breaking_changes(v3, [v1, v2], Compatibility.BACKWARD_TRANSITIVE)
    assert [(i, c.field, c.what) for i, c in broken] == [(0, "x", "type")]


def test_none_accepts_any_change() -> None:
    assert breaking_changes([Field("b", T.BOOLEAN)], [[Field("a", T.LONG)]], Compatibility.NONE) == []


@pytest.mark.parametrize("level", list(Compatibility))
def test_each_level_asks_for_the_directions_its_name_says(level: Compatibility) -> None:
    name = level.value
    assert level.needs_backward == (name.startswith("BACKWARD") or name.startswith("FULL"))
    assert level.needs_forward == (name.startswith("FORWARD") or name.startswith("FULL"))
    assert level.transitive == name.endswith("_TRANSITIVE")


# Random schemas over a few names, so that versions share, drop and add fields.
_NAMES = ["a", "b", "c", "d"]
_SYMBOLS = ["x", "y", "z"]
_PATTERNS = ["x.*", "[xy]+"]


@st.composite
def fields(draw: st.DrawFn, name: str) -> Field:
    kind = draw(st.sampled_from(list(T)))
    numeric = kind in (T.INT, T.LONG, T.FLOAT, T.DOUBLE)
    text = kind in (T.STRING, T.BYTES)
    bound = st.one_of(st.none(), st.integers(-2, 2).map(float))
    low, high = draw(bound), draw(bound)
    return Field(
        name=name,
        type=kind,
        nullable=draw(st.booleans()),
        has_default=draw(st.booleans()),
        enforced=draw(st.booleans()),
        symbols=draw(st.one_of(st.none(), st.frozensets(st.sampled_from(_SYMBOLS)))) if text else None,
        minimum=low if numeric else None,
        maximum=high if numeric else None,
        max_length=draw(st.one_of(st.none(), st.integers(0, 3))) if text else None,
        pattern=draw(st.one_of(st.none(), st.sampled_from(_PATTERNS))) if text else None,
    )


@st.composite
def schemas(draw: st.DrawFn) -> list[Field]:
    names = draw(st.lists(st.sampled_from(_NAMES), unique=True))
    return [draw(fields(n)) for n in names]


@given(schemas())
def test_a_schema_against_itself_has_no_change_and_is_full(schema: list[Field]) -> None:
    verdict = judge(schema, schema)
    assert verdict.changes == () and verdict.level == "FULL"


@given(schemas(), schemas())
def test_full_is_backward_and_forward(old: list[Field], new: list[Field]) -> None:
    verdict = judge(old, new)
    assert verdict.full == (verdict.backward and verdict.forward)
    assert verdict.keeps(Compatibility.FULL) == (
        verdict.keeps(Compatibility.BACKWARD) and verdict.keeps(Compatibility.FORWARD)
    )
    assert verdict.keeps(Compatibility.NONE)


@given(schemas(), schemas())
def test_a_change_and_its_inverse_swap_backward_and_forward(old: list[Field], new: list[Field]) -> None:
    there, back = judge(old, new), judge(new, old)
    assert (there.backward, there.forward) == (back.forward, back.backward)


@given(schemas(), st.lists(schemas(), min_size=1, max_size=3), st.sampled_from(list(Compatibility)))
def test_a_transitive_level_finds_what_the_plain_level_finds_and_more(
    new: list[Field], previous: list[list[Field]], level: Compatibility
) -> None:
    plain = Compatibility(level.value.removesuffix("_TRANSITIVE"))
    transitive = Compatibility(f"{plain.value}_TRANSITIVE") if plain is not Compatibility.NONE else plain
    found = breaking_changes(new, previous, plain)
    assert set(found) <= set(breaking_changes(new, previous, transitive))
    assert breaking_changes(new, previous[-1:], transitive) == breaking_changes(new, previous[-1:], plain)


# A reader, independent of the rules, that takes one record: the oracle for what the verdicts promise.


def _accepts(schema: list[Field], record: dict[str, tuple[FieldType, object]]) -> bool:
    for f in schema:
        if f.name not in record:
            if not f.optional:
                return False
            continue
        kind, value = record[f.name]
        if not promotes(kind, f.type):
            return False
        if f.enforced and not _value_ok(f, value):
            return False
    return True


def _value_ok(f: Field, value: object) -> bool:
    if value is None:
        return f.nullable
    if isinstance(value, float):
        return (f.minimum is None or value >= f.minimum) and (f.maximum is None or value <= f.maximum)
    text = str(value)
    return (
        (f.symbols is None or text in f.symbols)
        and (f.max_length is None or len(text) <= f.max_length)
        and (f.pattern is None or re.fullmatch(f.pattern, text) is not None)
    )


@st.composite
def records(draw: st.DrawFn, schema: list[Field]) -> dict[str, tuple[FieldType, object]]:
    """A record written with ``schema``: each field's value tagged with the field's type."""
    out: dict[str, tuple[FieldType, object]] = {}
    for f in schema:
        numeric = f.type in (T.INT, T.LONG, T.FLOAT, T.DOUBLE)
        values = st.integers(-3, 3).map(float) if numeric else st.sampled_from(["", "x", "y", "z", "xy", "yyyy"])
        out[f.name] = (f.type, draw(st.one_of(st.none(), values)))
    return out


@settings(max_examples=150)
@given(schemas(), schemas(), st.data())
def test_a_backward_change_reads_every_record_the_old_schema_writes(
    old: list[Field], new: list[Field], data: st.DataObject
) -> None:
    assume(judge(old, new).backward)
    record = data.draw(records(old))
    assume(_accepts(old, record))  # a record the old schema's writers may produce
    assert _accepts(new, record)


@settings(max_examples=150)
@given(schemas(), schemas(), st.data())
def test_a_forward_change_writes_only_records_the_old_schema_reads(
    old: list[Field], new: list[Field], data: st.DataObject
) -> None:
    assume(judge(old, new).forward)
    record = data.draw(records(new))
    assume(_accepts(new, record))
    assert _accepts(old, record)
