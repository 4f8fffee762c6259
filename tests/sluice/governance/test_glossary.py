"""The glossary lint finds naming conflicts across contracts and disagreements with the terms."""

from __future__ import annotations

import pytest

from sluice.errors import ContractError
from sluice.governance.glossary import FindingKind, Glossary, Term, glossary_path, lint, load_glossary
from sluice.settings import get_settings
from sluice.validate.contracts import available_contracts, find_contract
from tests.sluice.governance.factories import contract


def term(name: str, type_: str = "string", **fields: object) -> Term:
    return Term.model_validate({"name": name, "owner": "o@x", "definition": "d", "type": type_, **fields})


def kinds(findings) -> list[tuple[FindingKind, str]]:
    return [(f.kind, f.subject) for f in findings]


def test_the_shipped_contracts_agree_with_the_shipped_glossary():
    root = get_settings(fresh=True).contracts_root()
    glossary = load_glossary(glossary_path(root))

    assert "glossary" not in available_contracts(root)
    assert {"email", "full_name", "customer_id", "order_id"} <= {t.name for t in glossary.terms}
    assert lint([find_contract(n, root) for n in available_contracts(root)], glossary) == []


def test_the_same_column_name_with_another_type_or_term_is_found():
    sales = contract("sales", [{"name": "status", "term": "order_status"}, {"name": "ref", "type": "int64"}])
    crm = contract("crm", [{"name": "status", "term": "account_status"}, {"name": "ref"}])
    glossary = Glossary(terms=[term("order_status"), term("account_status")])

    findings = lint([sales, crm], glossary)

    assert kinds(findings) == [
        (FindingKind.SAME_NAME_TYPES, "ref"),
        (FindingKind.SAME_NAME_TERMS, "status"),
    ]
    assert findings[0].columns == ["sales.ref", "crm.ref"]


def test_different_names_for_one_term_conflict_unless_they_are_synonyms():
    sales = contract("sales", [{"name": "email", "term": "email", "pii": "email"}])
    crm = contract("crm", [{"name": "mail_addr", "term": "email", "pii": "email"}])

    findings = lint([sales, crm], Glossary(terms=[term("email", pii="email")]))
    agreed = lint([sales, crm], Glossary(terms=[term("email", pii="email", synonyms=["mail_addr"])]))

    assert kinds(findings) == [(FindingKind.NAMING_CONFLICT, "email")]
    assert "mail_addr" in findings[0].detail
    assert agreed == []


def test_a_column_whose_type_or_pii_tag_disagrees_with_its_term_is_found():
    crm = contract(
        "crm",
        [
            {"name": "score", "type": "float64", "term": "score"},
            {"name": "full_name", "term": "full_name"},  # untagged: the term is a person_name
            {"name": "email", "term": "email", "pii": True},  # true agrees with any class
            {"name": "note", "term": "note", "pii": True},  # tagged: the term is not personal
        ],
    )
    glossary = Glossary(terms=[term("score", "int64"), term("full_name", pii="person_name"),
                               term("email", pii="email"), term("note")])  # fmt: skip

    findings = lint([crm], glossary)

    assert kinds(findings) == [
        (FindingKind.PII_MISMATCH, "full_name"),
        (FindingKind.PII_MISMATCH, "note"),
        (FindingKind.TYPE_MISMATCH, "score"),
    ]


def test_a_link_to_an_unknown_term_is_found_with_the_closest_one():
    crm = contract("crm", [{"name": "email", "term": "emial"}])

    findings = lint([crm], Glossary(terms=[term("email")]))

    assert kinds(findings) == [(FindingKind.UNKNOWN_TERM, "emial")]
    assert "did you mean 'email'" in findings[0].detail


def test_a_name_claimed_by_two_terms_or_an_invalid_file_is_refused(tmp_path):
    path = tmp_path / "glossary.yaml"
    path.write_text(
        "terms:\n"
        "  - {name: email, owner: o, definition: d, type: string, synonyms: [mail]}\n"
        "  - {name: mail, owner: o, definition: d, type: string}\n"
    )
    with pytest.raises(ContractError, match="'mail' is both term or synonym of 'email' and of 'mail'"):
        load_glossary(path)
    path.write_text("terms:\n  - {name: email, owner: o, definition: d, type: text}\n")
    with pytest.raises(ContractError, match=r"terms\.0\.type"):
        load_glossary(path)
    assert load_glossary(tmp_path / "absent.yaml") == Glossary()
