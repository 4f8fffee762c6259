"""A small disk under the drill's lake, and filling it up.

The drill mounts a tmpfs of a few megabytes on its own lake folder (root
only), writes a ballast file that leaves only a few kilobytes free, and so
makes the next commit fail with ``No space left on device``. Removing the
ballast is the rollback; the tmpfs is unmounted when the stack closes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ops.errors import ChaosError

BALLAST = ".chaos-ballast"


CAP_SYS_ADMIN = 21  # the capability bit mount(2) checks
TOOLS = ("mount", "umount")


def has_capability(bit: int, status: Path = Path("/proc/self/status")) -> bool | None:
    """Whether this process holds the capability ``bit`` (``CapEff``); None where the kernel does not say."""
    try:
        lines = status.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("CapEff:"):
            return bool(int(line.split(":", 1)[1].strip(), 16) >> bit & 1)
    return None


def why_no_tmpfs() -> str | None:
    """Why this process cannot mount a tmpfs (root, CAP_SYS_ADMIN, tmpfs, mount and umount), or None when it can."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root (or CAP_SYS_ADMIN)"
    if has_capability(CAP_SYS_ADMIN) is False:
        return "this process runs as root without CAP_SYS_ADMIN, which mounting needs (a container without it)"
    if not Path("/proc/filesystems").exists() or "tmpfs" not in Path("/proc/filesystems").read_text():
        return "the kernel offers no tmpfs"
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        return f"{' and '.join(absent)} not found on PATH ({os.environ.get('PATH', '')})"
    return None


def mount_tmpfs(path: Path, size_mb: int) -> None:
    """Mount an empty tmpfs of ``size_mb`` MiB on ``path`` (created if missing; must be empty)."""
    reason = why_no_tmpfs()
    if reason:
        raise ChaosError(f"cannot put a small disk under {path}: {reason}", hint="run disk drills as root")
    path.mkdir(parents=True, exist_ok=True)
    if any(path.iterdir()):
        raise ChaosError(f"{path} is not empty: mount the small disk before the first run writes the lake")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ChaosError(
            f"mount of a tmpfs on {path} failed: {done.stderr.strip() or done.returncode}",
            hint="the container may lack CAP_SYS_ADMIN",
        )


def fill(path: Path, *, leave_bytes: int) -> Path:
    """Write a ballast file under ``path`` so that only about ``leave_bytes`` stay free."""
    stats = os.statvfs(path)
    free = stats.f_bavail * stats.f_frsize
    ballast = path / BALLAST
    with ballast.open("wb") as handle:
        remaining = max(0, free - leave_bytes)
        block = b"\0" * (1 << 20)
        while remaining > 0:
            written = handle.write(block[: min(len(block), remaining)])
            remaining -= written
    return ballast


def unmount(path: Path) -> bool:
    """Unmount the tmpfs at ``path``; False (and nothing removed) if it is still busy."""
    done = subprocess.run(["umount", str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        done = subprocess.run(["umount", "-l", str(path)], capture_output=True, text=True, check=False)
    return done.returncode == 0
