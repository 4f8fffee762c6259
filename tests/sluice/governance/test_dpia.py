"""DPIA drafts: generated sections from the contract, human sections kept through every refresh."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.catalog.entries import build_entry
from sluice.errors import ContractError
from sluice.governance.dpia import TO_COMPLETE, DpiaFacts, draft, refresh, stale_sections
from sluice.governance.glossary import glossary_path, load_glossary
from sluice.validate.contracts import find_contract
from tests.sluice.catalog.factories import SHIPPED


def _facts(**changes: object) -> DpiaFacts:
    entry = build_entry(find_contract("customers", SHIPPED), load_glossary(glossary_path(SHIPPED)))
    return DpiaFacts(dataclasses.replace(entry, **changes), safeguards=("signed manifests",))  # type: ignore[arg-type]


def test_a_draft_names_the_purposes_owner_and_every_pii_column_with_its_class():
    text = draft(_facts())

    assert "Serve and support customers" in text and "crm-data@sluice.example" in text
    assert "| `full_name` | person_name |" in text and "| `email` | email |" in text
    assert "`country`" not in text.split("## Personal data")[1].split("sluice:end")[0]
    assert text.count(TO_COMPLETE) == 5 and "## Sign-off" in text
    assert stale_sections(text, _facts()) == []


def test_a_refresh_rewrites_generated_sections_and_keeps_what_humans_wrote():
    human = "Legitimate interest, decided by the DPO on 2026-11-01 (ticket DPO-7)."
    text = draft(_facts()).replace(TO_COMPLETE, human, 1)
    changed = _facts(owner="new-owner@sluice.example", purposes=("Fraud prevention.",))

    assert stale_sections(text, changed) == ["processing"]
    refreshed = refresh(text, changed)

    assert human in refreshed and "new-owner@sluice.example" in refreshed and "Fraud prevention." in refreshed
    assert "crm-data@sluice.example" not in refreshed
    assert refreshed.count(TO_COMPLETE) == 4
    assert stale_sections(refreshed, changed) == [] and refresh(refreshed, changed) == refreshed


def test_a_deleted_generated_section_comes_back_at_the_end():
    text = draft(_facts())
    start, end = text.index("<!-- sluice:begin retention -->"), text.index("<!-- sluice:end retention -->")
    cut = text[:start] + text[end + len("<!-- sluice:end retention -->") :]

    assert stale_sections(cut, _facts()) == ["retention"]
    assert stale_sections(refresh(cut, _facts()), _facts()) == []


def test_a_broken_marker_pair_is_a_clear_error_not_a_silent_rewrite():
    text = draft(_facts()).replace("<!-- sluice:end lineage -->", "")

    with pytest.raises(ContractError, match="without its matching sluice:end"):
        refresh(text, _facts())


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=2000))
def test_any_human_text_survives_a_refresh_or_is_refused(noise):
    text = draft(_facts()).replace(TO_COMPLETE, noise, 1)
    try:
        refreshed = refresh(text, _facts())
    except ContractError:
        assert "sluice:begin" in noise or "sluice:end" in noise
        return
    if "sluice:" not in noise:
        assert noise in refreshed
