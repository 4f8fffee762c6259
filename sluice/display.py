"""How Sluice shows values to people: numbers as they are read, and names Prefect accepts as artifact keys."""

from __future__ import annotations

import math
import re

_NOT_IN_KEY = re.compile(r"[^a-z0-9]+")


def readable(value: float | None, digits: int = 3) -> str:
    """``value`` as a person reads it: a count whole, any other number to ``digits`` significant digits.

    Thousands are separated by commas and trailing zeros dropped:
    ``793.2620686809722`` reads ``793``, ``0.042137`` reads ``0.0421``,
    ``1234567.8`` reads ``1,230,000``, the count ``1234567`` reads
    ``1,234,567`` and ``None`` reads ``-``. Below 0.0001 a number is written
    in scientific notation (``1.23e-05``).
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude < -4:
        return f"{value:.{digits - 1}e}"
    decimals = digits - 1 - magnitude
    if decimals <= 0:
        return f"{round(value, decimals):,.0f}"
    return f"{value:,.{decimals}f}".rstrip("0").rstrip(".")


def artifact_key(*parts: str | None) -> str:
    """A Prefect artifact key from ``parts``: lowercase letters, digits and single dashes, empty parts left out.

    ``artifact_key("dev", "ingest", "Orders_EU")`` is ``dev-ingest-orders-eu``.
    """
    slugs = (_NOT_IN_KEY.sub("-", str(p).lower()).strip("-") for p in parts if p)
    return "-".join(s for s in slugs if s)
