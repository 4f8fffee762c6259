"""A vectorised byte scan of JSON Lines blocks, and their rewrite with every top-level value as text.

The scan parses no value. It finds, per line, where the strings, brackets,
colons and commas are, using numpy on the sparse positions of those bytes
only. From that it knows each line's exact nesting depth (so a hostile line
is refused before any recursive parser sees it) and where each top-level
value starts and ends.

:func:`rewrite` then turns every top-level value into a JSON string: a number
or ``true``/``false`` becomes its literal text, a nested object or array its
JSON text under its key with :data:`NESTED_MARK` appended (so the reader knows
it from a string that looks like JSON), and ``null`` stays null. Arrow's JSON reader, given an all-string
schema, then has no type to guess, and the text it returns is the text the
file holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_QUOTE, _BACKSLASH, _TAB, _CR = 34, 92, 9, 13
_OPEN = (123, 91)  # { [
_CLOSE = (125, 93)  # } ]
_COLON, _COMMA = 58, 44
_SPECIAL = np.zeros(256, dtype=bool)
_SPECIAL[[_QUOTE, _BACKSLASH, *_OPEN, *_CLOSE, _COLON, _COMMA, 10]] = True
_STRUCT = _SPECIAL.copy()
_STRUCT[[_QUOTE, _BACKSLASH]] = False
_DELTA = np.zeros(256, dtype=np.int64)
_DELTA[list(_OPEN)], _DELTA[list(_CLOSE)] = 1, -1
_SPACE = np.zeros(256, dtype=bool)
_SPACE[[32, _TAB, 10, _CR]] = True
# The suffix a nested top-level value's key gets from :func:`rewrite`, so that its
# JSON text never passes for a string value; no key of real data ends with it.
NESTED_MARK = "\x00"
_MARK_ESCAPE = b"\\u0000"
_SCALAR = r"^(?:-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null)$"


@dataclass
class BlockScan:
    """What the scan learnt about each line of a block."""

    starts: np.ndarray  # int64: first byte of each line
    ends: np.ndarray  # int64: one past its last byte, newline (and a trailing CR) excluded
    depth: np.ndarray  # int64: deepest bracket nesting (a flat object is 1); -1 where not measurable
    plain: np.ndarray  # bool: one object, ``{`` first and ``}`` last, no nested value
    # The top-level values of the plain-or-nested lines the scan understood:
    value_starts: np.ndarray  # int64: byte after each top-level colon
    value_ends: np.ndarray  # int64: the comma or closing brace after it
    value_lines: np.ndarray  # int64: the line of each
    nested_starts: np.ndarray  # int64: opening bracket of each nested top-level value
    nested_ends: np.ndarray  # int64: its closing bracket
    shaped: np.ndarray  # bool per line: the scan understood the line's layout

    @property
    def lengths(self) -> np.ndarray:
        lengths: np.ndarray = self.ends - self.starts
        return lengths


def _line_spans(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nl = np.flatnonzero(b == 10)
    starts = np.r_[0, nl + 1].astype(np.int64)
    ends = np.r_[nl, len(b)].astype(np.int64)
    if len(b) and b[-1] == 10:
        starts, ends = starts[:-1], ends[:-1]
    cr = ends > starts
    cr[cr] = b[ends[cr] - 1] == _CR
    return starts, ends - cr


def _escaped(pos: np.ndarray, ch: np.ndarray) -> np.ndarray:
    """Quotes preceded by an odd run of backslashes."""
    quote, bs = ch == _QUOTE, ch == _BACKSLASH
    contiguous = np.r_[False, pos[1:] == pos[:-1] + 1]
    prev_bs = np.r_[False, bs[:-1]]
    after = np.flatnonzero(quote & prev_bs & contiguous)
    out = np.zeros(len(pos), dtype=bool)
    if len(after):
        idx = np.arange(len(pos))
        run_start = bs & ~(prev_bs & contiguous)
        first = np.maximum.accumulate(np.where(run_start, idx, 0))
        out[after] = (after - first[after - 1]) % 2 == 1
    return out


def _group_first(lines: np.ndarray) -> np.ndarray:
    return np.r_[True, lines[1:] != lines[:-1]] if len(lines) else np.zeros(0, dtype=bool)


def scan(block: bytes) -> BlockScan:
    """Scan ``block`` (complete UTF-8 lines) without parsing any value."""
    b = np.frombuffer(block, dtype=np.uint8)
    starts, ends = _line_spans(b)
    n = len(starts)
    pos = np.flatnonzero(_SPECIAL[b])
    ch = b[pos]
    real_q = ch == _QUOTE
    if (ch == _BACKSLASH).any():
        real_q &= ~_escaped(pos, ch)
    newline = ch == 10
    cq = np.cumsum(real_q, dtype=np.int64)
    ends_at = np.r_[cq[newline], cq[-1] if len(cq) else 0][:n]
    odd = np.diff(np.r_[0, ends_at]) % 2 == 1
    if odd.any():  # an unbalanced quote: the line is malformed; keep it from shifting the others
        real_q &= ~odd[np.cumsum(newline) - newline]
        cq = np.cumsum(real_q, dtype=np.int64)
    struct = np.flatnonzero(_STRUCT[ch] & (cq % 2 == 0))
    s_pos, s_ch = pos[struct], ch[struct]
    s_nl = s_ch == 10
    s_line = np.cumsum(s_nl) - s_nl
    keep = ~s_nl & ~odd[s_line] if odd.any() else ~s_nl
    s_pos, s_ch, s_line = s_pos[keep], s_ch[keep], s_line[keep]
    delta = _DELTA[s_ch]
    cs = np.cumsum(delta)
    first = _group_first(s_line)
    base = (cs - delta)[np.maximum.accumulate(np.where(first, np.arange(len(cs)), 0))] if len(cs) else cs
    after = cs - base  # depth after each structural byte
    depth, shaped = _line_depths(b, starts, ends, s_ch, s_line, first, after, delta, odd)
    return _values(b, starts, ends, depth, shaped, s_pos, s_ch, s_line, after, delta)


def _line_depths(
    b: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    s_ch: np.ndarray,
    s_line: np.ndarray,
    first: np.ndarray,
    after: np.ndarray,
    delta: np.ndarray,
    odd: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    n = len(starts)
    depth = np.zeros(n, dtype=np.int64)
    shaped = np.zeros(n, dtype=bool)
    groups = np.flatnonzero(first)
    if len(groups):
        lines = s_line[groups]
        depth[lines] = np.maximum.reduceat(after, groups)
        lowest = np.minimum.reduceat(after, groups)
        closes_to_zero = np.add.reduceat(((after == 0) & (delta != 0)).astype(np.int64), groups)
        last = np.r_[groups[1:], len(after)] - 1
        nonempty = ends > starts
        framed = np.zeros(n, dtype=bool)
        framed[nonempty] = (b[starts[nonempty]] == _OPEN[0]) & (b[ends[nonempty] - 1] == _CLOSE[0])
        shaped[lines] = (
            (lowest >= 0) & (after[last] == 0) & (closes_to_zero == 1) & framed[lines] & (s_ch[groups] == _OPEN[0])
        )
    depth[odd] = -1
    shaped &= ~odd
    return depth, shaped


def _values(
    b: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    depth: np.ndarray,
    shaped: np.ndarray,
    s_pos: np.ndarray,
    s_ch: np.ndarray,
    s_line: np.ndarray,
    after: np.ndarray,
    delta: np.ndarray,
) -> BlockScan:
    """Pair each top-level colon with the comma or brace after it; find nested top-level values."""
    ok = shaped[s_line]
    colon = ok & (s_ch == _COLON) & (after == 1)
    sep = ok & (((s_ch == _COMMA) & (after == 1)) | ((delta < 0) & (after == 0)))
    marks = np.flatnonzero(colon | sep)
    is_colon = colon[marks]
    nxt = np.r_[marks[1:], -1]
    pair = is_colon & (nxt >= 0)
    pair[pair] = ~is_colon[np.flatnonzero(pair) + 1] & (s_line[nxt[pair]] == s_line[marks[pair]])
    broken = np.unique(s_line[marks[is_colon & ~pair]])
    shaped = shaped.copy()
    shaped[broken] = False
    good = pair & shaped[s_line[marks]]
    v_starts, v_ends, v_lines = s_pos[marks[good]] + 1, s_pos[nxt[good]], s_line[marks[good]]
    opening = ok & (delta > 0) & (after == 2)
    closing = ok & (delta < 0) & (after == 1)
    keep_o, keep_c = shaped[s_line[opening]], shaped[s_line[closing]]
    return BlockScan(
        starts=starts,
        ends=ends,
        depth=depth,
        plain=shaped & (depth == 1),
        value_starts=v_starts,
        value_ends=v_ends,
        value_lines=v_lines,
        nested_starts=s_pos[opening][keep_o],
        nested_ends=s_pos[closing][keep_c],
        shaped=shaped,
    )


def _trim(b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``lo``/``hi`` moved past the JSON whitespace around each value (compact JSON has none)."""
    lo, hi = lo.copy(), hi.copy()
    last = len(b) - 1
    while (lead := (lo < hi) & _SPACE[b[np.minimum(lo, last)]]).any():
        lo[lead] += 1
    while (trail := (hi > lo) & _SPACE[b[np.maximum(hi - 1, 0)]]).any():
        hi[trail] -= 1
    return lo, hi


def _spans(block: bytes, lo: np.ndarray, hi: np.ndarray) -> pa.Array:
    """The bytes between each ``lo`` and ``hi`` (sorted, disjoint) as a binary array."""
    k = len(lo)
    if not k:
        return pa.array([], pa.large_binary())
    offsets = np.empty(2 * k, dtype=np.int64)
    offsets[0::2], offsets[1::2] = lo, hi
    spans = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), 2 * k - 1, [None, pa.py_buffer(offsets), pa.py_buffer(block)]
    )
    return spans.take(pa.array(np.arange(0, 2 * k - 1, 2, dtype=np.int64)))


def rewrite(block: bytes, found: BlockScan) -> tuple[bytes, np.ndarray]:
    """``block`` with every top-level value of its understood lines as a JSON string.

    Also returns, per line, whether a bare top-level value is not a JSON
    literal (``tru``, ``NaN``, ``0x1``): such a line is left as it is.
    """
    b = np.frombuffer(block, dtype=np.uint8)
    refused = np.zeros(len(found.starts), dtype=bool)
    lo, hi = _trim(b, found.value_starts, found.value_ends)
    if len(lo) == 0:
        return block, refused
    head = b[np.minimum(lo, len(b) - 1)]
    bare = (lo < hi) & (head != _QUOTE) & (_DELTA[head] != 1)
    if bare.any():
        idx = np.flatnonzero(bare)
        ok = _literals(_spans(block, lo[idx], hi[idx]))
        refused[found.value_lines[idx[~ok]]] = True
        bare[idx] = ok & (head[idx] != ord("n"))  # null stays null
        bare &= ~refused[found.value_lines]
    n_lines = np.searchsorted(found.starts, found.nested_starts, side="right") - 1
    nested = ~refused[n_lines]
    at = [lo[bare], hi[bare], found.nested_starts[nested], found.nested_ends[nested] + 1]
    marks = [np.full(len(a), _QUOTE, dtype=np.uint8) for a in at]
    if nested.any():  # the key of each nested value gets NESTED_MARK
        quotes = _key_quotes(b, found, lo, found.nested_starts[nested])
        for byte in _MARK_ESCAPE:
            at.append(quotes)
            marks.append(np.full(len(quotes), byte, dtype=np.uint8))
    out = b
    if nested.any():
        out, esc_at, esc = _escapes(b, found.nested_starts[nested], found.nested_ends[nested])
        at.append(esc_at)
        marks.append(esc)
    where = np.concatenate(at)
    if not len(where):
        return block, refused
    order = np.argsort(where, kind="stable")
    return _insert(out, where[order], np.concatenate(marks)[order]), refused


def _key_quotes(b: np.ndarray, found: BlockScan, lo: np.ndarray, nested_starts: np.ndarray) -> np.ndarray:
    """The closing quote of the key of each nested top-level value."""
    colon = found.value_starts[np.searchsorted(lo, nested_starts)] - 1
    quote = colon - 1
    while (space := _SPACE[b[quote]]).any():
        quote[space] -= 1
    return quote


def _literals(tokens: pa.Array) -> np.ndarray:
    """Which tokens are JSON literals; plain integers (the common case) are recognised without a regex."""
    tokens = tokens.view(pa.large_string())  # cut at ASCII bytes of valid UTF-8: still valid
    plain = np.asarray(
        pc.fill_null(
            pc.and_(
                pc.ascii_is_decimal(tokens),
                pc.invert(pc.and_(pc.starts_with(tokens, "0"), pc.greater(pc.binary_length(tokens), 1))),
            ),
            False,
        ).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    rest = np.flatnonzero(~plain)
    if len(rest):
        plain[rest] = np.asarray(
            pc.match_substring_regex(tokens.take(pa.array(rest)), _SCALAR).to_numpy(zero_copy_only=False), dtype=bool
        )
    return plain


def _insert(b: np.ndarray, where: np.ndarray, marks: np.ndarray) -> bytes:
    """``b`` with ``marks[i]`` inserted before byte ``where[i]`` (``where`` sorted)."""
    out = np.empty(len(b) + len(where), dtype=np.uint8)
    at = where + np.arange(len(where))
    kept = np.ones(len(out), dtype=bool)
    kept[at] = False
    out[at] = marks
    out[kept] = b
    return out.tobytes()


def _escapes(b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backslashes to insert so each nested value reads as one JSON string of its own text."""
    pos = np.flatnonzero(np.isin(b, (_QUOTE, _BACKSLASH, _TAB, _CR)))
    span = np.searchsorted(lo, pos, side="right") - 1
    inside = (span >= 0) & (pos <= hi[np.maximum(span, 0)])
    pos = pos[inside]
    out = b
    ctrl = np.isin(b[pos], (_TAB, _CR))
    if ctrl.any():
        out = b.copy()
        out[pos[ctrl]] = np.where(b[pos[ctrl]] == _TAB, ord("t"), ord("r"))
    return out, pos, np.full(len(pos), _BACKSLASH, dtype=np.uint8)
