"""Each detector takes valid values of its class and refuses look-alikes that fail the check."""

from __future__ import annotations

import pyarrow as pa
import pytest

from sluice.governance.classes import PiiClass
from sluice.governance.detectors import DETECTORS, confidences, normalise
from sluice.governance.pii import propose


def matched(cls: PiiClass, values: list[str | None]) -> list[bool]:
    detector = next(d for d in DETECTORS if d.cls is cls)
    return detector.matches(normalise(pa.array(values, pa.string()))).tolist()


@pytest.mark.parametrize(
    ("cls", "good", "bad"),
    [
        (PiiClass.EMAIL, ["anna.müller@example.com", "zoë+news@mail.example.de"],
         ["anna@", "@example.com", "a b@c.de"]),
        (PiiClass.PHONE, ["+49 151 23456789", "030 12345678", "(212) 555-0123", "0044 20 7946 0958"],
         ["01.02.2024", "2024-10-01", "1000001", "+49 1"]),
        (PiiClass.IBAN, ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432"],
         ["DE88 3704 0044 0532 0130 00", "XX82WEST12345698765432"]),
        (PiiClass.CARD, ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"],
         ["4111 1111 1111 1112", "1234567812345670", "9111111111111111"]),
        (PiiClass.IP, ["192.168.0.1", "2001:db8::1", "::1"], ["999.1.1.1", "12:30:00", "1.2.3"]),
        (PiiClass.NATIONAL_ID, ["536-90-4399", "111222333", "54362315K", "880320-0016", "756.9217.0769.85"],
         ["000-12-3456", "111222334", "54362315A", "880320-0017"]),
        (PiiClass.PERSON_NAME, ["Anna Müller", "Müller, Anna", 'José "Pepe" García', "ZOË DUBOIS"],
         ["Blue Steel Widget", "anna", "Anna Müller 42", "Frankfurt am Main"]),
    ],
)  # fmt: skip
def test_a_detector_takes_its_class_and_refuses_values_that_fail_the_check(cls, good, bad):
    assert matched(cls, good) == [True] * len(good)
    assert matched(cls, bad) == [False] * len(bad)


def test_confidence_is_the_share_of_non_null_values_that_match():
    values = pa.array(["a@example.com", "b@example.com", "n/a", None, "  ", "c@example.com"])

    evidence = confidences(values)

    assert evidence.values == 4  # the null and the blank are not counted
    assert evidence.confidences == {PiiClass.EMAIL: 0.75}


def test_integers_are_scanned_as_text():
    evidence = confidences(pa.array([4111111111111111, 5500000000000004, 378282246310005], pa.int64()))

    assert evidence.confidences == {PiiClass.CARD: 1.0}


def test_the_stricter_class_wins_when_two_reach_the_threshold():
    # A Swedish personnummer has the shape of a North American phone number, and passes as one.
    ids = pa.array(["560122-5054", "880320-0016", "811218-9876", "640823-3234"])

    evidence = confidences(ids)

    assert PiiClass.PHONE in evidence.confidences
    assert propose(evidence)[0] is PiiClass.NATIONAL_ID


def test_an_empty_column_proposes_nothing():
    evidence = confidences(pa.array([None, "", None], pa.string()))

    assert (evidence.values, evidence.confidences) == (0, {})
    assert propose(evidence) == (None, 0.0)
