"""The one way to read encrypted values in the clear: ``reveal``, which records every access first.

Tokens are not revealed (a token has no way back to its value); values left
in the clear are returned as they are. Before any value is decrypted an
access record (who, which dataset and columns, how many rows, why) is
appended to the audit (:mod:`sluice.governance.audit`): when that fails,
nothing is decrypted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from sluice.governance.audit import record_access
from sluice.governance.envelope import Decrypter, KeyStore, key_id_of
from sluice.governance.kek import load_kek
from sluice.settings import Settings, get_settings

if TYPE_CHECKING:
    from sluice.lake.quarantine import QuarantineEntry

REVEAL = "reveal"


def _decrypter(dataset: str, settings: Settings) -> Decrypter:
    store = KeyStore(settings.lake_root(), dict(settings.lake_storage_options))
    return Decrypter(store, dataset, load_kek(settings.protect))


def _encrypted(value: str | None) -> bool:
    return value is not None and key_id_of(value) is not None


def reveal(
    table: pa.Table,
    dataset: str,
    columns: Sequence[str],
    *,
    purpose: str,
    principal: str | None = None,
    settings: Settings | None = None,
) -> pa.Table:
    """``table`` with the encrypted values of ``columns`` decrypted; the access is audited first.

    Raises:
        LakeError: the access audit cannot be written (nothing is decrypted then).
        ConfigError: the KEK cannot be loaded.
        DecryptionError: a value does not decrypt (changed on disk, or moved from another column).
    """
    settings = settings or get_settings()
    record_access(
        action=REVEAL,
        dataset=dataset,
        columns=list(columns),
        rows=table.num_rows,
        purpose=purpose,
        principal=principal,
        settings=settings,
    )
    decrypter = _decrypter(dataset, settings)
    for column in columns:
        index = table.column_names.index(column)
        clear = [decrypter.value(v, column) for v in table.column(column).to_pylist()]
        table = table.set_column(index, pa.field(column, pa.string()), pa.array(clear, pa.string()))
    return table


def reveal_entries(
    entries: list[QuarantineEntry],
    *,
    purpose: str,
    principal: str | None = None,
    settings: Settings | None = None,
) -> list[QuarantineEntry]:
    """Quarantine entries with their encrypted fields decrypted, each dataset's access audited first.

    Only encrypted fields change: tokens stay tokens, masked or clear values stay as they are.
    """
    settings = settings or get_settings()
    by_dataset: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for entry in entries:
        fields = {k for k, v in entry.record.items() if _encrypted(v)}
        if _encrypted(entry.value) and entry.column:
            fields.add(entry.column)
        if fields:
            by_dataset.setdefault(entry.dataset, set()).update(fields)
            counts[entry.dataset] = counts.get(entry.dataset, 0) + 1
    for dataset, fields in sorted(by_dataset.items()):
        record_access(
            action=REVEAL,
            dataset=dataset,
            columns=sorted(fields),
            rows=counts[dataset],
            purpose=purpose,
            principal=principal,
            settings=settings,
        )
    decrypters = {d: _decrypter(d, settings) for d in by_dataset}
    out = []
    for entry in entries:
        if entry.dataset not in decrypters:
            out.append(entry)
            continue
        dec = decrypters[entry.dataset]
        record = {k: dec.value(v, k) for k, v in entry.record.items()}
        value = dec.value(entry.value, entry.column) if entry.column else entry.value
        out.append(dataclasses.replace(entry, record=record, value=value))
    return out
