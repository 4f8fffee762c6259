"""Settings: the chunk size follows where the workers run, unless it is set."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sluice.settings import PROCESS_CHUNK_ROWS, THREAD_CHUNK_ROWS, Settings


def test_thread_workers_of_a_local_cluster_read_larger_chunks_than_worker_processes():
    assert Settings(dask_address=None).rows_per_chunk() == THREAD_CHUNK_ROWS
    assert Settings(dask_address=None, dask_processes=True).rows_per_chunk() == PROCESS_CHUNK_ROWS
    assert THREAD_CHUNK_ROWS > PROCESS_CHUNK_ROWS


def test_workers_of_an_existing_scheduler_read_process_sized_chunks():
    assert Settings(dask_address="tcp://10.0.0.5:8786").rows_per_chunk() == PROCESS_CHUNK_ROWS


def test_a_chunk_size_that_is_set_wins(monkeypatch):
    monkeypatch.setenv("SLUICE_CHUNK_ROWS", "1234")
    assert Settings(dask_address=None).rows_per_chunk() == 1234
    assert Settings(dask_address="tcp://10.0.0.5:8786").rows_per_chunk() == 1234


def test_a_chunk_size_below_one_row_is_refused():
    with pytest.raises(ValidationError, match="chunk_rows"):
        Settings(chunk_rows=0)


def test_staging_stale_hours_default_to_a_day_and_must_be_positive(monkeypatch):
    monkeypatch.delenv("SLUICE_STAGING_STALE_HOURS", raising=False)
    assert Settings().staging_stale_hours == 24
    monkeypatch.setenv("SLUICE_STAGING_STALE_HOURS", "0")
    with pytest.raises(ValidationError, match="staging_stale_hours"):
        Settings()
