"""Text columns of the sample files, built with pyarrow compute: no per-row Python."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from demo.sample_files import join


def as_text(values: np.ndarray) -> pa.Array:
    return pa.array(values).cast(pa.string())


def null_where(values: pa.Array, mask: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), values)


def customer_id(numbers: np.ndarray) -> pa.Array:
    return join("C", pc.utf8_lpad(as_text(numbers), width=6, padding="0"))


def money(cents: np.ndarray) -> pa.Array:
    return join(as_text(cents // 100), ".", pc.utf8_lpad(as_text(cents % 100), width=2, padding="0"))


def naive_text(seconds: np.ndarray, sep: str = " ") -> pa.Array:
    """``YYYY-MM-DD HH:MM:SS`` of epoch seconds, read as wall-clock time (much faster than strftime)."""
    text = pa.array(seconds, pa.int64()).cast(pa.timestamp("s")).cast(pa.string())
    return text if sep == " " else pc.replace_substring(text, " ", sep, max_replacements=1)


def day_first(text: pa.Array, sep: str, with_time: bool) -> pa.Array:
    """``DD<sep>MM<sep>YYYY[ HH:MM:SS]`` from ``YYYY-MM-DD HH:MM:SS``."""
    parts = [pc.utf8_slice_codeunits(text, a, b) for a, b in ((8, 10), (5, 7), (0, 4), (10, 19))]
    return pc.binary_join_element_wise(parts[0], sep, parts[1], sep, parts[2], parts[3] if with_time else "", "")


def by_style(style: np.ndarray, builders: list[Callable[[np.ndarray], pa.Array]]) -> pa.Array:
    """Build each style's text only for its own rows, then put the rows back in order."""
    order = np.argsort(style, kind="stable")
    groups = np.split(order, np.cumsum(np.bincount(style, minlength=len(builders)))[:-1])
    merged = pa.concat_arrays([build(rows) for build, rows in zip(builders, groups, strict=True)])
    rank = np.empty(len(style), dtype=np.int64)
    rank[order] = np.arange(len(style))
    return merged.take(pa.array(rank))
