"""Replication-slot lag of PostgreSQL change capture as metrics, one series per slot.

``sluice_cdc_slot_lag_bytes`` is the WAL the server keeps for the slot (its
current LSN minus the slot's confirmed one); ``sluice_cdc_slot_lag_seconds``
is how old the oldest commit the slot still has to deliver is (0 when it has
none; left out while a consumer holds the slot, since it cannot be read
then). Samples are stamped at collection time and labelled ``slot``,
``database``, ``server`` (host:port) and ``environment``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ops.metrics.models import Sample, utc
from ops.metrics.store import MetricsStore
from sluice.sources.cdc.slots import SlotInfo

SLOT_LAG_BYTES = "sluice_cdc_slot_lag_bytes"
SLOT_LAG_SECONDS = "sluice_cdc_slot_lag_seconds"
CDC_METRICS = (SLOT_LAG_BYTES, SLOT_LAG_SECONDS)


def server_label(dsn: str) -> str:
    """``host:port`` of a libpq URL, without user or password (a label must not carry a secret)."""
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(dsn)
    return f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}"


def slot_samples(found: list[SlotInfo], now: datetime, *, server: str, environment: str) -> list[Sample]:
    """The lag samples of ``found`` at ``now``; a value the server could not give is left out."""
    samples = []
    for info in found:
        labels = {"slot": info.name, "database": info.database, "server": server, "environment": environment}
        if info.lag_bytes is not None:
            samples.append(Sample(SLOT_LAG_BYTES, labels, now, info.lag_bytes))
        if info.lag_seconds is not None:
            samples.append(Sample(SLOT_LAG_SECONDS, labels, now, info.lag_seconds))
    return samples


def collect_slot_metrics(
    store: MetricsStore, dsn: str, *, now: datetime | None = None, environment: str = "dev"
) -> int:
    """Write the lag of every logical slot of the server at ``dsn`` to ``store``; returns the samples written.

    Raises:
        CdcUnreachableError: the server cannot be reached.
        CdcError: the server cannot be read (one line, with a hint).
        ReadOnlyStoreError: the store is Prometheus, which scrapes rather than receives.
    """
    from sluice.sources.cdc.service import list_slots

    now = utc(now) if now else datetime.now(timezone.utc)
    store.write([])
    found = list_slots(dsn)
    return store.write(slot_samples(found, now, server=server_label(dsn), environment=environment))
