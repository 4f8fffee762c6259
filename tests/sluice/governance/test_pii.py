"""The scan compares what a sample holds with the contract's pii tags; the contract accepts pii classes."""

from __future__ import annotations

import pyarrow as pa
import pytest

from sluice.errors import ConfigError, ContractError, LakeError
from sluice.governance.classes import PiiClass
from sluice.governance.pii import (
    Verdict,
    judge,
    new_columns,
    read_sample,
    scan_dataset,
    scan_new_columns,
    scan_table,
)
from sluice.validate.contracts import parse_contract
from tests.sluice.governance.factories import EMAILS, NAMES, PHONES, SKUS, contract, write_table


def people_table(rows: int = 40) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "contact": EMAILS[:rows],
            "name": NAMES[:rows],
            "sku": SKUS[:rows],
            "mobile": PHONES[:rows],
        }
    )


@pytest.mark.parametrize(
    ("tag", "proposed", "verdict"),
    [
        (False, None, Verdict.OK),
        (True, PiiClass.EMAIL, Verdict.OK),
        (PiiClass.EMAIL, PiiClass.EMAIL, Verdict.OK),
        (False, PiiClass.PHONE, Verdict.MISSING_TAG),
        (True, None, Verdict.NOT_FOUND),
        (PiiClass.PERSON_NAME, None, Verdict.NOT_FOUND),
        (PiiClass.EMAIL, PiiClass.PHONE, Verdict.OTHER_CLASS),
    ],
)
def test_the_contract_tag_and_the_proposal_give_the_verdict(tag, proposed, verdict):
    assert judge(tag, proposed, values=10) is verdict
    assert verdict.disagrees is (verdict is not Verdict.OK)


def test_a_column_without_sampled_values_gives_no_verdict_either_way():
    assert judge(True, None, values=0) is Verdict.NO_VALUES
    assert not Verdict.NO_VALUES.disagrees


def test_a_scan_reports_each_disagreement_with_the_contract():
    people = contract(
        columns=[
            {"name": "contact", "pii": True},  # agrees: true takes any class
            {"name": "name", "pii": "email"},  # other class: holds names
            {"name": "sku", "pii": True},  # not found
            {"name": "mobile"},  # missing tag
        ]
    )

    scan = scan_table(people, people_table())

    verdicts = {c.column: (c.proposed, c.verdict) for c in scan.columns}
    assert verdicts == {
        "id": (None, Verdict.OK),
        "day": (None, Verdict.NOT_SCANNED),
        "contact": (PiiClass.EMAIL, Verdict.OK),
        "name": (PiiClass.PERSON_NAME, Verdict.OTHER_CLASS),
        "sku": (None, Verdict.NOT_FOUND),
        "mobile": (PiiClass.PHONE, Verdict.MISSING_TAG),
    }
    assert [c.column for c in scan.disagreements] == ["name", "sku", "mobile"]
    assert scan.columns[2].confidence == 1.0


def test_a_contract_whose_tags_match_the_sample_has_no_disagreement():
    people = contract(
        columns=[
            {"name": "contact", "pii": "email"},
            {"name": "name", "pii": "person_name"},
            {"name": "sku"},
            {"name": "mobile", "pii": "phone"},
        ]
    )

    assert scan_table(people, people_table()).disagreements == []


def test_pii_true_still_loads_and_a_class_name_is_taken_and_an_unknown_one_refused():
    text = """
name: people
owner: team@sluice.example
freshness_sla: 1d
primary_key: [id]
partition: {column: day}
columns:
  - {name: id, type: int64}
  - {name: day, type: date}
  - {name: a, type: string, pii: true}
  - {name: b, type: string, pii: person_name}
  - {name: c, type: string}
"""
    loaded = parse_contract(text)
    assert [c.pii for c in loaded.columns[2:]] == [True, PiiClass.PERSON_NAME, False]
    assert loaded.pii_columns == ["a", "b"]

    with pytest.raises(ContractError, match="pii 'mail' must be true, false or a class: email, phone"):
        parse_contract(text.replace("pii: person_name", "pii: mail"))


def test_only_the_columns_a_contract_version_adds_are_scanned():
    old = contract(columns=[{"name": "contact", "pii": "email"}])
    new = contract(columns=[{"name": "contact", "pii": "email"}, {"name": "mobile"}, {"name": "sku"}])

    scans = scan_new_columns(old, new, people_table())

    assert [c.name for c in new_columns(old, new)] == ["mobile", "sku"]
    assert [(s.column, s.verdict) for s in scans] == [("mobile", Verdict.MISSING_TAG), ("sku", Verdict.OK)]


def test_a_sample_reads_at_most_the_rows_asked_for_from_several_files(tmp_path):
    uri = str(tmp_path / "people")
    write_table(uri, {"id": list(range(400)), "contact": EMAILS * 10}, files=4)

    sample = read_sample(uri, ["contact", "absent"], rows=100)

    assert sample.column_names == ["contact"]
    assert sample.num_rows == 100
    assert len(set(sample.column("contact").to_pylist())) == 40


def test_a_dataset_scan_reads_the_lake_table(tmp_path):
    uri = str(tmp_path / "people")
    write_table(uri, {"id": list(range(40)), "contact": EMAILS, "mobile": PHONES}, files=2)
    people = contract(columns=[{"name": "contact", "pii": "email"}, {"name": "mobile"}])

    scan = scan_dataset(people, uri, sample=30)

    assert scan.rows == 30
    assert [(c.column, c.verdict) for c in scan.disagreements] == [("mobile", Verdict.MISSING_TAG)]


def test_a_missing_table_or_an_empty_sample_is_refused(tmp_path):
    with pytest.raises(LakeError, match="no Delta table"):
        read_sample(str(tmp_path / "nothing"), ["a"], rows=10)
    with pytest.raises(ConfigError, match="sample of 0 rows"):
        scan_dataset(contract(), str(tmp_path / "nothing"), sample=0)
