"""A process that claims a staging run folder, fills it, and waits to be killed: a run in progress.

``python -m tests.staging_owner RUN_DIR BYTES`` prints ``ready`` once the
folder holds its owner file and a staged file of BYTES bytes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def start_owner(run_dir: Path, size: int = 1000) -> subprocess.Popen:
    """Start an owner of ``run_dir`` in another process; returns once the folder is claimed and filled."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.staging_owner", str(run_dir), str(size)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc`` (if it still runs) and reap it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


if __name__ == "__main__":
    from sluice.lake.staging_runs import claim_run

    folder = Path(sys.argv[1])
    claim_run(folder)
    batch = folder / "000000-batch" / "valid"
    batch.mkdir(parents=True)
    (batch / "c00000.arrow").write_bytes(b"x" * int(sys.argv[2]))
    print("ready", flush=True)
    time.sleep(600)
