"""The person-name word lists of :mod:`sluice.governance.names`, built from Faker's person providers.

``bench/pii.py --build-lexicon`` calls :func:`build`, which writes
``sluice/governance/names/given.txt`` and ``family.txt`` from every locale of
Faker's person provider but those in :data:`HELD_OUT_LOCALES`. Those are never
read here: the evaluation (``bench/pii.py``, the tests) draws names from them
to measure the detector on names it has not seen.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

from sluice.governance.names import fold

HELD_OUT_LOCALES = ("cs_CZ", "fi_FI", "hu_HU", "ro_RO", "hr_HR", "tr_TR", "sk_SK", "sl_SI", "lt_LT", "et_EE")


def lexicon_locales() -> tuple[str, ...]:
    """Every locale of Faker's person provider but the held-out ones."""
    from faker.providers import person

    folder = Path(person.__file__).parent
    found = sorted(p.name for p in folder.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    return tuple(loc for loc in found if loc not in HELD_OUT_LOCALES)


OUT = Path(__file__).resolve().parents[1] / "sluice" / "governance" / "names"

NOTICE = """# {what} names, folded (no accents, lower case), one a line: sluice.governance.names.
# Derived by bench/pii.py --build-lexicon (bench/pii_names.py) from the person providers of Faker, {locales}.
# Faker: Copyright (c) 2012 Daniele Faraglia. Released under the MIT License:
# Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
# associated documentation files (the "Software"), to deal in the Software without restriction,
# including without limitation the rights to use, copy, modify, merge, publish, distribute,
# sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
# furnished to do so, subject to the following conditions: The above copyright notice and this
# permission notice shall be included in all copies or substantial portions of the Software.
# THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
# NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
# NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
# DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
# OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def provider_names(locale: str, prefix: str) -> set[str]:
    """Every name of ``locale``'s person provider in the lists whose attribute starts with ``prefix``."""
    provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    names: set[str] = set()
    for attr in dir(provider):
        value = getattr(provider, attr)
        if attr.startswith(prefix) and isinstance(value, (tuple, list, dict)):
            names.update(str(v) for v in value)
    return names


def words(names: Iterable[str]) -> set[str]:
    """The folded words of ``names``, two letters or more ("Jean-Pierre" gives jean and pierre)."""
    found = set()
    for name in names:
        for word in fold(name).replace("-", " ").replace("'", " ").split():
            if len(word) > 1 and word.isalpha():
                found.add(word)
    return found


def build() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    used = lexicon_locales()
    locales = "every locale but " + ", ".join(HELD_OUT_LOCALES)
    for what, prefix, name in (("Given", "first_names", "given.txt"), ("Family", "last_names", "family.txt")):
        found = set().union(*(words(provider_names(loc, prefix)) for loc in used))
        (OUT / name).write_text(
            NOTICE.format(what=what, locales=locales) + "\n".join(sorted(found)) + "\n", encoding="utf-8"
        )
        print(f"{name}: {len(found)} words")
