"""Parquet streamed by row batches; types are kept and cast later."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sluice.formats.base import RawChunk, layout_of, unreadable
from sluice.formats.encoding import EncodingChoice
from sluice.sources.files import SourceFile, filesystem


class ParquetReader:
    """Streams a Parquet file by row batches; types are kept and cast later."""

    def __init__(
        self,
        src: SourceFile,
        wanted: list[str],
        *,
        encoding: str | EncodingChoice | None,
        chunk_rows: int,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        self.src, self.wanted, self.chunk_rows, self.opts = src, wanted, chunk_rows, storage_options
        fs, path = filesystem(src.uri, storage_options)
        self._handle = fs.open(path, "rb")
        try:
            self._file = pq.ParquetFile(self._handle)
        except (pa.ArrowInvalid, OSError) as exc:
            self._handle.close()
            raise unreadable(src, exc) from None
        self.layout = layout_of(self._file.schema_arrow.names, wanted, "binary")

    def chunks(self) -> Iterator[RawChunk]:
        start = 1
        try:
            for batch in self._file.iter_batches(batch_size=self.chunk_rows, columns=self.layout.columns):
                rows = np.arange(start, start + batch.num_rows, dtype=np.int64)
                start += batch.num_rows
                yield RawChunk(table=pa.Table.from_batches([batch]), rows=rows)
        except (pa.ArrowInvalid, OSError) as exc:
            raise unreadable(self.src, exc) from None
        finally:
            self._handle.close()
