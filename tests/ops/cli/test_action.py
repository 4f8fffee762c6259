"""``ops action add|list|done`` on a real SQLite incident store."""

from __future__ import annotations

import json

import pytest

from ops.cli.action import ACTION_TYPES
from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.models import ActionType
from ops.incidents.service import trigger
from tests.ops.factories import invoke, sluice_home
from tests.ops.incidents.factories import failure

ADD = ("action", "add", "INC-1", "--type", "prevent", "--owner", "bo")


@pytest.fixture()
def settings(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    with transaction(open_engine(store_url(settings.home))) as session:
        trigger(session, failure())
    return settings


def test_the_type_choices_are_the_action_types():
    assert tuple(t.value for t in ActionType) == ACTION_TYPES


def test_add_then_list_as_json(settings):
    added = invoke(
        *ADD,
        "--due",
        "2099-01-31",
        "--tracker",
        "https://tracker.example.com/OPS-3",
        "alert",
        "on",
        "missing",
        "files",
        "-o",
        "json",
    )

    assert added.exit_code == 0, added.output
    item = json.loads(added.stdout)
    assert (item["id"], item["incident"], item["type"], item["owner"]) == (1, "INC-1", "prevent", "bo")
    assert item["description"] == "alert on missing files" and item["due"] == "2099-01-31"
    assert item["status"] == "open" and item["overdue"] is False
    assert json.loads(invoke("action", "list", "-o", "json").stdout) == [item]


def test_overdue_items_are_flagged_and_highlighted(settings):
    invoke(*ADD, "--due", "2020-01-01", "late item")
    invoke(*ADD, "--due", "2099-01-01", "future item")

    overdue = json.loads(invoke("action", "list", "--overdue", "-o", "json").stdout)
    table = invoke("action", "list")

    assert [(i["description"], i["overdue"]) for i in overdue] == [("late item", True)]
    assert "OVERDUE" in table.stdout and "1 overdue" in table.stdout


def test_done_asks_first_and_yes_skips_the_question(settings):
    invoke(*ADD, "--due", "2020-01-01", "late item")

    declined = invoke("action", "done", "1", input="n\n")
    still_open = json.loads(invoke("action", "list", "--open", "-o", "json").stdout)
    confirmed = invoke("action", "done", "1", input="y\n")
    again = invoke("action", "done", "1", "--yes")

    assert declined.exit_code == 1 and len(still_open) == 1
    assert confirmed.exit_code == 0 and "is done" in confirmed.stdout
    assert json.loads(invoke("action", "list", "--open", "-o", "json").stdout) == []
    assert again.exit_code == 1 and "already done" in again.stderr


def test_done_with_yes_prints_the_item_as_json(settings):
    invoke(*ADD, "--due", "2020-01-01", "late item")

    result = invoke("action", "done", "1", "--yes", "-o", "json")

    item = json.loads(result.stdout)
    assert item["status"] == "done" and item["done_at"] and item["overdue"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("action", "add", "INC-1", "--type", "fix", "--owner", "bo", "--due", "2026-03-01", "x"),
            "error: 'fix' is not an action type",
        ),
        (
            ("action", "add", "INC-1", "--type", "prevent", "--owner", "bo", "--due", "03/01/2026", "x"),
            "error: '03/01/2026' is not a date",
        ),
        (
            ("action", "add", "INC-7", "--type", "prevent", "--owner", "bo", "--due", "2026-03-01", "x"),
            "error: no incident INC-7",
        ),
        (
            (
                "action",
                "add",
                "INC-1",
                "--type",
                "prevent",
                "--owner",
                "bo",
                "--due",
                "2026-03-01",
                "--tracker",
                "OPS-1",
                "x",
            ),
            "error: 'OPS-1' is not a tracker URL",
        ),
        (("action", "done", "5", "--yes"), "error: no action item #5"),
        (("action", "list", "--incident", "INC-7"), "error: no incident INC-7"),
    ],
)
def test_bad_input_exits_1_with_a_clear_message(settings, args, message):
    result = invoke(*args)

    assert result.exit_code == 1 and message in result.stderr and "hint:" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("action", "add", "INC-1", "--type", "prevent", "--due", "2026-03-01", "x"),
        ("action", "add", "INC-1", "--type", "prevent", "--owner", "bo", "--due", "2026-03-01"),
        ("action", "done", "first"),
    ],
)
def test_missing_or_malformed_arguments_exit_2_with_usage(settings, args):
    result = invoke(*args)

    assert result.exit_code == 2 and "Usage:" in result.output
