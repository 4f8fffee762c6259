"""The API description: what it refuses, with a message naming the fault."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sluice.errors import ConfigError
from sluice.sources.api.spec import find_api, list_apis
from tests.sluice.sources.api.apifixtures import api_description, write_description


def _refused(tmp_path, description: dict[str, object]) -> str:
    write_description(tmp_path, description)
    with pytest.raises(ConfigError) as failed:
        find_api("crm", tmp_path)
    return str(failed.value)


def test_a_description_loads_with_its_look_back_as_a_duration(tmp_path) -> None:
    write_description(tmp_path, api_description("http://api.example"))

    spec = find_api("crm", tmp_path)

    incremental = spec.endpoint("accounts").incremental
    assert incremental is not None and incremental.look_back == timedelta(seconds=5)
    assert list_apis(tmp_path) == ["crm"]


def test_a_cursor_pagination_without_its_cursor_path_is_refused(tmp_path) -> None:
    description = api_description("http://api.example", style="cursor")
    description["endpoints"][0]["pagination"].pop("cursor_path")  # type: ignore[index]

    assert "cursor_path" in _refused(tmp_path, description)


def test_a_records_path_that_is_not_jsonpath_is_refused(tmp_path) -> None:
    description = api_description("http://api.example")
    description["endpoints"][0]["records"] = "$.data[["  # type: ignore[index]

    assert "not a JSONPath" in _refused(tmp_path, description)


def test_a_child_endpoint_before_its_parent_is_refused(tmp_path) -> None:
    description = api_description("http://api.example")
    description["endpoints"] = list(reversed(description["endpoints"]))  # type: ignore[call-overload]

    assert "is not an endpoint above it" in _refused(tmp_path, description)


def test_oauth2_without_a_client_secret_is_refused(tmp_path) -> None:
    description = api_description("http://api.example")
    description["auth"].pop("client_secret")  # type: ignore[attr-defined]

    assert "client_secret" in _refused(tmp_path, description)


def test_an_api_name_that_is_a_path_is_refused_before_any_file_is_read(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not an API name"):
        find_api("../etc/passwd", tmp_path)


def test_an_unknown_endpoint_names_the_known_ones(tmp_path) -> None:
    write_description(tmp_path, api_description("http://api.example"))

    with pytest.raises(ConfigError, match="accounts, contacts"):
        find_api("crm", tmp_path).endpoint("deals")
