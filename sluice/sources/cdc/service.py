"""What `ops cdc` shows and does: slots with their lag, a slot against the lake, dropping a slot."""

from __future__ import annotations

from dataclasses import dataclass

from sluice.sources.cdc import slots
from sluice.sources.cdc.positions import format_lsn, lake_lsn
from sluice.sources.cdc.slots import SlotInfo


@dataclass(frozen=True)
class SlotStatus:
    """A slot, and the LSN the lake table of its dataset holds (the slot never confirms past it)."""

    slot: SlotInfo
    lake_uri: str | None
    lake_lsn: int | None

    def as_dict(self) -> dict[str, object]:
        return {
            **self.slot.as_dict(),
            "lake_uri": self.lake_uri,
            "lake_lsn": format_lsn(self.lake_lsn) if self.lake_lsn is not None else None,
        }


def list_slots(dsn: str) -> list[SlotInfo]:
    with slots.connect(dsn) as conn:
        return slots.list_slots(conn)


def status(dsn: str, slot: str, lake_uri: str | None, storage_options: dict[str, str] | None = None) -> SlotStatus:
    with slots.connect(dsn, slot) as conn:
        slots.check_server(conn)
        info = slots.slot_info(conn, slot, with_seconds=True)
    held = lake_lsn(lake_uri, slot, storage_options) if lake_uri else None
    return SlotStatus(info, lake_uri, held)


def drop_slot(dsn: str, slot: str) -> None:
    with slots.connect(dsn, slot) as conn:
        slots.drop_slot(conn, slot)
