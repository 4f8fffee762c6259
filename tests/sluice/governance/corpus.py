"""A labelled corpus for the PII detectors: tables generated from a seed, each column with its true class.

Per seed, three tables:

- ``orders`` and ``customers`` from :mod:`demo.samples` (e-mails, full names,
  bad and warned rows included), read as text;
- ``contacts``: one column per class in a format drawn from several
  (phones in international and national notation, IBANs of ten countries
  grouped or not, cards of five schemes, IPv4 and IPv6, national identifiers
  of five countries, names from Faker locales the shipped word lists were
  *not* built from), each with its own share of nulls, junk and mistyped
  values; and decoys that look alike: order numbers, SKUs, amounts, dates,
  postcodes, product, city and company names, 16-digit tracking numbers,
  11-digit account numbers, IBANs with a wrong checksum, versions, UUIDs,
  times, comments.

Checksums are computed here from their definitions, not with the libraries
the detectors use. Every value is a function of the seed.
"""

from __future__ import annotations

import string
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from bench.pii_names import HELD_OUT_LOCALES, provider_names
from demo.samples import generate_customers, generate_orders
from sluice.governance.classes import PiiClass

JUNK = ["n/a", "unknown", "-", "tbd", "none", "?", "0", "test", "see notes", "N/A"]
CITIES = ["New York", "Bad Homburg", "Frankfurt am Main", "São Paulo", "Rio de Janeiro", "Los Angeles",
          "Saint Louis", "San Francisco", "Mönchengladbach", "Den Haag", "La Rochelle", "Buenos Aires", "Hamburg",
          "Lyon", "Madrid", "Kraków", "Malmö", "Porto", "Cork", "Leeds", "Halle (Saale)", "Santa Cruz", "Le Havre",
          "Aix-en-Provence", "Stratford-upon-Avon", "Sankt Gallen", "Las Palmas", "Freiburg im Breisgau"]  # fmt: skip
ADJECTIVES = ["Blue", "Steel", "Classic", "Deluxe", "Compact", "Ultra", "Smart", "Organic", "Vintage", "Royal"]
NOUNS = ["Widget", "Kettle", "Chair", "Lamp", "Backpack", "Blender", "Jacket", "Garden Hose", "Speaker", "Mug"]
COMPANY = ["Logistik GmbH", "Holding AG", "& Partner", "Ltd", "Trading Co", "Consulting", "SARL", "Group"]
WORDS = ["please", "deliver", "after", "five", "call", "before", "gate", "code", "leave", "at", "door", "fragile"]


@dataclass(frozen=True)
class LabelledColumn:
    table: str
    name: str
    values: pa.Array
    label: PiiClass | None


# --- checksums, from their definitions --------------------------------------------------------------


def luhn_digit(payload: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def iban(country: str, bban: str) -> str:
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


IBAN_BBAN = {"DE": "18n", "FR": "23n", "GB": "4a14n", "NL": "4a10n", "IT": "1a22n", "CH": "17n", "AT": "16n",
             "PL": "24n", "SE": "20n", "DK": "14n"}  # fmt: skip
CARD_PREFIX = {"visa": (["4"], 16), "mastercard": (["51", "53", "55", "2221", "2720"], 16), "amex": (["34", "37"], 15),
               "discover": (["6011", "65"], 16), "jcb": (["3530", "3566"], 16)}  # fmt: skip


class Gen:
    """Values of each kind, drawn from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def digits(self, n: int) -> str:
        return "".join(self.rng.choice(list(string.digits), n))

    def letters(self, n: int) -> str:
        return "".join(self.rng.choice(list(string.ascii_uppercase), n))

    def date(self) -> str:
        y, m, d = self.rng.integers(2020, 2027), self.rng.integers(1, 13), self.rng.integers(1, 29)
        return f"{d:02d}.{m:02d}.{y}" if self.rng.random() < 0.5 else f"{y}-{m:02d}-{d:02d}"

    def pick(self, items: list[str]) -> str:
        return str(items[int(self.rng.integers(len(items)))])

    def iban(self, grouped: bool) -> str:
        country = self.pick(list(IBAN_BBAN))
        bban = ""
        for part in IBAN_BBAN[country].replace("n", "n ").replace("a", "a ").split():
            count, kind = int(part[:-1]), part[-1]
            bban += self.digits(count) if kind == "n" else self.letters(count)
        text = iban(country, bban)
        return " ".join(text[i : i + 4] for i in range(0, len(text), 4)) if grouped else text

    def card(self, style: int) -> str:
        prefixes, length = CARD_PREFIX[self.pick(list(CARD_PREFIX))]
        payload = self.pick(prefixes)
        payload += self.digits(length - 1 - len(payload))
        number = payload + luhn_digit(payload)
        if style == 0:
            return number
        sep = " " if style == 1 else "-"
        return sep.join(number[i : i + 4] for i in range(0, len(number), 4))

    def phone(self, style: int) -> str:
        if style == 0:  # German mobile, international
            return f"+49 15{self.rng.integers(1, 8)}{self.rng.integers(0, 10)} {self.digits(7)}"
        if style == 1:  # UK mobile, E.164
            return f"+447{self.rng.integers(4, 10)}{self.digits(8)}"
        if style == 2:  # US, national with separators (area and exchange codes start 2-9, no N11)
            area = f"{self.rng.integers(2, 10)}{self.rng.integers(0, 9)}{self.rng.integers(2, 10)}"
            return f"({area}) {self.rng.integers(2, 10)}{self.rng.integers(2, 10)}{self.digits(1)}-{self.digits(4)}"
        if style == 3:  # Berlin landline, national
            return f"030 {self.rng.integers(2, 10)}{self.digits(7)}"
        if style == 4:  # French mobile, national
            return "0" + str(self.rng.integers(6, 8)) + " " + " ".join(self.digits(2) for _ in range(4))
        return f"0049 17{self.rng.integers(0, 10)} {self.digits(7)}"  # German mobile, 00 prefix

    def ip(self, v6: bool) -> str:
        if v6:
            groups = [f"{int(g):x}" for g in self.rng.integers(0, 65536, 8)]
            return "2001:db8:" + ":".join(groups[2:]) if self.rng.random() < 0.5 else ":".join(groups)
        return ".".join(str(int(x)) for x in self.rng.integers(1, 255, 4))

    def national_id(self, scheme: int) -> str:
        if scheme == 0:  # US SSN: area 001-665, 667-899; group 01-99; serial 0001-9999
            area = int(self.rng.choice([*range(1, 666), *range(667, 900)]))
            return f"{area:03d}-{self.rng.integers(1, 100):02d}-{self.rng.integers(1, 10000):04d}"
        if scheme == 1:  # NL BSN: eleven-test
            while True:
                d = [int(x) for x in self.digits(8)]
                rest = sum((9 - i) * v for i, v in enumerate(d)) % 11
                if rest != 10 and d[0] != 0:
                    return "".join(map(str, d)) + str(rest)
        if scheme == 2:  # ES DNI: number mod 23 letter
            n = int(self.rng.integers(10_000_000, 100_000_000))
            return f"{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[n % 23]}"
        if scheme == 3:  # SE personnummer: YYMMDD-NNNN, Luhn over the ten digits
            date = f"{self.rng.integers(40, 100):02d}{self.rng.integers(1, 13):02d}{self.rng.integers(1, 29):02d}"
            payload = date + self.digits(3)
            return f"{date}-{payload[6:]}{luhn_digit(payload)}"
        payload = "756" + self.digits(9)  # CH AHV: EAN-13 check digit
        check = (10 - sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(payload)) % 10) % 10
        return f"{payload[:3]}.{payload[3:7]}.{payload[7:11]}.{payload[11:]}{check}"


def _held_out_names(locale: str) -> tuple[list[str], list[str]]:
    given = sorted(provider_names(locale, "first_names"))
    family = sorted(provider_names(locale, "last_names"))
    return given, family


def _name(gen: Gen, given: list[str], family: list[str], style: int) -> str:
    first, last = gen.pick(given), gen.pick(family)
    return [f"{first} {last}", f"{last}, {first}", f"{first} {gen.pick(given)} {last}", f"{first} {last}".upper()][
        style
    ]


def _dirty(gen: Gen, clean: list[str], mistype: bool) -> list[str | None]:
    """``clean`` with a share of nulls, junk and (optionally) one mistyped digit, each share drawn per column."""
    nulls, junk, typo = gen.rng.uniform(0, 0.3), gen.rng.uniform(0, 0.25), gen.rng.uniform(0, 0.1) if mistype else 0
    out: list[str | None] = []
    for value in clean:
        u = gen.rng.random()
        if u < nulls:
            out.append(None)
        elif u < nulls + junk:
            out.append(gen.pick(JUNK))
        elif u < nulls + junk + typo:
            i = int(gen.rng.integers(len(value)))
            out.append(value[:i] + str((int(value[i]) + 1) % 10) + value[i + 1 :] if value[i].isdigit() else value)
        else:
            out.append(value)
    return out


def _positives(gen: Gen, rows: int) -> list[LabelledColumn]:
    given, family = _held_out_names(gen.pick(list(HELD_OUT_LOCALES)))
    make = {  # name, class, number of formats, value of a format
        "phone": (PiiClass.PHONE, 6, gen.phone),
        "iban": (PiiClass.IBAN, 2, lambda style: gen.iban(bool(style))),
        "card_number": (PiiClass.CARD, 3, gen.card),
        "client_ip": (PiiClass.IP, 2, lambda style: gen.ip(bool(style))),
        "holder_name": (PiiClass.PERSON_NAME, 4, lambda style: _name(gen, given, family, style)),
        "national_id": (PiiClass.NATIONAL_ID, 5, gen.national_id),  # one country's identifiers per column
    }
    columns = []
    for name, (cls, formats, draw) in make.items():
        fixed = int(gen.rng.integers(formats))
        mixed = cls is not PiiClass.NATIONAL_ID and gen.rng.random() < 0.5  # else one format throughout
        clean = [draw(int(gen.rng.integers(formats)) if mixed else fixed) for _ in range(rows)]
        values = _dirty(gen, clean, cls is not PiiClass.PERSON_NAME)
        columns.append(LabelledColumn("contacts", name, pa.array(values, pa.string()), cls))
    return columns


def _decoys(gen: Gen, rows: int) -> list[LabelledColumn]:
    r = gen.rng
    make = {
        "order_number": lambda: str(r.integers(1_000_000, 9_999_999_999)),
        "sku": lambda: f"SKU-{gen.digits(5)}-{gen.letters(2)}",
        "amount": lambda: f"{r.uniform(0, 5000):.2f}",
        "delivery_date": gen.date,
        "postcode": lambda: gen.digits(5),
        "product": lambda: f"{gen.pick(ADJECTIVES)} {gen.pick(NOUNS)}",
        "city": lambda: gen.pick(CITIES),
        "company": lambda: f"{gen.pick(['Acme', 'Nordwind', 'Globex', 'Initech', 'Vandelay'])} {gen.pick(COMPANY)}",
        "tracking_number": lambda: gen.digits(16),
        "account_number": lambda: gen.digits(11),
        "reference": lambda: gen.iban(False)[:2] + f"{(int(gen.digits(2)) + 1) % 100:02d}" + gen.iban(False)[4:],
        "version": lambda: f"{r.integers(0, 20)}.{r.integers(0, 30)}.{r.integers(0, 100)}",
        "request_id": lambda: str(uuid.UUID(int=int(r.integers(0, 2**63)) << 64 | int(r.integers(0, 2**63)))),
        "pickup_time": lambda: f"{r.integers(0, 24):02d}:{r.integers(0, 60):02d}:{r.integers(0, 60):02d}",
        "comment": lambda: " ".join(gen.pick(WORDS) for _ in range(int(r.integers(2, 7)))),
        "ticket": lambda: gen.digits(10),
    }
    return [
        LabelledColumn("contacts", name, pa.array(_dirty(gen, [draw() for _ in range(rows)], False), pa.string()), None)
        for name, draw in make.items()
    ]


_LABELS = {
    ("orders", "email"): PiiClass.EMAIL,
    ("customers", "email"): PiiClass.EMAIL,
    ("customers", "full_name"): PiiClass.PERSON_NAME,
}


def _demo_tables(seed: int, rows: int) -> list[LabelledColumn]:
    columns = []
    with tempfile.TemporaryDirectory() as tmp:
        for make in (generate_orders, generate_customers):
            manifest = make(tmp, rows=rows, seed=seed)
            path = Path(manifest.files[0])
            names = path.open(encoding="utf-8").readline().strip().split(",")
            table = pacsv.read_csv(
                path,
                convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
                parse_options=pacsv.ParseOptions(invalid_row_handler=lambda row: "skip"),
            )
            for name in table.column_names:
                values = table.column(name).combine_chunks()
                columns.append(LabelledColumn(manifest.dataset, name, values, _LABELS.get((manifest.dataset, name))))
    return columns


def corpus(seed: int, rows: int = 1000) -> list[LabelledColumn]:
    """Every labelled column of ``seed``: the demo tables, the contacts' PII columns and the decoys."""
    gen = Gen(seed)
    return [*_demo_tables(seed, rows), *_positives(gen, rows), *_decoys(gen, rows)]
