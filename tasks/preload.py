"""Imported once by the fork server that Dask's local worker processes are forked from,
and by the flow process itself, where thread workers run (see :mod:`flows.runners`).

Everything a worker needs before its first task: the ingestion tasks (pandas,
pandera, pyarrow, deltalake) and the Prefect collections that Prefect loads
when it rebuilds a run's context on a worker (prefect-aws brings boto3), and
pandera's pandas backend, which pandera registers on the first validation.
Nothing here reads settings: a forked worker must see its run's environment.
"""

from prefect.plugins import load_prefect_collections

import tasks.ingest  # noqa: F401  (imported for its side effect: the modules are loaded)
from sluice.validate.schema import register_backends

load_prefect_collections()
register_backends()
