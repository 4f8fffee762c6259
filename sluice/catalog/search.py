"""``ops catalog search``: datasets and columns by name, term, tag, PII class, owner or description.

Every word of the query must occur (case-insensitive, as a substring) in one
field of a hit. Hits rank by where the words matched: a name before a term,
a term before a tag or PII class, those before an owner or a description,
and an exact match before a partial one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sluice.catalog.entries import CatalogColumn, CatalogEntry
from sluice.errors import ConfigError

# The fields a hit can match in, best first.
FIELDS = ("name", "term", "tag", "pii", "owner", "description")
MAX_QUERY = 200


@dataclass(frozen=True)
class Hit:
    dataset: str
    column: str | None  # None: the dataset itself
    field: str  # one of FIELDS
    text: str  # the value that matched
    exact: bool

    @property
    def rank(self) -> tuple[int, int, str, str]:
        return (FIELDS.index(self.field), 0 if self.exact else 1, self.dataset, self.column or "")


def ensure_query(text: str) -> list[str]:
    """The query's words, lower-cased.

    Raises:
        ConfigError: an empty or overlong query.
    """
    words = text.lower().split()
    if not words or len(text) > MAX_QUERY:
        raise ConfigError(
            "the search text is empty" if not words else f"the search text is over {MAX_QUERY} characters",
            hint="search by a word of a dataset or column name, a glossary term, a tag or a PII class",
        )
    return words


def _dataset_fields(e: CatalogEntry) -> list[tuple[str, str]]:
    return [("name", e.dataset), *(("tag", t) for t in e.tags), ("owner", e.owner), ("description", e.description)]


def _column_fields(c: CatalogColumn) -> list[tuple[str, str]]:
    return [
        ("name", c.name),
        ("term", c.term),
        ("pii", c.pii),
        ("owner", c.term_owner),
        ("description", c.description),
        ("description", c.term_definition),
    ]


def _best(fields: list[tuple[str, str]], words: list[str]) -> tuple[str, str, bool] | None:
    for name, value in fields:
        low = value.lower()
        if value and all(w in low for w in words):
            return name, value, low == " ".join(words)
    return None


def search(entries: Iterable[CatalogEntry], text: str) -> list[Hit]:
    """The datasets and columns matching every word of ``text``, best first."""
    words = ensure_query(text)
    hits: list[Hit] = []
    for entry in entries:
        if found := _best(_dataset_fields(entry), words):
            hits.append(Hit(entry.dataset, None, *found))
        for column in entry.columns:
            if found := _best(_column_fields(column), words):
                hits.append(Hit(entry.dataset, column.name, *found))
    return sorted(hits, key=lambda h: h.rank)
