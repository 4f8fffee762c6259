"""The token-translation table: how tokens made before a key rotation join with tokens made after it.

A token cannot be re-made under a new key without the value, and the lake
keeps no values. So whenever ingestion tokenises under a keyring that holds
older versions, it also records, for each distinct value, the token under
every older version next to the token under the current one. A value seen
after the rotation thus links its old token to its new one; a value never
seen again needs no link (nothing new holds it).

The pairs are Parquet files under ``<lake>/_sluice/token_map/``, one per
chunk, named at random: writers never share a file, so any number append at
once. :meth:`TokenMap.canonical` maps tokens to the newest token known for
their value; join on ``canonical(a) == canonical(b)`` across versions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

MAP_DIR = "_sluice/token_map"
SCHEMA = pa.schema([("token", pa.string()), ("current", pa.string())])
_MAX_HOPS = 64  # rotations a chain of links may span


@dataclass(frozen=True)
class TokenMap:
    """The translation files under a lake root."""

    root: str
    storage_options: dict[str, str] = field(default_factory=dict)

    def _folder(self) -> tuple[pafs.FileSystem, str]:
        from sluice.lake.table import lake_filesystem

        fs, base = lake_filesystem(self.root, self.storage_options or None)
        return fs, f"{base}/{MAP_DIR}"

    def record(self, pairs: pa.Table) -> None:
        """Append ``pairs`` (columns ``token``, ``current``) as a new file; nothing for an empty table."""
        if pairs.num_rows == 0:
            return
        fs, folder = self._folder()
        fs.create_dir(folder, recursive=True)
        table = pairs.select(["token", "current"]).cast(SCHEMA)
        pq.write_table(table, f"{folder}/{uuid.uuid4().hex}.parquet", filesystem=fs)

    def pairs(self) -> pa.Table:
        """Every recorded link, once each."""
        fs, folder = self._folder()
        if fs.get_file_info(folder).type is pafs.FileType.NotFound:
            return SCHEMA.empty_table()
        table = ds.dataset(folder, filesystem=fs, format="parquet", schema=SCHEMA).to_table()
        return table.group_by(["token", "current"], use_threads=False).aggregate([])

    def canonical(self, tokens: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Each token replaced by the newest token recorded for its value (itself when there is none)."""
        links = self.pairs()
        out = tokens.combine_chunks() if isinstance(tokens, pa.ChunkedArray) else tokens
        if links.num_rows == 0:
            return out
        # The newest target first: a value linked to several versions maps to the newest.
        version = pc.cast(
            pc.extract_regex(links.column("current").combine_chunks(), r"^tok_v(?P<v>\d+)_").field("v"), pa.int64()
        )
        links = links.append_column("version", version).sort_by([("version", "descending")])
        source, target = links.column("token").combine_chunks(), links.column("current").combine_chunks()
        for _ in range(_MAX_HOPS):
            at = pc.index_in(out, value_set=source)
            if pc.all(pc.is_null(at)).as_py():
                return out
            out = pc.coalesce(pc.take(target, at), out)
        return out
