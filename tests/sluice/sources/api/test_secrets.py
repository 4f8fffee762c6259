"""Secrets by name: SLUICE_API_SECRETS first, then Prefect Secret blocks, read again on every call (rotation)."""

from __future__ import annotations

import pytest

from sluice.errors import ApiAuthError
from sluice.settings import get_settings
from sluice.sources.api.auth import NamedSecrets

pytestmark = pytest.mark.integration


def test_a_secret_block_is_read_on_every_call_so_a_rotation_is_picked_up(prefect_api, monkeypatch) -> None:
    from prefect.blocks.system import Secret

    monkeypatch.delenv("SLUICE_API_SECRETS", raising=False)
    get_settings(fresh=True)
    Secret(value="first-token").save("crm-token-rotation", overwrite=True)
    secrets = NamedSecrets()
    assert secrets.get("crm-token-rotation") == "first-token"

    Secret(value="second-token").save("crm-token-rotation", overwrite=True)

    assert secrets.get("crm-token-rotation") == "second-token"


def test_the_setting_comes_before_a_block_and_a_missing_secret_names_both_places(prefect_api, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_API_SECRETS", '{"crm-token-setting": "from-the-setting"}')
    get_settings(fresh=True)

    assert NamedSecrets().get("crm-token-setting") == "from-the-setting"
    with pytest.raises(ApiAuthError, match="neither SLUICE_API_SECRETS nor a Prefect Secret block"):
        NamedSecrets().get("no-such-secret")
