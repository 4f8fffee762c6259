"""What the host faults' child processes run (:mod:`chaos.hostfaults`): standard library only, so that a
spawned child starts at once on a loaded host."""

from __future__ import annotations

import time
from typing import Any


def spin(started: Any = None) -> None:
    """Keep one core busy until killed; first count this process in ``started`` (a shared integer), if given."""
    if started is not None:
        with started.get_lock():
            started.value += 1
    while True:
        pass


def balloon(megabytes: int, seconds: float) -> None:
    """Touch ``megabytes`` in 50 MB blocks over ``seconds``, then hold them until killed."""
    blocks, steps = [], max(1, megabytes // 50)
    for _ in range(steps):
        blocks.append(bytearray(b"\x01") * (50 << 20))  # filled, so every page is resident
        time.sleep(seconds / steps)
    while True:
        time.sleep(3600)
