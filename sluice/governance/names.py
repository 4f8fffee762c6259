"""Person names: word lists of given and family names, and a vectorised check of a string column.

The word lists (``names/given.txt``, ``names/family.txt``) ship with Sluice:
they were derived from the person providers of the Faker package (MIT
licence, notice in each file) for the locales listed in their header, by
``bench/pii.py --build-lexicon``. Words are folded (accents removed, lower case)
on both sides, so ``Zoë`` matches ``zoe``.

A value counts as a person name when it has the shape of one (two to four
words of letters, optionally ``Family, Given`` or with a quoted nickname)
and at least one of its words is a known given name and another a known
given or family name, or every word is capitalised. Shape alone would take
product names and cities; the lists alone would take ``May`` or ``Rose``.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from importlib.resources import files

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Two to four words of letters (with ' - . inside), the second optionally after a comma,
# and at most one quoted nickname between them.
NAME_SHAPE = r"^\p{L}[\p{L}'’.\-]*(?:(?:,\s*|\s+)(?:\"[^\"]{1,30}\"\s+)?\p{L}[\p{L}'’.\-]*){1,3}$"
_PARTICLES = "van|von|de|der|den|da|del|di|du|le|la|y|zu|ten|ter"
# Every word capitalised (particles and a quoted nickname aside).
CAPITALISED = rf"^(?:\p{{Lu}}[\p{{L}}'’.\-]*(?:,?\s+|$)|\"[^\"]*\"\s+|(?:{_PARTICLES})\s+)+$"
_SPLIT = r"[\s,\"'’.\-]+"


def fold(word: str) -> str:
    """``word`` without accents, in lower case: how the word lists and the scan compare words."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def fold_array(values: pa.Array) -> pa.Array:
    """:func:`fold` over an Arrow string array."""
    decomposed = pc.utf8_normalize(values, form="NFKD")
    return pc.utf8_lower(pc.replace_substring_regex(decomposed, pattern=r"\p{Mn}", replacement=""))


@dataclass(frozen=True)
class Lexicon:
    given: pa.Array  # folded given names
    known: pa.Array  # folded given and family names


def _words(name: str) -> pa.Array:
    text = files("sluice.governance").joinpath("names", name).read_text(encoding="utf-8")
    return pa.array(sorted({w for w in text.splitlines() if w and not w.startswith("#")}), pa.string())


@functools.cache
def lexicon() -> Lexicon:
    """The shipped word lists, loaded once per process."""
    given = _words("given.txt")
    return Lexicon(given=given, known=pa.concat_arrays([given, _words("family.txt")]).unique())


def _hits_per_row(flat: pa.Array, parents: np.ndarray, words: pa.Array, rows: int) -> np.ndarray:
    hit = pc.is_in(flat, value_set=words).to_numpy(zero_copy_only=False)
    return np.bincount(parents, weights=hit.astype(np.float64), minlength=rows)


def person_names(values: pa.Array) -> np.ndarray:
    """Which of the non-null strings ``values`` look like a person's name (null: False)."""
    shaped = pc.fill_null(pc.match_substring_regex(values, NAME_SHAPE), False).to_numpy(zero_copy_only=False)
    found = np.zeros(len(values), dtype=bool)
    if not shaped.any():
        return found
    rows = np.flatnonzero(shaped)
    candidates = values.take(pa.array(rows))
    capitalised = pc.fill_null(pc.match_substring_regex(candidates, CAPITALISED), False).to_numpy(zero_copy_only=False)
    words = pc.split_pattern_regex(fold_array(candidates), pattern=_SPLIT)
    flat = pc.list_flatten(words)
    parents = pc.list_parent_indices(words).to_numpy(zero_copy_only=False)
    keep = pc.greater(pc.utf8_length(flat), 1).to_numpy(zero_copy_only=False)
    flat, parents = flat.filter(pa.array(keep)), parents[keep]
    known = lexicon()
    given = _hits_per_row(flat, parents, known.given, len(candidates))
    either = _hits_per_row(flat, parents, known.known, len(candidates))
    found[rows] = (given >= 1) & ((either >= 2) | capitalised)
    return found
