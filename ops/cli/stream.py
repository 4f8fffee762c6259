"""``ops stream``: stream sources against the lake: positions, the broker's end, the lag, consumers."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated

import typer

from ops.cli._tables import key, number, print_fitted, text
from ops.cli._utilities import OutputFormat, OutputOption, cell, load_settings, print_json, with_cli_exception_handling

if TYPE_CHECKING:
    from sluice.settings import Settings

app = typer.Typer(help="Stream sources (Kafka, Redis Streams, RabbitMQ): positions and lag.", no_args_is_help=True)


class Broker(enum.StrEnum):
    KAFKA = "kafka"
    REDIS = "redis"
    RABBITMQ = "rabbitmq"


def _address(broker: Broker, settings: Settings) -> str:
    """The broker's address from the stream settings (``SLUICE_KAFKA_BOOTSTRAP_SERVERS``, ``SLUICE_REDIS_URL``,
    ``SLUICE_RABBITMQ_URL``).

    Raises:
        StreamError: the settings name none.
    """
    from sluice.settings.streams import BROKER_SETTINGS
    from sluice.sources.streams.errors import StreamError

    found = settings.streams.address(broker.value)
    if found is None:
        raise StreamError(f"no address for {broker}", hint=f"pass --address or set {BROKER_SETTINGS[broker.value]}")
    return found


def _lake_positions(broker: Broker, topic: str, dataset: str, settings: Settings) -> dict[str, str]:
    """The last position per partition the dataset's lake table holds from ``broker:topic``."""
    from sluice.lake.table import table_uri
    from sluice.paths import ensure_dataset_name
    from sluice.sources.streams.positions import lake_positions

    uri = table_uri(settings.lake_root(), ensure_dataset_name(dataset))
    held = lake_positions(uri, f"{broker}:{topic}", dict(settings.lake_storage_options) or None)
    return {partition: at.text() for partition, at in held.items()}


def _paused(broker: Broker, topic: str, group: str, settings: Settings) -> set[str]:
    """The partitions a Sluice consumer of the stream holds paused for backpressure, as it recorded them."""
    from datetime import datetime, timezone

    from ops.metrics.store import open_store
    from ops.metrics.streams import paused_now
    from sluice.settings import MetricsBackend
    from sluice.sources.streams.lag import StreamTarget

    if settings.metrics.metrics_backend is MetricsBackend.PROMETHEUS:
        return set()
    store = open_store(settings.metrics, home=settings.home)
    target = StreamTarget(broker.value, topic, group)
    return paused_now(store, target, now=datetime.now(timezone.utc), environment=settings.env)


@app.command("status")
@with_cli_exception_handling
def status(
    broker: Annotated[Broker, typer.Option(help="The broker kind.")],
    topic: Annotated[str, typer.Option(help="The Kafka topic, Redis stream or RabbitMQ queue.")],
    address: Annotated[
        str | None, typer.Option(help="Bootstrap servers or URL (default: the stream settings).", show_default=False)
    ] = None,
    group: Annotated[str, typer.Option(help="The consumer group (Kafka, Redis).")] = "sluice",
    dataset: Annotated[
        str | None, typer.Option(help="The dataset the stream lands in: show the lake's position per partition.")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Per partition: the lake's position, the group's, the broker's end, the lag, pending messages, consumers,
    and whether a Sluice consumer holds it paused for backpressure.

    Lag is in messages the group has not consumed; a RabbitMQ queue has no positions, only its ready messages.
    Consumers are the group's members that own the partition (Kafka), the group's consumers (Redis) or the
    queue's (RabbitMQ); ``--output json`` names them in ``members``.
    """
    from sluice.sources.streams.lag import stream_lag

    settings = load_settings()
    options = settings.streams.kafka_client_options()
    found = stream_lag(broker.value, address or _address(broker, settings), topic, group, options)
    lake = _lake_positions(broker, topic, dataset, settings) if dataset else {}
    paused = _paused(broker, topic, group, settings)
    rows = [{**p.as_dict(), "lake": lake.get(p.partition), "paused": p.partition in paused} for p in found]
    if output is OutputFormat.JSON:
        print_json(rows)
        return
    columns = [key("Partition"), text("Lake", min_width=6), text("Group", min_width=6), text("End", min_width=6),
               number("Lag"), number("Pending"), number("Consumers"), text("Paused", min_width=6)]  # fmt: skip
    fields = ("partition", "lake", "position", "end", "lag", "pending", "consumers")
    print_fitted(columns, [[*(cell(r[f]) for f in fields), "paused" if r["paused"] else ""] for r in rows])
