"""What the host faults' child processes run (:mod:`chaos.hostfaults`): standard library only, so that a
spawned child starts at once on a loaded host.

A CPU hog is a set of shell busy loops (:func:`start_spinners`), as stress tools run them: each keeps a
core busy in about a megabyte, so the hog moves the host's CPU and hardly its memory. A Python spinner
would start an interpreter per core and take tens of megabytes each, a memory fault of its own.
"""

from __future__ import annotations

import shutil
import subprocess
import time

BUSY_LOOP = "while :; do :; done"


def start_spinners(count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` shell busy loops, each keeping one core busy until killed."""
    shell = shutil.which("sh") or "/bin/sh"
    return [
        subprocess.Popen(
            [shell, "-c", BUSY_LOOP], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(count)
    ]


def balloon(megabytes: int, seconds: float) -> None:
    """Touch ``megabytes`` in 50 MB blocks over ``seconds``, then hold them until killed."""
    blocks, steps = [], max(1, megabytes // 50)
    for _ in range(steps):
        blocks.append(bytearray(b"\x01") * (50 << 20))  # filled, so every page is resident
        time.sleep(seconds / steps)
    while True:
        time.sleep(3600)
