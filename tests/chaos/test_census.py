"""The census: records counted from the source bytes, and conservation judged from them."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.census import SourceFile, count, decode, records_of

URI = "s3://drill-x/incoming/a.csv"


def test_records_carry_their_first_line_and_key_and_blank_lines_are_not_records():
    data = b"order_id,status\n1,paid\n\n,,\n0042,shipped\n3\n"

    records = records_of(URI, data, ["order_id"])

    assert [(r.line, r.key) for r in records] == [(2, ("1",)), (5, ("42",)), (6, ("3",))]


def test_a_short_row_and_a_missing_key_column_give_records_without_keys():
    assert records_of(URI, b"order_id,status\n\n", ["order_id"]) == []
    records = records_of(URI, b"id,status\n1,paid\n", ["order_id"])
    assert [(r.line, r.key) for r in records] == [(2, None)]


def test_an_unclosed_quote_swallows_the_rest_of_the_file_into_one_record():
    data = b'order_id,status\n1,paid\n2,"paid\n3,paid\n'

    assert [r.line for r in records_of(URI, data, ["order_id"])] == [2, 3]


def test_text_decodes_as_utf8_else_windows_1252():
    assert decode("jürgen".encode()) == "jürgen"
    assert decode("jürgen".encode("cp1252")) == "jürgen"
    assert decode(b"\xef\xbb\xbfid") == "id"


def _file(keys: list[int]) -> SourceFile:
    data = ("order_id,x\n" + "".join(f"{k},v\n" for k in keys)).encode()
    return SourceFile(URI, "sha", records_of(URI, data, ["order_id"]))


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(st.integers(1, 40), min_size=1, max_size=30), bad=st.sets(st.integers(0, 29)))
def test_conservation_holds_exactly_when_each_row_is_landed_or_quarantined_once(keys, bad):
    source = _file(keys)
    bad = {i for i in bad if i < len(keys)}
    quarantine = Counter((URI, source.records[i].line) for i in bad)
    lake = Counter({(str(k),): 1 for i, k in enumerate(keys) if i not in bad})
    # a key whose every row is quarantined must not land; a key with one good row lands once
    assert count([source], lake, quarantine, {URI}).held

    if lake:
        doubled = lake.copy()
        doubled[next(iter(doubled))] += 1
        assert count([source], doubled, quarantine, {URI}).doubled == 1
        lost = lake.copy()
        del lost[next(iter(lost))]
        census = count([source], lost, quarantine, {URI})
        assert census.lost >= 1 and not census.held
    assert count([source], lake + Counter({("999",): 1}), quarantine, {URI}).strangers == 1


def test_only_required_files_must_be_complete():
    source = _file([1, 2, 3])

    assert count([source], Counter(), Counter(), set()).held
    assert count([source], Counter(), Counter(), {URI}).lost == 3
