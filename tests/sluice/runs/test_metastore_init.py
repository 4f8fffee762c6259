"""Processes that open a new metadata store at the same moment all get it, tables and columns created once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import sqlalchemy as sa


def _open(url: str, barrier: multiprocessing.synchronize.Barrier, errors: multiprocessing.Queue) -> None:
    from sluice.runs.metastore import engine_for, list_runs

    barrier.wait()
    try:
        with engine_for(url).connect() as conn:
            list_runs(conn)
    except Exception as exc:  # noqa: BLE001 - reported to the test
        errors.put(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")


def test_eight_processes_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'meta' / 'sluice.db'}"
    context = multiprocessing.get_context("fork")
    barrier, errors = context.Barrier(8), context.Queue()
    workers = [context.Process(target=_open, args=(url, barrier, errors)) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)

    assert [w.exitcode for w in workers] == [0] * 8
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []
    tables = sa.inspect(sa.create_engine(url)).get_table_names()
    assert {"ingest_runs", "ingest_files", "legal_holds"} <= set(tables)
