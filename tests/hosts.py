"""Test hosts on one machine: network namespaces on a bridge, each with its own scratch folder.

    this process (root namespace, 10.214.N.1) --bridge-- host a (10.214.N.11), host b (.12), ...

Every host is an ``ip netns`` namespace joined to a bridge in the root
namespace by a veth pair, so hosts reach each other and this process (at
the bridge's address), and nothing else: their loopback is their own. Each
host gets a private scratch folder, handed to what runs there as
``TMPDIR``, ``HOME`` and ``SLUICE_HOME``, so a design that quietly relies on
a local disk shared with the flow fails. :meth:`Host.kill` kills every
process in the namespace (``ip netns pids``), as a host that loses power.

The fixtures skip, with the reason, only where ``ip netns`` is not permitted.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, text=True)


def netns_permitted() -> str | None:
    """None when network namespaces can be made here, else why not."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return "network namespaces need root and iproute2 (`ip netns`)"
    probe = f"sl-probe-{os.getpid()}"
    done = subprocess.run(["ip", "netns", "add", probe], check=False, capture_output=True, text=True)
    if done.returncode != 0:
        return f"`ip netns add` is not permitted here: {done.stderr.strip()}"
    _run("ip", "netns", "del", probe)
    return None


def venv_bin(name: str) -> str:
    """A console script of this interpreter's environment (``dask``, ``prefect``)."""
    import sys

    return str(Path(sys.executable).parent / name)


@dataclass
class Host:
    """One test host: a network namespace, its address on the bridge and its private scratch folder."""

    name: str
    ip: str
    scratch: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """This process's environment with the host's own scratch folder as temp, home and Sluice home."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "PREFECT_", "DASK_"))}
        env.update(
            TMPDIR=str(self.scratch / "tmp"),
            HOME=str(self.scratch),
            SLUICE_HOME=str(self.scratch / "sluice"),
            PREFECT_HOME=str(self.scratch / "prefect"),
        )
        env.update(extra or {})
        return env

    def start(self, cmd: list[str], log: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``cmd`` in this host's namespace, its output in ``<scratch>/<log>.log``."""
        out = (self.scratch / f"{log}.log").open("ab")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.name, *cmd],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=self.env(env),
            cwd=str(self.scratch),
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def pids(self) -> list[int]:
        done = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True, check=False)
        return [int(p) for p in done.stdout.split()]

    def kill(self) -> list[int]:
        """Kill -9 every process in the namespace, as a host that loses power; the pids killed."""
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        return pids

    def log(self, name: str) -> str:
        path = self.scratch / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


@dataclass
class HostNet:
    """Hosts on one bridge; ``gateway`` is this process's address on it."""

    gateway: str
    hosts: dict[str, Host]

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]


def _subnet() -> int:
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=True).stdout
    free = [n for n in range(1, 250) if f"10.214.{n}." not in routes]
    return random.choice(free)


@contextlib.contextmanager
def host_network(names: list[str], scratch: Path) -> Iterator[HostNet]:
    """Namespaces ``names`` on a fresh bridge, each with ``scratch/<name>`` as its private folder.

    Every process left in a namespace is killed and the namespaces and the
    bridge are removed on exit.
    """
    tag = f"{os.getpid() % 10000}{random.randrange(100)}"
    n = _subnet()
    bridge = f"slbr{tag}"
    namespaces = {name: f"sl-{name}-{tag}" for name in names}
    hosts: dict[str, Host] = {}
    try:
        _run("ip", "link", "add", bridge, "type", "bridge")
        _run("ip", "addr", "add", f"10.214.{n}.1/24", "dev", bridge)
        _run("ip", "link", "set", bridge, "up")
        for i, (name, ns) in enumerate(namespaces.items()):
            outer, inner = f"slv{tag}{i}", f"sli{tag}{i}"
            _run("ip", "netns", "add", ns)
            _run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns)
            _run("ip", "link", "set", outer, "master", bridge)
            _run("ip", "link", "set", outer, "up")
            ip = f"10.214.{n}.{11 + i}"
            _run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", inner)
            _run("ip", "-n", ns, "link", "set", inner, "up")
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            folder = scratch / name
            (folder / "tmp").mkdir(parents=True)
            hosts[name] = Host(ns, ip, folder)
        yield HostNet(f"10.214.{n}.1", hosts)
    finally:
        for host in hosts.values():
            host.kill()
        for ns in namespaces.values():  # deleting a namespace deletes its end of each veth pair, and so the pair
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], check=False, capture_output=True)


def free_port() -> int:
    """A port free on every address here (namespaces have their own ports; this one avoids clashes in the root)."""
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        port: int = sock.getsockname()[1]
    return port


def wait_port(host: str, port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 90.0) -> None:
    """Wait until ``host:port`` accepts connections; fail with ``what`` if ``proc`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on {host}:{port} within {timeout:.0f} s")


__all__ = ["Host", "HostNet", "free_port", "host_network", "netns_permitted", "venv_bin", "wait_port"]
