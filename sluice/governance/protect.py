"""Protection of PII columns at ingestion: the columns a contract marks ``protect:`` leave validation protected.

``protect: token`` replaces each value with its deterministic token
(:mod:`sluice.governance.tokens`); ``protect: encrypt`` with its AES-GCM
envelope (:mod:`sluice.governance.envelope`). Validation checks the clear
values first; what is staged, committed and quarantined is protected:

- the valid rows' protected columns, and the original text of their failed
  warning values (``_warnings``);
- the quarantine's original values (``record``) of protected columns and the
  failing ``value`` when it is one of theirs; a line that could not be split
  into fields (``_raw``) is protected like the strongest protected column
  (encrypted if any column is encrypted, else tokenised).

A :class:`Protector` carries the keys a worker needs (the tokenisation
keyring and the dataset's current data key, in memory only); the driver makes
it once per run with :func:`protector_for`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.errors import ConfigError
from sluice.governance.classes import Protection
from sluice.governance.envelope import DataKey, KeyStore, current_data_key, encrypt_values
from sluice.governance.kek import load_kek, load_token_keyring
from sluice.governance.keyring import Keyring
from sluice.governance.token_map import TokenMap
from sluice.governance.tokens import tokenise, translations
from sluice.settings import Settings, get_settings

if TYPE_CHECKING:
    from sluice.validate.contracts import Contract

RAW_LINE_KEY = "_raw"  # the quarantine record key of a line that could not be split (sluice.lake.quarantine)
WARNINGS_COL = "_warnings"


@dataclass(frozen=True)
class Protector:
    """The keys and column modes that protect one dataset's chunks (picklable; its repr shows no key)."""

    dataset: str
    columns: dict[str, Protection]
    tokens: Keyring | None = field(default=None, repr=False)
    data_key: DataKey | None = field(default=None, repr=False)
    token_map: TokenMap | None = None

    @property
    def raw_line_mode(self) -> Protection:
        return Protection.ENCRYPT if Protection.ENCRYPT in self.columns.values() else Protection.TOKEN

    def values(self, column: str, values: pa.Array | pa.ChunkedArray, mode: Protection | None = None) -> pa.Array:
        """``values`` of ``column`` protected by ``mode`` (default: the column's)."""
        mode = mode or self.columns[column]
        if mode is Protection.TOKEN:
            if self.tokens is None:
                raise ConfigError(f"{self.dataset}: no tokenisation keyring loaded", hint="make it with protector_for")
            return tokenise(values, self.tokens)
        if self.data_key is None:
            raise ConfigError(f"{self.dataset}: no data key loaded", hint="make the protector with protector_for")
        return encrypt_values(values, self.data_key, column)

    def protect_valid(self, table: pa.Table) -> pa.Table:
        """The valid rows with their protected columns, and the failed warning texts of those, protected."""
        for column, mode in self.columns.items():
            if column not in table.column_names:
                continue
            values = table.column(column)
            if mode is Protection.TOKEN and self.tokens is not None and self.token_map is not None:
                self.token_map.record(translations(values, self.tokens))
            index = table.column_names.index(column)
            table = table.set_column(index, table.field(column), self.values(column, values))
        if WARNINGS_COL in table.column_names:
            index = table.column_names.index(WARNINGS_COL)
            table = table.set_column(index, table.field(WARNINGS_COL), self._warning_texts(table.column(WARNINGS_COL)))
        return table

    def _warning_texts(self, texts: pa.ChunkedArray) -> pa.Array:
        """The ``_warnings`` JSON objects with the protected columns' texts protected (few rows have any)."""
        array = texts.combine_chunks()
        present = np.flatnonzero(array.is_valid().to_numpy(zero_copy_only=False))
        if len(present) == 0:
            return array
        objects = [json.loads(text) for text in array.take(pa.array(present)).to_pylist()]
        for column in self.columns:
            holders = [obj for obj in objects if isinstance(obj.get(column), str)]
            if holders:
                protected = self.values(column, pa.array([obj[column] for obj in holders], pa.string()))
                for obj, value in zip(holders, protected.to_pylist(), strict=True):
                    obj[column] = value
        out = np.array(array.to_pylist(), dtype=object)
        out[present] = [json.dumps(obj, ensure_ascii=False) for obj in objects]
        return pa.array(out, pa.string())

    def protect_quarantine(self, table: pa.Table) -> pa.Table:
        """Quarantine entries with the original values of protected columns (and unsplit lines) protected."""
        if table.num_rows == 0:
            return table
        record = table.column("record").combine_chunks()
        keys, items = record.keys, record.items
        modes = {**self.columns, RAW_LINE_KEY: self.raw_line_mode}
        for column, mode in modes.items():
            items = self._replace(items, pc.equal(keys, column), column, mode)
        protected_record = pa.MapArray.from_arrays(record.offsets, keys, items, mask=record.is_null())
        table = table.set_column(table.column_names.index("record"), table.field("record"), protected_record)
        value = table.column("value").combine_chunks()
        column_of = table.column("column").combine_chunks()
        for column, mode in self.columns.items():
            value = self._replace(value, pc.equal(column_of, column), column, mode)
        return table.set_column(table.column_names.index("value"), table.field("value"), value)

    def _replace(self, values: pa.Array, where: pa.Array, column: str, mode: Protection) -> pa.Array:
        mask = pc.and_kleene(pc.fill_null(where, False), values.is_valid())
        if not pc.any(mask).as_py():
            return values
        return pc.replace_with_mask(values, mask, self.values(column, values.filter(mask), mode))


_CACHE: dict[tuple[str, ...], Protector] = {}


def protector_for(contract: Contract, settings: Settings | None = None) -> Protector | None:
    """The protector of ``contract``'s dataset, ``None`` when it protects no column; one per process and setting.

    Loads the tokenisation keyring when a column is tokenised, and the
    dataset's current data key (made and stored wrapped on first use) when a
    column is encrypted.

    Raises:
        ConfigError: a key the contract needs is not configured or cannot be read.
    """
    columns = contract.protected_columns
    if not columns:
        return None
    settings = settings or get_settings()
    # A key file rewritten in place (a rotation) is read again: its modification time is part of the key.
    files = [settings.protect.token_keys_file, settings.protect.kek_file]
    stamps = ",".join(str(f.stat().st_mtime_ns) if f is not None and f.is_file() else "-" for f in files)
    cache_key = (
        contract.name,
        repr(sorted(columns.items())),
        settings.protect.model_dump_json(),
        settings.lake_root(),
        stamps,
    )
    if cache_key in _CACHE:
        return _CACHE[cache_key]
    opts = dict(settings.lake_storage_options)
    modes = set(columns.values())
    tokens = load_token_keyring(settings.protect) if Protection.TOKEN in modes else None
    data_key = None
    if Protection.ENCRYPT in modes:
        kek = load_kek(settings.protect)
        data_key = current_data_key(KeyStore(settings.lake_root(), opts), contract.name, kek)
    token_map = TokenMap(settings.lake_root(), opts) if tokens is not None and len(tokens.keys) > 1 else None
    protector = Protector(contract.name, columns, tokens, data_key, token_map)
    _CACHE[cache_key] = protector
    return protector
