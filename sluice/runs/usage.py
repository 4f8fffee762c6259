"""What a run used, measured where it happens: CPU seconds, peak memory, the worker, and the source's kind.

* CPU seconds are the staging task thread's own (``time.thread_time``): with
  thread workers several tasks share a process, so the process's CPU time
  would count the others' too. CPU that Arrow spends on its own thread pool
  (reading Parquet or CSV blocks in parallel) is not counted.
* Peak memory is the peak resident set of the process the task ran in
  (``getrusage``): a worker process's own, or, with thread workers, that of
  the process all of them share.
* Bytes read are the sizes of the files read (``files``, ``s3``) or the Arrow
  batches' ``nbytes`` as the driver delivered them (databases: no driver
  here reports the bytes it received); a stream's messages' keys, values and
  headers as consumed (``kafka``, ``redis``, ``rabbitmq``); the wal2json
  text a change capture decoded (``cdc``); :data:`READ_MEASURES` names each.
* A stream or change capture runs in the flow's own process (no Dask
  workers): its CPU seconds are that process's over the consume or capture
  (its fetcher, decoder and commit threads, and the Prefect client's), its
  peak memory the process's, and it counts as one worker with no memory limit.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sluice.runs.records import FileOutcome, RunReport

Outcome = TypeVar("Outcome", bound=FileOutcome | None)

READ_MEASURES = {
    "files": "file sizes",
    "s3": "object sizes",
    "database": "arrow nbytes",
    "stream": "message bytes",
    "cdc": "wal2json bytes",
}
STREAM_KINDS = ("kafka", "redis", "rabbitmq")
_DATABASE_SCHEMES = ("postgresql", "mysql", "mariadb")


def peak_memory_bytes() -> int:
    """The peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker_identity() -> tuple[str, int]:
    """The Dask worker running this task and its memory limit in bytes; ``("", 0)`` outside a worker."""
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:
        return "", 0
    return str(worker.address), int(worker.memory_manager.memory_limit or 0)


def measured(stage: Callable[[], Outcome]) -> Outcome:
    """Run ``stage`` (a staging step returning an outcome) and note on its outcome what it used."""
    cpu = time.thread_time()
    out = stage()
    if out is not None:
        out.cpu_seconds += time.thread_time() - cpu
        out.peak_memory_bytes = max(out.peak_memory_bytes, peak_memory_bytes())
        out.worker, out.worker_memory_bytes = worker_identity()
    return out


def source_kind(source: str) -> str:
    """``s3`` for an S3 URI, the database kind for a database source, else ``files``."""
    scheme = urlsplit(source).scheme.lower()
    if scheme in ("s3", "s3a"):
        return "s3"
    kind = scheme.split("+", 1)[0]
    return kind if kind in _DATABASE_SCHEMES else "files"


def read_measure(kind: str) -> str:
    if kind in STREAM_KINDS:
        return READ_MEASURES["stream"]
    return READ_MEASURES["database" if kind in _DATABASE_SCHEMES else kind]


def bucket_region(source: str, storage_options: dict[str, Any]) -> str:
    """The region of an S3 source's bucket, as S3 reports it (``us-east-1`` when it reports none); "" otherwise.

    When the bucket's location cannot be asked (no permission), the region the
    storage options name, or "".
    """
    if source_kind(source) != "s3":
        return ""
    import fsspec

    named = str((storage_options.get("client_kwargs") or {}).get("region_name") or "")
    try:
        fs = fsspec.filesystem("s3", **storage_options)
        location = fs.call_s3("get_bucket_location", Bucket=urlsplit(source).netloc)
    except Exception:  # noqa: BLE001 - no permission or no network: fall back to the configured region
        return named
    return str(location.get("LocationConstraint") or "us-east-1")


def add_usage(report: RunReport, extra_cpu_seconds: float = 0.0) -> None:
    """Sum the files' usage into ``report``: CPU seconds, the highest peak memory, workers and their memory."""
    report.cpu_seconds = sum(f.cpu_seconds for f in report.files) + extra_cpu_seconds
    report.peak_memory_bytes = max((f.peak_memory_bytes for f in report.files), default=0)
    report.workers = len({f.worker for f in report.files if f.worker})
    report.worker_memory_bytes = max((f.worker_memory_bytes for f in report.files), default=0)


def add_process_usage(report: RunReport, cpu_seconds: float) -> None:
    """Note on ``report`` what a run that worked in this process used: ``cpu_seconds``, its peak memory, one worker."""
    report.cpu_seconds = cpu_seconds
    report.peak_memory_bytes = peak_memory_bytes()
    report.workers = 1
    report.worker_memory_bytes = 0
