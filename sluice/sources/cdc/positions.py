"""Log sequence numbers as integers, and the LSN a lake table holds for a slot.

PostgreSQL prints an LSN as two hexadecimal halves, ``16/B374D848``; as an
integer it orders and subtracts (lag in bytes). Every lake commit of captured
changes records its slot and the commit LSN of its last transaction in the
commit metadata (``sluice.cdc``); the newest such commit is where a restart
resumes, whatever the slot says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sluice.lake.table import newest_metadata
from sluice.sources.cdc.errors import CdcDecodeError

_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")
CDC_META = "cdc"


def parse_lsn(text: str) -> int:
    """``"16/B374D848"`` as an integer.

    Raises:
        CdcDecodeError: ``text`` is not an LSN.
    """
    match = _LSN.match(text)
    if match is None:
        raise CdcDecodeError(f"{text!r} is not a PostgreSQL LSN", hint="an LSN looks like 16/B374D848")
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def format_lsn(value: int) -> str:
    """An integer LSN as PostgreSQL prints it."""
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class LakePosition:
    """What a lake commit of captured changes records: the slot, and the LSN range of its transactions."""

    slot: str
    first_lsn: int  # commit LSN of the batch's first transaction
    commit_lsn: int  # commit LSN of its last: every change up to here is in the lake

    def metadata(self) -> dict[str, object]:
        return {CDC_META: {"slot": self.slot, "from": format_lsn(self.first_lsn), "to": format_lsn(self.commit_lsn)}}

    @property
    def range(self) -> str:
        """The batch position the commit protocol records (with the source, it makes the batch id)."""
        return f"{format_lsn(self.first_lsn)}-{format_lsn(self.commit_lsn)}"


def lake_lsn(uri: str, slot: str, storage_options: dict[str, str] | None = None) -> int | None:
    """The highest commit LSN of ``slot`` the table at ``uri`` holds; ``None`` when it holds none.

    Commit LSNs of one slot only grow, so the newest commit that names the slot has it.
    """
    meta = newest_metadata(uri, CDC_META, lambda m: m.get("slot") == slot, storage_options)
    return parse_lsn(str(meta["to"])) if meta is not None else None
