"""``ops contract``: list, show, diff, and the check that gates contract changes, on real git repositories."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.factories import invoke, sluice_home

ITEMS: dict[str, Any] = {
    "name": "items",
    "owner": "team@sluice.example",
    "freshness_sla": "1d",
    "primary_key": ["id"],
    "partition": {"column": "ts"},
    "columns": [
        {"name": "id", "type": "int64"},
        {"name": "ts", "type": "timestamp"},
        {"name": "amount", "type": "int64", "min": 0},
    ],
}
OPTIONAL = {"name": "tag", "type": "string", "nullable": True, "criticality": "warning"}
REQUIRED = {"name": "tag", "type": "string"}


class ContractRepo:
    """A git repository whose ``contracts/`` folder Sluice reads (SLUICE_CONTRACTS_DIR)."""

    def __init__(self, top: Path) -> None:
        self.top = top
        self.folder = top / "contracts"
        self.folder.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.top), "-c", "user.name=t", "-c", "user.email=t@sluice.example", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def write(self, version: int = 1, *, add: tuple[dict[str, Any], ...] = (), **fields: Any) -> None:
        columns = fields.pop("columns", ITEMS["columns"])
        raw = {**ITEMS, "version": version, **fields, "columns": [*columns, *add]}
        (self.folder / "items.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)


@pytest.fixture
def repo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ContractRepo:
    made = ContractRepo(tmp_path / "repo")
    sluice_home(monkeypatch, tmp_path, contracts_dir=str(made.folder))
    made.write()
    made.commit("items")
    return made


def _check(*args: str) -> tuple[int, dict[str, Any]]:
    result = invoke("contract", "check", *args, "-o", "json")
    return result.exit_code, json.loads(result.stdout)


def test_a_branch_that_breaks_the_declared_level_fails_the_check_and_a_compatible_one_passes(
    repo: ContractRepo,
) -> None:
    repo.git("checkout", "-q", "-b", "feature")
    repo.write(2, add=(REQUIRED,))
    repo.commit("a required column")

    code, report = _check()
    assert code == 1 and report["ok"] is False
    assert report["base"].startswith("the merge base with main")
    [items] = report["contracts"]
    assert items["problems"] == ["tag: added string breaks BACKWARD (against version 1: keeps FORWARD)"]

    repo.write(2, add=(OPTIONAL,))
    repo.commit("an optional column instead")
    code, report = _check()
    assert code == 0 and report["contracts"][0]["diff"]["keeps"] == "FULL"


def test_a_schema_change_without_a_new_version_fails_and_the_table_says_why(repo: ContractRepo) -> None:
    repo.write(1, add=(OPTIONAL,))  # uncommitted on main: compared with HEAD

    result = invoke("contract", "check")

    assert result.exit_code == 1
    assert "Contracts against HEAD" in result.stdout
    assert "items: the schema changed but version is still 1: raise it" in result.stdout


def test_on_a_clean_main_the_check_judges_the_last_commit(repo: ContractRepo) -> None:
    repo.write(2, add=(REQUIRED,), compatibility="FORWARD")
    repo.commit("a required column, declared FORWARD")

    code, report = _check()

    assert code == 0 and report["base"] == "HEAD~"
    assert report["contracts"][0]["diff"]["keeps"] == "FORWARD"


def test_a_key_change_fails_at_every_level_and_against_an_explicit_revision(repo: ContractRepo) -> None:
    first = repo.git("rev-parse", "HEAD").strip()
    repo.write(2, compatibility="NONE", primary_key=["id", "ts"])
    repo.commit("a wider key")
    repo.write(3, compatibility="NONE", primary_key=["id", "ts"], description="later")
    repo.commit("described")

    code, report = _check("--against", first)

    assert code == 1 and report["base"] == first
    assert report["contracts"][0]["problems"][0].startswith("primary_key [id] -> [id, ts]")


def test_a_transitive_level_is_judged_against_every_version_in_the_history(repo: ContractRepo) -> None:
    repo.write(2, columns=ITEMS["columns"][:2])  # amount removed: BACKWARD
    repo.commit("no amount")
    back = {"name": "amount", "type": "string", "nullable": True, "criticality": "warning"}
    repo.write(3, compatibility="BACKWARD_TRANSITIVE", add=(back,), columns=ITEMS["columns"][:2])

    code, report = _check()

    assert code == 1
    assert report["contracts"][0]["problems"] == [
        "amount: type long -> string breaks BACKWARD_TRANSITIVE (against version 1: keeps NONE)"
    ]


def test_outside_git_the_check_needs_a_folder_of_earlier_contracts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    now, before = tmp_path / "now", tmp_path / "before"
    for folder, version, add in ((before, 1, []), (now, 2, [REQUIRED])):
        folder.mkdir()
        raw = {**ITEMS, "version": version, "columns": [*ITEMS["columns"], *add]}
        (folder / "items.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    sluice_home(monkeypatch, tmp_path, contracts_dir=str(now))

    plain = invoke("contract", "check")
    assert plain.exit_code == 1
    assert "is not in a git checkout" in plain.stderr and "--previous DIR" in plain.stderr

    code, report = _check("--previous", str(before))
    assert code == 1 and report["base"] == str(before)
    assert report["contracts"][0]["diff"]["keeps"] == "FORWARD"


def test_an_unknown_revision_or_contract_is_one_line_with_a_hint(repo: ContractRepo) -> None:
    unknown_ref = invoke("contract", "check", "--against", "no-such-branch")
    unknown_name = invoke("contract", "diff", "items@HEAD", "itmes")

    assert unknown_ref.exit_code == 1 and unknown_ref.stderr.splitlines()[0] == (
        "error: unknown git revision 'no-such-branch' in " + str(repo.top)
    )
    assert unknown_name.exit_code == 1 and "did you mean 'items'?" in unknown_name.stderr
    assert "Traceback" not in unknown_ref.output + unknown_name.output


def test_diff_shows_each_change_with_the_levels_it_keeps_and_the_verdict(repo: ContractRepo) -> None:
    repo.write(2, add=(OPTIONAL,), columns=[*ITEMS["columns"][:2], {**ITEMS["columns"][2], "type": "float64"}])

    table = invoke("contract", "diff", "items@HEAD", "items")
    as_json = json.loads(invoke("contract", "diff", "items@HEAD", str(repo.folder / "items.yaml"), "-o", "json").stdout)

    assert table.exit_code == 0
    assert "type long -> double" in table.stdout and "added string" in table.stdout
    assert "items: version 1 -> 2 keeps BACKWARD; declared BACKWARD: breaks" in table.stdout
    assert [(c["field"], c["what"], c["keeps"]) for c in as_json["changes"]] == [
        ("amount", "type", "BACKWARD"),
        ("tag", "added", "FULL"),
    ]
    assert as_json["ok"] is False and [b["what"] for b in as_json["lake"]] == ["type"]


def test_list_and_show_give_the_version_and_the_declared_level(repo: ContractRepo) -> None:
    repo.write(4, compatibility="full")

    listed = json.loads(invoke("contract", "list", "-o", "json").stdout)
    shown = json.loads(invoke("contract", "show", "items", "-o", "json").stdout)
    earlier = json.loads(invoke("contract", "show", "items@HEAD", "-o", "json").stdout)
    table = invoke("contract", "show", "items")

    assert listed == [
        {
            "name": "items",
            "version": 4,
            "compatibility": "FULL",
            "mode": "append",
            "columns": 3,
            "owner": ITEMS["owner"],
        }
    ]
    assert (shown["version"], shown["compatibility"], earlier["version"]) == (4, "FULL", 1)
    assert "items version 4, FULL" in table.stdout and "range 0..-" in table.stdout


def test_a_contract_that_does_not_load_fails_and_a_removed_one_is_listed(repo: ContractRepo) -> None:
    (repo.folder / "extra.yaml").write_text(yaml.safe_dump({**ITEMS, "name": "extra"}), encoding="utf-8")
    repo.commit("extra")
    (repo.folder / "extra.yaml").unlink()
    (repo.folder / "items.yaml").write_text("name: items\ncolumns: []\n", encoding="utf-8")

    code, report = _check()

    statuses = {c["name"]: (c["status"], c["ok"]) for c in report["contracts"]}
    assert code == 1 and statuses == {"items": ("invalid", False), "extra": ("removed", True)}


def test_show_names_each_exploded_array_and_its_child_dataset(repo: ContractRepo) -> None:
    child = {
        **ITEMS,
        "name": "item_parts",
        "primary_key": ["id", "part_no"],
        "columns": [*ITEMS["columns"][:2], {"name": "part_no", "type": "int64"}, {"name": "part", "type": "string"}],
    }
    explode = {"parts": {"dataset": "item_parts", "parent_key": ["id"], "index_column": "part_no", "carry": ["ts"]}}
    repo.write(2, explode={"parts": {**explode["parts"], "contract": child}})

    table = invoke("contract", "show", "items")

    assert table.exit_code == 0, table.stdout
    assert "explodes parts into item_parts: parent key id, index part_no" in table.stdout
