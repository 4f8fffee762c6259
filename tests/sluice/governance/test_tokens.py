"""Tokens: the documented HMAC-SHA256 text, deterministic per key version, and links across key rotations."""

from __future__ import annotations

import base64
import hashlib
import hmac
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.governance.keyring import Keyring, new_keyring
from sluice.governance.token_map import TokenMap
from sluice.governance.tokens import TOKEN_PATTERN, token_version, tokenise, translations

KEYRING = Keyring(1, {1: bytes(range(32))})


def _reference(value: str, key: bytes, version: int) -> str:
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()[:20]
    return f"tok_v{version}_" + base64.b32encode(digest).decode().lower()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text()), max_size=40))
def test_every_value_becomes_the_reference_hmac_token_and_null_stays_null(values) -> None:
    tokens = tokenise(pa.array(values, pa.string()), KEYRING).to_pylist()

    assert tokens == [None if v is None else _reference(v, KEYRING.key(1), 1) for v in values]
    assert all(TOKEN_PATTERN.match(t) for t in tokens if t is not None)


def test_tokens_work_over_chunked_arrays_and_equal_values_share_a_token() -> None:
    chunked = pa.chunked_array([["a@x.example", "b@x.example"], ["a@x.example", None]])

    tokens = tokenise(chunked, KEYRING).to_pylist()

    assert tokens[0] == tokens[2] != tokens[1] and tokens[3] is None


def test_a_rotated_key_makes_other_tokens_that_carry_their_version() -> None:
    rotated = KEYRING.rotated()

    old, new = tokenise(pa.array(["x"]), KEYRING)[0].as_py(), tokenise(pa.array(["x"]), rotated)[0].as_py()

    assert old != new and (token_version(old), token_version(new)) == (1, 2)
    assert tokenise(pa.array(["x"]), rotated, version=1)[0].as_py() == old


def test_old_tokens_map_to_the_newest_token_of_their_value_across_two_rotations(tmp_path) -> None:
    v1 = new_keyring()
    v2, store = v1.rotated(), TokenMap(str(tmp_path / "lake"))
    v3 = v2.rotated()
    store.record(translations(pa.array(["ann", "bob"]), v2))  # seen in the v2 era
    store.record(translations(pa.array(["bob"]), v3))  # bob seen again after the next rotation

    olds = pa.array([*tokenise(pa.array(["ann", "bob"]), v1).to_pylist(), None, "tok_v9_unknown"])

    assert store.canonical(olds).to_pylist() == [
        tokenise(pa.array(["ann"]), v2)[0].as_py(),
        tokenise(pa.array(["bob"]), v3)[0].as_py(),
        None,
        "tok_v9_unknown",
    ]


def test_one_version_needs_no_translation_and_an_empty_map_changes_nothing(tmp_path) -> None:
    assert translations(pa.array(["a"]), KEYRING).num_rows == 0
    tokens = tokenise(pa.array(["a"]), KEYRING)

    assert TokenMap(str(tmp_path)).canonical(tokens).to_pylist() == tokens.to_pylist()


def test_concurrent_writers_of_the_token_map_lose_no_link(tmp_path) -> None:
    keyring = new_keyring().rotated()
    store = TokenMap(str(tmp_path / "lake"))
    batches = [pa.array([f"user{i}-{j}@x.example" for j in range(50)]) for i in range(16)]

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda b: store.record(translations(b, keyring)), batches))

    assert store.pairs().num_rows == 16 * 50
    old = tokenise(pa.concat_arrays(batches), keyring, version=1)
    assert store.canonical(old).to_pylist() == tokenise(pa.concat_arrays(batches), keyring).to_pylist()
