"""``ops catalog search`` finds datasets and columns by name, term, tag, PII class and description."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.catalog.entries import CatalogEntry, build_catalog
from sluice.catalog.search import search
from sluice.errors import ConfigError
from sluice.governance.glossary import glossary_path, load_glossary
from sluice.validate.contracts import available_contracts, find_contract
from tests.sluice.catalog.factories import SHIPPED


@pytest.fixture(scope="module")
def shipped() -> list[CatalogEntry]:
    found = [find_contract(n, SHIPPED) for n in available_contracts(SHIPPED)]
    return build_catalog(found, load_glossary(glossary_path(SHIPPED)))


def test_a_column_name_finds_that_column_in_every_dataset_first(shipped):
    hits = search(shipped, "email")

    assert [(h.dataset, h.column, h.field) for h in hits[:2]] == [
        ("customers", "email", "name"),
        ("orders", "email", "name"),
    ]
    assert all(h.exact for h in hits[:2])


def test_a_term_a_tag_and_a_pii_class_each_find_what_carries_them(shipped):
    by_term = search(shipped, "customer_segment")
    by_tag = search(shipped, "crm")
    by_pii = search(shipped, "person_name")

    assert (by_term[0].dataset, by_term[0].column, by_term[0].field) == ("customers", "segment", "term")
    assert any(h.dataset == "customers" and h.column is None and h.field == "tag" for h in by_tag)
    assert ("customers", "full_name") in {(h.dataset, h.column) for h in by_pii}


def test_every_word_must_occur_in_the_same_field(shipped):
    assert search(shipped, "marketing messages")  # both in the opt-in term's definition
    assert not search(shipped, "marketing zebra")


@pytest.mark.parametrize("query", ["", "   ", "x" * 201])
def test_an_empty_or_overlong_query_is_a_clear_error(shipped, query):
    with pytest.raises(ConfigError, match="search text"):
        search(shipped, query)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=250))
def test_any_text_gives_hits_or_a_clear_error_never_a_traceback(text):
    entries = _entries()
    try:
        hits = search(entries, text)
    except ConfigError:
        return
    assert all(all(w in h.text.lower() for w in text.lower().split()) for h in hits)


_cached: list[CatalogEntry] = []


def _entries() -> list[CatalogEntry]:
    if not _cached:
        found = [find_contract(n, SHIPPED) for n in available_contracts(SHIPPED)]
        _cached.extend(build_catalog(found, load_glossary(glossary_path(SHIPPED))))
    return _cached
