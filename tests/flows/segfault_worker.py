"""Runs a flow with Sluice's hooks that segfaults in native code, in a subprocess."""

from __future__ import annotations

import ctypes

from prefect import flow

from flows.hooks import INCIDENT_HOOKS


@flow(name="segfault-probe", **INCIDENT_HOOKS)
def read_address_zero() -> bytes:
    return ctypes.string_at(0)  # SIGSEGV: what a C extension fed pathological input does


if __name__ == "__main__":
    read_address_zero()
