"""Find or start a local Prefect server (SQLite, the embedded default)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from sluice.errors import ConfigError

DEFAULT_API = "http://127.0.0.1:4200/api"


@dataclass(frozen=True)
class ServerInfo:
    api_url: str
    ui_url: str
    started: bool
    pid: int | None
    log: Path | None


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def ensure_server(home: Path, *, api_url: str | None = None, wait_seconds: float = 120) -> ServerInfo:
    """Use the server at ``api_url`` (or PREFECT_API_URL) if healthy; else start one in the background.

    Raises:
        ConfigError: the server did not become healthy in time; the log path is in the message.
    """
    url = api_url or os.environ.get("PREFECT_API_URL") or DEFAULT_API
    ui = url.removesuffix("/api")
    if healthy(url):
        return ServerInfo(url, ui, started=False, pid=None, log=None)
    if url != DEFAULT_API:
        raise ConfigError(
            f"the Prefect API at {url} is not answering",
            hint="start it, or unset PREFECT_API_URL to let Sluice start a local server",
        )
    home.mkdir(parents=True, exist_ok=True)
    log = home / "prefect-server.log"
    prefect = shutil.which("prefect", path=str(Path(sys.executable).parent)) or "prefect"
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_API_URL": url}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [prefect, "server", "start", "--host", "127.0.0.1", "--port", "4200"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    (home / "prefect-server.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if healthy(url):
            return ServerInfo(url, ui, started=True, pid=proc.pid, log=log)
        if proc.poll() is not None:
            break
        time.sleep(1)
    raise ConfigError(f"the Prefect server did not start within {wait_seconds:.0f} s", hint=f"see {log}")
