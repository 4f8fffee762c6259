"""What a health check reports."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check; ``hint`` says what to do next when it is not OK."""

    name: str
    status: Status
    detail: str
    hint: str = ""

    @classmethod
    def ok(cls, name: str, detail: str) -> CheckResult:
        return cls(name, Status.OK, detail)

    @classmethod
    def warn(cls, name: str, detail: str, hint: str) -> CheckResult:
        return cls(name, Status.WARN, detail, hint)

    @classmethod
    def fail(cls, name: str, detail: str, hint: str) -> CheckResult:
        return cls(name, Status.FAIL, detail, hint)
