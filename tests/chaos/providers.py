"""Probes and actions of the runner's own tests: a tiny system of flags, and a log of what ran."""

from __future__ import annotations

import time
from typing import Any

FLAGS: set[str] = set()
CALLS: list[str] = []


def reset() -> None:
    FLAGS.clear()
    CALLS.clear()


def flag_down(flag: str) -> dict[str, Any]:
    """Holds while ``flag`` is not raised."""
    return {"status": "broken" if flag in FLAGS else "held", "detail": f"{flag} is {'up' if flag in FLAGS else 'down'}"}


def raise_flag(flag: str, name: str = "", linger: float = 0.0) -> dict[str, Any]:
    CALLS.append(name or f"raise {flag}")
    FLAGS.add(flag)
    time.sleep(linger)
    return {"detail": f"raised {flag}"}


def record(name: str, linger: float = 0.0) -> dict[str, Any]:
    CALLS.append(name)
    time.sleep(linger)
    return {"detail": f"ran {name}"}


def fail(name: str) -> None:
    CALLS.append(name)
    raise RuntimeError(f"{name} could not inject its fault")
