"""Settings of the chaos drills, read from ``SLUICE_CHAOS_*`` environment variables.

``SLUICE_CHAOS_ENVIRONMENTS``
    The environments drills may run in (JSON list). Default ``["dev", "staging"]``:
    prod is refused unless a drill is started with an explicit override.
``SLUICE_CHAOS_PAGE``
    Whether incidents opened by drills may page anyone. Default ``false``: drill
    incidents are flagged ``is_drill`` and notifications must skip them unless
    this is ``true`` (the notification module reads :func:`drills_page`).
``SLUICE_CHAOS_PROBE_SECONDS``
    How often the steady-state hypothesis is checked while the method runs.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChaosSettings(BaseSettings):
    """Chaos drill configuration. Every field maps to ``SLUICE_CHAOS_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="SLUICE_CHAOS_", extra="ignore")

    environments: list[str] = Field(default_factory=lambda: ["dev", "staging"])
    page: bool = False
    probe_seconds: float = Field(default=2.0, gt=0)


def drills_page() -> bool:
    """True when drill incidents may page (``SLUICE_CHAOS_PAGE=true``); false by default."""
    return ChaosSettings().page
