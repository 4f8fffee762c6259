"""Keyrings: any text that is not a keyring fails with one clear line that never quotes it."""

from __future__ import annotations

import base64
import json
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.errors import ConfigError
from sluice.governance.keyring import new_keyring, parse_keyring, read_keyring_file, write_keyring_file


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.builds(json.dumps, st.recursive(st.none() | st.integers() | st.text(), st.lists))))
def test_arbitrary_text_is_a_keyring_or_a_config_error_that_does_not_quote_it(text: str) -> None:
    try:
        parse_keyring(text, "under test")
    except ConfigError as exc:
        message = str(exc)
        assert "under test" in message and "hint:" in message
        assert len(text) < 8 or text not in message


def test_a_key_of_the_wrong_length_or_a_missing_current_version_is_refused() -> None:
    short = json.dumps({"current": 1, "keys": {"1": base64.b64encode(b"short").decode()}})
    with pytest.raises(ConfigError, match="has 5 bytes, not 32"):
        parse_keyring(short, "x")
    absent = json.dumps({"current": 2, "keys": {"1": base64.b64encode(bytes(32)).decode()}})
    with pytest.raises(ConfigError, match="current version 2, which it does not hold"):
        parse_keyring(absent, "x")


def test_a_keyring_file_round_trips_is_private_and_is_never_overwritten(tmp_path) -> None:
    path, ring = tmp_path / "ring.json", new_keyring().rotated()
    write_keyring_file(path, ring)

    assert read_keyring_file(path).keys == ring.keys and read_keyring_file(path).current == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(ConfigError, match="exists already"):
        write_keyring_file(path, new_keyring())
    assert "keys" not in repr(ring) and str(ring.key(1)) not in repr(ring)
