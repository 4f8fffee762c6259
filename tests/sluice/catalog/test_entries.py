"""Catalog entries carry the contract, the glossary's meanings, lineage, deployments and recent runs."""

from __future__ import annotations

from datetime import datetime, timezone

from sluice.catalog.entries import build_catalog, build_entry
from sluice.governance.glossary import glossary_path, load_glossary
from sluice.lineage.graph import build_graph
from sluice.runs.records import RunReport
from sluice.validate.contracts import find_contract, parse_contract
from tests.sluice.catalog.factories import GLOSSARY, SHIPPED, contract_yaml


def _run(run_id: str, read: int, written: int, quarantined: int) -> RunReport:
    t = datetime(2026, 11, 30, tzinfo=timezone.utc)
    return RunReport(run_id, "customers", "s3://drop", "dev", t, t, "completed", read, written, quarantined)


def test_a_shipped_contract_becomes_an_entry_with_its_terms_and_pii_tags():
    contract = find_contract("customers", SHIPPED)
    glossary = load_glossary(glossary_path(SHIPPED))

    entry = build_entry(contract, glossary, runs=[_run("r2", 100, 97, 3)])

    assert entry.owner == "crm-data@sluice.example" and entry.mode == "upsert" and entry.freshness_sla == "1d"
    assert entry.pii_columns == ("full_name", "email")
    email = entry.column("email")
    assert email is not None and email.term == "email" and email.pii == "email"
    assert email.term_definition == glossary.term("email").definition  # type: ignore[union-attr]
    assert entry.quality[0].rows_quarantined == 3 and entry.quality[0].quarantine_rate == 0.03


def test_lineage_of_a_three_level_chain_gives_each_entry_its_neighbours():
    import yaml

    from sluice.governance.glossary import Glossary

    glossary = Glossary.model_validate(yaml.safe_load(GLOSSARY))
    chain = [
        parse_contract(contract_yaml("raw", downstream=("clean",))),
        parse_contract(contract_yaml("clean", downstream=("report",))),
        parse_contract(contract_yaml("report")),
    ]
    graph = build_graph(chain, [], {}, {"clean": ["ingest-files/clean-dev"]})

    entries = {e.dataset: e for e in build_catalog(chain, glossary, graph)}

    assert entries["clean"].upstream == ("raw",) and entries["clean"].downstream == ("report",)
    assert entries["raw"].upstream == () and entries["report"].downstream == ()
    assert entries["clean"].deployments == ("ingest-files/clean-dev",)
    assert entries["raw"].column("id").term_definition == "The number of a thing in the shop."  # type: ignore[union-attr]
