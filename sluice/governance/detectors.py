"""Detectors of personal data in a string column: a vectorised shape test, then a check of each distinct candidate.

Each :class:`Detector` first matches the whole column against a regular
expression with Arrow (RE2, no Python per row), then validates each distinct
value that matched: the IBAN checksum and country length and national
identifiers with ``python-stdnum``, the Luhn digit and issuer prefix of card
numbers, phone numbers with ``phonenumbers`` (libphonenumber's numbering
plans), IP addresses with :mod:`ipaddress`. Person names are matched against
shipped word lists (:mod:`sluice.governance.names`).

:func:`confidences` gives, for each class, the share of a column's non-null
values that match: a confidence of 0.93 means 93 % of the sampled values
passed the shape and the check.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from stdnum import iban, luhn
from stdnum.ch import ssn as ch_ssn
from stdnum.de import idnr
from stdnum.dk import cpr
from stdnum.es import dni
from stdnum.fr import nir
from stdnum.gb import nhs
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.pl import pesel
from stdnum.se import personnummer
from stdnum.us import ssn as us_ssn

from sluice.governance.classes import PiiClass
from sluice.governance.names import person_names

# Phone numbers in national notation (a trunk 0, no +) are tried in these numbering plans.
PHONE_REGIONS = ("DE", "AT", "CH", "GB", "FR", "NL", "BE", "IT", "ES", "DK", "SE", "PL", "IE")
_DATE_LIKE = r"^\d{1,4}[./\-]\d{1,2}[./\-]\d{1,4}$"
_NON_DIGITS = re.compile(r"\D")


@dataclass(frozen=True)
class Detector:
    """One class of personal data: a shape every value must have, and a check of each distinct value of that shape."""

    cls: PiiClass
    shape: str  # RE2, matched against the whole (trimmed) value
    check: Callable[[str], bool] | None = None
    exclude: str | None = None  # RE2: values of the shape that are something else (dates)
    ignore_case: bool = False
    vectorised: Callable[[pa.Array], np.ndarray] | None = None  # replaces shape and check: one test of the column

    def matches(self, values: pa.Array) -> np.ndarray:
        """Which values of the string array ``values`` are of this class (null: False)."""
        if self.vectorised is not None:
            return self.vectorised(values)
        hit = _regex(values, self.shape, self.ignore_case)
        if self.exclude is not None and hit.any():
            hit &= ~_regex(values, self.exclude, False)
        if self.check is None or not hit.any():
            return hit
        distinct = pc.unique(values.filter(pa.array(hit)))
        valid = pa.array([v for v in distinct.to_pylist() if self.check(v)], pa.string())
        known = pc.fill_null(pc.is_in(values, value_set=valid), False).to_numpy(zero_copy_only=False)
        found: np.ndarray = hit & np.asarray(known, dtype=bool)
        return found


def _regex(values: pa.Array, pattern: str, ignore_case: bool) -> np.ndarray:
    found = pc.match_substring_regex(values, pattern, ignore_case=ignore_case)
    return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)


# --- checks of one value -------------------------------------------------------------------------


def _phone(value: str) -> bool:
    text = "+" + value[2:] if value.startswith("00") else value
    if text.startswith("+"):
        regions: tuple[str | None, ...] = (None,)
    else:  # a trunk 0 is national notation in Europe; without it, the North American plan
        regions = PHONE_REGIONS if text.startswith("0") else ("US", "CA")
    for region in regions:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


# Issuer prefixes (IIN ranges) and lengths of the payment card schemes.
_CARD_RANGES = (
    ((4,), (13, 16, 19)),  # Visa
    ((51, 52, 53, 54, 55), (16,)),  # Mastercard
    (tuple(range(2221, 2721)), (16,)),  # Mastercard 2-series
    ((34, 37), (15,)),  # American Express
    ((6011, 65, *range(644, 650)), (16, 17, 18, 19)),  # Discover
    ((36, 38, 39, *range(300, 306)), (14, 15, 16, 17, 18, 19)),  # Diners Club
    (tuple(range(3528, 3590)), (16, 17, 18, 19)),  # JCB
    ((62,), (16, 17, 18, 19)),  # UnionPay
    ((50, *range(56, 59), 6304, 6759, 6761, 6762, 6763), (12, 13, 14, 15, 16, 17, 18, 19)),  # Maestro
)


def _card(value: str) -> bool:
    digits = _NON_DIGITS.sub("", value)
    if not luhn.is_valid(digits):
        return False
    return any(
        len(digits) in lengths and any(digits.startswith(str(p)) for p in prefixes)
        for prefixes, lengths in _CARD_RANGES
    )


def _ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


# National identifiers: (shape, check) per scheme; a value is one when any scheme of its shape validates it.
_NATIONAL_IDS: tuple[tuple[re.Pattern[str], Callable[[str], bool]], ...] = tuple(
    (re.compile(shape, re.IGNORECASE), check)
    for shape, check in (
        (r"\d{3}-\d{2}-\d{4}", us_ssn.is_valid),  # US social security number, dashed
        (r"\d{11}|\d{2} \d{3} \d{3} \d{3}", lambda v: idnr.is_valid(v) or pesel.is_valid(v)),  # DE IdNr, PL PESEL
        (r"[12] ?\d{2} ?\d{2} ?(?:\d{2}|2A|2B) ?\d{3} ?\d{3} ?\d{2}", nir.is_valid),  # FR NIR
        (r"\d{9}|\d{4}\.\d{2}\.\d{3}", bsn.is_valid),  # NL BSN
        (r"\d{8}-?[A-Z]", dni.is_valid),  # ES DNI
        (r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]", codicefiscale.is_valid),
        (r"(?:\d{2})?\d{6}[-+]?\d{4}", lambda v: personnummer.is_valid(v) or cpr.is_valid(v)),  # SE, DK
        (r"756\.?\d{4}\.?\d{4}\.?\d{2}", ch_ssn.is_valid),  # CH AHV number
        (r"\d{3} ?\d{3} ?\d{4}", nhs.is_valid),  # GB NHS number
    )
)


def _national_id(value: str) -> bool:
    return any(shape.fullmatch(value) and check(value) for shape, check in _NATIONAL_IDS)


_ID_SHAPE = "|".join(f"(?:{p.pattern})" for p, _ in _NATIONAL_IDS)

DETECTORS: tuple[Detector, ...] = (
    Detector(
        PiiClass.EMAIL,
        r"^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~\-]+(?:\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~\-]+)*"
        r"@[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}\-]*[\p{L}\p{N}])?)*\.\p{L}{2,}$",
    ),
    Detector(
        PiiClass.PHONE,
        r"^(?:(?:\+|00)[1-9][\d \-./()]{5,20}\d|0[1-9][\d \-./()]{5,18}\d|\(?\d{3}\)?[ .\-]?\d{3}[ .\-]\d{4})$",
        _phone,
        exclude=_DATE_LIKE,
    ),
    Detector(PiiClass.IBAN, r"^[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}$", iban.is_valid, ignore_case=True),
    Detector(PiiClass.CARD, r"^\d(?:[ \-]?\d){11,18}$", _card),
    Detector(PiiClass.IP, r"^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f.]{0,15}){2,8})$", _ip),
    Detector(PiiClass.NATIONAL_ID, f"^(?:{_ID_SHAPE})$", _national_id, ignore_case=True),
    Detector(PiiClass.PERSON_NAME, "", vectorised=person_names),
)

# When several classes reach the threshold in a column, the one whose check is stricter wins:
# a Swedish personnummer (YYMMDD-NNNN) is also a well-formed North American phone number.
SPECIFICITY = (
    PiiClass.IBAN,
    PiiClass.CARD,
    PiiClass.EMAIL,
    PiiClass.NATIONAL_ID,
    PiiClass.IP,
    PiiClass.PHONE,
    PiiClass.PERSON_NAME,
)


def normalise(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``values`` as one string array, trimmed, with empty strings as nulls."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    text = pc.utf8_trim_whitespace(values.cast(pa.string()))
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


@dataclass(frozen=True)
class ColumnEvidence:
    """What the detectors found in one column's sample."""

    values: int  # non-null sampled values
    confidences: dict[PiiClass, float]  # share of those values each class matched, classes that matched any

    def best(self) -> tuple[PiiClass | None, float]:
        """The class with the highest confidence (ties: the more specific), or ``(None, 0.0)``."""
        if not self.confidences:
            return None, 0.0
        cls = max(self.confidences, key=lambda c: (self.confidences[c], -SPECIFICITY.index(c)))
        return cls, self.confidences[cls]


def confidences(values: pa.Array | pa.ChunkedArray) -> ColumnEvidence:
    """Run every detector over ``values`` (any type Arrow casts to string)."""
    text = normalise(values)
    present = len(text) - text.null_count
    if present == 0:
        return ColumnEvidence(0, {})
    found = {}
    for detector in DETECTORS:
        share = float(detector.matches(text).sum()) / present
        if share > 0:
            found[detector.cls] = share
    return ColumnEvidence(present, found)
