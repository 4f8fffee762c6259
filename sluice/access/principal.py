"""Who reads: the principal a validated ID token names, with the attributes policies decide on."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CLEARANCE_LEVELS = ("public", "internal", "confidential", "restricted")
Clearance = Literal["public", "internal", "confidential", "restricted"]
Attribute = Literal["subject", "department", "region", "clearance"]


class Principal(BaseModel):
    """A reader: ``subject`` and ``issuer`` identify them in the audit; roles and attributes decide what they see."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = Field(min_length=1, max_length=256)
    issuer: str = Field(min_length=1, max_length=512)
    roles: frozenset[str] = frozenset()
    department: str | None = Field(default=None, max_length=256)
    region: str | None = Field(default=None, max_length=256)
    clearance: Clearance | None = None
    name: str | None = Field(default=None, max_length=256)

    def attribute(self, name: Attribute) -> str | None:
        value: str | None = getattr(self, name)
        return value

    def clearance_rank(self) -> int:
        """0 for ``public`` up to 3 for ``restricted``; -1 without a clearance."""
        return CLEARANCE_LEVELS.index(self.clearance) if self.clearance else -1
