"""Read SQLite files: read-only connections, and a rowid table straight from its pages.

:func:`read_sqlite` runs a function on a read-only connection (``immutable`` when no
write-ahead log or journal is pending) and turns SQLite's failures into clear errors.

:func:`read_columns` reads the columns of a rowid table from the file's pages, with numpy.

Fetching a million rows through ``sqlite3`` builds a million Python tuples; reading the table's
B-tree leaf pages with numpy does the same work column-wise in a fraction of the time. This is
an accelerator only: :func:`read_columns` returns ``None`` whenever anything is unusual (a
layout it does not handle, a value of an unexpected storage class, a damaged page) and the
caller then reads through SQLite, which also produces the proper error messages.

It is used only on a file that SQLite opened ``immutable`` (no write-ahead log or rollback
journal pending), so the main file holds the whole database. The file is read with ordinary
reads (never memory-mapped: a file truncated meanwhile cannot crash the process) and never
written. Results are checked against SQLite before they are returned: the row count, the
first and last rowids and a sample of rows read back through SQL must agree.

Format reference: https://www.sqlite.org/fileformat2.html (B-tree pages, cells, records).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar

import numpy as np
import polars as pl
import pyarrow as pa

from estime.errors import LogFormatError

__all__ = ["PAD", "Column", "Table", "binary_views", "fixed_width", "read_columns",
           "read_sqlite", "sqlite_error", "table_columns"]

Kind = Literal["int", "text", "blob"]
#: An integer column as an int64 array; a text or blob column as (start, size): the positions
#: of its values in :attr:`Table.buf`.
Column = np.ndarray | tuple[np.ndarray, np.ndarray]

T = TypeVar("T")
_LEAF, _INTERIOR = 0x0D, 0x05
#: Zero bytes after the file's content in :attr:`Table.buf`.
PAD = 128
_SAMPLE = 48
_MAX_DEPTH = 40


# ---------------------------------------------------------------- the read-only connection


def _is_pending(path: Path, suffix: str) -> bool:
    side = path.with_name(path.name + suffix)
    try:
        return side.stat().st_size > 0
    except OSError:
        return False


def _stamp(path: Path) -> tuple[int, int, bool]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, _is_pending(path, "-wal")


def _check_sqlite_file(path: Path, what: str) -> None:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (expected {what})")
    if path.is_dir():
        raise LogFormatError(f"{path} is a directory, not {what}")
    with path.open("rb") as f:
        head = f.read(16)
    if not head:
        raise LogFormatError(f"{path} is an empty file, not {what}")
    if head != b"SQLite format 3\x00":
        raise LogFormatError(
            f"{path} is not an SQLite database (it starts with {head[:16]!r}); expected {what}. "
            "Check the path (SQLITE_DBNAME of the application)."
        )


class _Connection(sqlite3.Connection):
    """A read-only connection that remembers whether it was opened ``immutable``."""

    immutable = False


def _connect(path: Path, immutable: bool) -> sqlite3.Connection:
    uri = path.resolve().as_uri() + ("?mode=ro&immutable=1" if immutable else "?mode=ro")
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, factory=_Connection)
    conn.immutable = immutable
    conn.execute("PRAGMA query_only=ON")
    return conn


def sqlite_error(path: Path, exc: sqlite3.Error, table: str | None = None) -> LogFormatError:
    """A :class:`LogFormatError` for an SQLite failure while reading ``path``."""
    where = f"{path}" + (f", table {table!r}" if table else "")
    text = str(exc)
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return LogFormatError(
            f"{where}: the database is damaged or truncated ({text}). Check it with "
            f"`sqlite3 {path.name} 'PRAGMA integrity_check'` or restore it from a backup; "
            "estime never repairs a file."
        )
    if "unable to open" in text or "readonly" in text:
        return LogFormatError(
            f"{where}: cannot open the database read-only ({text}). If a write-ahead log "
            f"({path.name}-wal) is pending in a read-only directory, let the application "
            "checkpoint it (close it cleanly) or copy the files to a writable place."
        )
    return LogFormatError(f"{where}: SQLite error: {text}")


def read_sqlite(path: str | os.PathLike[str], what: str,
                fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn`` on a read-only connection to ``path`` and return its result.

    The file is opened with ``mode=ro``, plus ``immutable=1`` (no locks, no ``-wal``/``-shm``
    files created) when no write-ahead log or rollback journal is pending. If the file changes
    while it is read that way, the read is done again without ``immutable``. The database is
    never written.
    """
    p = Path(path)
    _check_sqlite_file(p, what)
    pending = _is_pending(p, "-wal") or _is_pending(p, "-journal")
    before = _stamp(p)
    try:
        conn = _connect(p, immutable=not pending)
        try:
            result = fn(conn)
        finally:
            conn.close()
        if pending or _stamp(p) == before:
            return result
        conn = _connect(p, immutable=False)  # written meanwhile: read again, with locks
        try:
            return fn(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise sqlite_error(p, exc) from None


def table_columns(conn: sqlite3.Connection) -> dict[str, tuple[list[str], str]]:
    """``{table: (column names, CREATE statement)}`` of the database's tables."""
    out: dict[str, tuple[list[str], str]] = {}
    for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall():
        quoted = '"' + name.replace('"', '""') + '"'
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({quoted})").fetchall()]
        out[name] = (cols, sql or "")
    return out



# ---------------------------------------------------------------- the pages


class _Unsupported(Exception):
    """Anything this reader does not handle: the caller falls back to SQLite."""


def _be(buf: np.ndarray, pos: np.ndarray, size: int) -> np.ndarray:
    """Unsigned big-endian integers of ``size`` bytes at byte positions ``pos``."""
    out = np.zeros(len(pos), np.int64)
    for k in range(size):
        out <<= 8
        out |= buf[pos + k]
    return out


def _varint(buf: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, length in bytes) of the SQLite varints at ``pos`` (1 to 9 bytes each)."""
    byte = buf[pos]
    value = (byte & 0x7F).astype(np.int64)
    length = np.ones(len(pos), np.int64)
    more = np.flatnonzero(byte >= 0x80)
    for k in range(1, 8):
        if not len(more):
            return value, length
        byte = buf[pos[more] + k]
        value[more] = (value[more] << 7) | (byte & 0x7F)
        length[more] += 1
        more = more[byte >= 0x80]
    if len(more):  # a ninth byte contributes all 8 bits
        last = buf[pos[more] + 8].astype(np.uint64)
        value[more] = ((value[more].view(np.uint64) << np.uint64(8)) | last).view(np.int64)
        length[more] += 1
    return value, length


def _check(cond: Any, why: str) -> None:
    if not bool(np.all(cond)):
        raise _Unsupported(why)


def _content_size(serial: np.ndarray) -> np.ndarray:
    """Bytes of content of each serial type (-1 for the reserved types 10 and 11)."""
    small = np.array([0, 1, 2, 3, 4, 6, 8, 8, 0, 0, -1, -1], np.int64)
    return np.where(serial >= 12, (serial - 12) // 2, small[np.clip(serial, 0, 11)])


def _signed(buf: np.ndarray, pos: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """Values of integer serial types 1-6, 8, 9 (big-endian two's complement)."""
    out = np.zeros(len(pos), np.int64)
    out[serial == 9] = 1
    for st, size in ((1, 1), (2, 2), (3, 3), (4, 4), (5, 6), (6, 8)):
        rows = np.flatnonzero(serial == st)
        if len(rows):
            v = _be(buf, pos[rows], size)
            if size < 8:
                v = np.where(v >= 1 << (8 * size - 1), v - (1 << (8 * size)), v)
            out[rows] = v
    return out


def _memory() -> int:
    """The machine's physical memory in bytes (unknown: as if plenty)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


class _File:
    """The database file read into memory, with its header fields."""

    def __init__(self, path: Path) -> None:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > _memory() // 3:
                raise _Unsupported("a file this large is read through SQLite")
            self.buf = np.empty(size + PAD, np.uint8)
            self.buf[size:] = 0
            got = f.readinto(self.buf[:size].data)
        if got != size or size < 512:
            raise _Unsupported("short read")
        head = bytes(self.buf[:100])
        if head[:16] != b"SQLite format 3\x00":
            raise _Unsupported("not an SQLite file")
        ps = int.from_bytes(head[16:18], "big")
        self.page_size = 65536 if ps == 1 else ps
        if self.page_size < 512 or self.page_size & (self.page_size - 1):
            raise _Unsupported("page size")
        if int.from_bytes(head[56:60], "big") != 1:
            raise _Unsupported("text encoding is not UTF-8")
        self.usable = self.page_size - head[20]
        if self.usable < 480:
            raise _Unsupported("reserved space")
        self.pages = size // self.page_size
        in_header = int.from_bytes(head[28:32], "big")
        if in_header and head[24:28] == head[92:96]:  # SQLite trusts this count then
            self.pages = min(self.pages, in_header)

    def bases(self, pages: np.ndarray) -> np.ndarray:
        _check((pages >= 2) & (pages <= self.pages), "page number out of range")
        return (pages - 1) * self.page_size


_NO_KEY = np.iinfo(np.int64)


def _leaves(f: _File, root: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The table's leaf pages in key order (breadth-first down the interior pages), with the
    bounds (low, high] their rowids must lie in according to the interior pages' keys (a
    low bound of the smallest int64: none)."""
    level = np.array([root], np.int64)
    low = np.array([_NO_KEY.min], np.int64)
    high = np.array([_NO_KEY.max], np.int64)
    seen = 0
    for _ in range(_MAX_DEPTH):
        seen += len(level)
        _check(seen <= f.pages, "more pages than the file has (a cycle?)")
        base = f.bases(level)
        kind = f.buf[base]
        if (kind == _LEAF).all():
            return level, low, high
        _check(kind == _INTERIOR, "not a table b-tree page")
        n = _be(f.buf, base + 3, 2)
        _check((n >= 1) & (12 + 2 * n <= f.usable), "cell count")
        right = _be(f.buf, base + 8, 4)
        first = np.concatenate(([0], np.cumsum(n)[:-1]))
        page = np.repeat(np.arange(len(level)), n)
        j = np.arange(int(n.sum())) - first[page]
        ptr = _be(f.buf, base[page] + 12 + 2 * j, 2)
        _check((ptr >= 12) & (ptr <= f.usable - 5), "cell pointer out of the page")
        left = _be(f.buf, base[page] + ptr, 4)
        key, _ = _varint(f.buf, base[page] + ptr + 4)
        # keys increase within each page and stay within the page's own bounds
        prev = np.where(j == 0, low[page], np.append(0, key[:-1]))
        _check(((key > prev) | (prev == _NO_KEY.min)) & (key <= high[page]),
               "interior keys out of order")
        last = first + n - 1
        children = np.empty(len(left) + len(level), np.int64)
        slot = np.arange(len(left)) + page
        ends = np.cumsum(n + 1) - 1
        children[slot], children[ends] = left, right
        new_low = np.empty_like(children)
        new_high = np.empty_like(children)
        new_low[slot], new_high[slot] = prev, key
        new_low[ends], new_high[ends] = key[last], high
        level, low, high = children, new_low, new_high
    raise _Unsupported("b-tree too deep")


def _cells(f: _File, leaves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(absolute positions of every cell of the leaf pages in key order, their page's
    index in ``leaves``)."""
    base = f.bases(leaves)
    n = _be(f.buf, base + 3, 2)
    first = np.concatenate(([0], np.cumsum(n)[:-1]))
    page = np.repeat(np.arange(len(leaves)), n)
    j = np.arange(int(n.sum())) - first[page]
    _check(8 + 2 * n <= f.usable, "cell count")
    ptr = _be(f.buf, base[page] + 8 + 2 * j, 2)
    _check((ptr >= 8) & (ptr < f.usable), "cell pointer out of the page")
    return base[page] + ptr, page


class Table(NamedTuple):
    """Columns of a table read from its pages, in rowid order."""

    buf: np.ndarray  # the file's bytes (plus rows read through SQL), then PAD zero bytes
    rowid: np.ndarray
    columns: list[Column]


_VIEW_LIMIT = 1 << 30


def fixed_width(buf: np.ndarray, start: np.ndarray, width: int) -> np.ndarray:
    """The ``width`` bytes (a multiple of 8, at most PAD) at each of ``start``, as an (n,
    width) array."""
    w64 = np.ndarray((len(buf) - 7,), "<u8", buf, 0, (1,))
    words = np.empty((len(start), width // 8), "<u8")
    for k in range(width // 8):
        words[:, k] = w64[start + 8 * k]
    return words.view(np.uint8).reshape(len(start), width)


_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(9)], np.uint64)


def binary_views(buf: np.ndarray, start: np.ndarray, size: np.ndarray) -> pl.Series:
    """A Binary series of the values ``buf[start:start+size]`` without copying them (Arrow
    binary views into ``buf``, which the series keeps alive; ``buf`` has :data:`PAD` bytes to
    spare). Values must not straddle a multiple of 2**30 unless ``buf`` is smaller than
    2**31 bytes."""
    n = len(start)
    data_len = len(buf) - PAD
    if data_len < 2**31 - 1:
        buffers, index, offset = [buf], np.zeros(n, np.uint64), start.astype(np.uint64)
    else:
        count = (data_len + _VIEW_LIMIT - 1) // _VIEW_LIMIT
        buffers = [buf[i * _VIEW_LIMIT:(i + 1) * _VIEW_LIMIT + PAD] for i in range(count)]
        index, offset = (start // _VIEW_LIMIT).astype(np.uint64), (start % _VIEW_LIMIT).astype(
            np.uint64)
    # a view is 16 bytes: the length (4), then the value itself if it has at most 12 bytes,
    # else its first 4 bytes, the buffer's index (4) and the offset in it (4)
    w64 = np.ndarray((len(buf) - 7,), "<u8", buf, 0, (1,))
    head, tail = w64[start], w64[start + 8]
    length = size.astype(np.uint64)
    views = np.empty((n, 2), "<u8")
    views[:, 0] = length | ((head & _LOW_BYTES[np.minimum(size, 4)]) << np.uint64(32))
    inline = ((head >> np.uint64(32)) | (tail << np.uint64(32))) & _LOW_BYTES[
        np.clip(size - 4, 0, 8)]
    views[:, 1] = np.where(size <= 12, inline, index | (offset << np.uint64(32)))
    arr = pa.Array.from_buffers(pa.binary_view(), n, [None, pa.py_buffer(views)]
                                + [pa.py_buffer(b) for b in buffers])
    return pl.Series(arr)


def _table_layout(conn: sqlite3.Connection, table: str,
                  names: dict[str, Kind]) -> tuple[int, int, list[int]]:
    """(root page, number of columns, positions of the wanted columns) or _Unsupported."""
    row = conn.execute("SELECT rootpage, sql FROM sqlite_master WHERE type = 'table' "
                       "AND name = ?", (table,)).fetchone()
    if row is None or not isinstance(row[0], int) or "WITHOUT ROWID" in (row[1] or "").upper():
        raise _Unsupported("not a rowid table")
    info = conn.execute(f"PRAGMA table_xinfo({_quote(table)})").fetchall()
    cols = [r[1] for r in info]
    if any(r[6] for r in info):
        raise _Unsupported("generated or hidden columns")
    pks = [r for r in info if r[5]]
    if len(pks) == 1 and str(pks[0][2]).upper() == "INTEGER" and pks[0][1] in names:
        raise _Unsupported("a wanted column is the rowid alias")
    return int(row[0]), len(cols), [cols.index(n) for n in names]


def _read(f: _File, root: int, ncols: int, wanted: list[int],
          kinds: list[Kind]) -> tuple[np.ndarray, list[Column], np.ndarray]:
    """(rowids, wanted columns, rowids of the rows whose payload overflows its page)."""
    buf = f.buf
    leaves, low, high = _leaves(f, root)
    cell, page = _cells(f, leaves)
    size, k1 = _varint(buf, cell)
    rowid, k2 = _varint(buf, cell + k1)
    _check(rowid[1:] > rowid[:-1], "rowids not increasing")
    _check(((rowid > low[page]) | (low[page] == _NO_KEY.min)) & (rowid <= high[page]),
           "a rowid out of its page's bounds")
    start = cell + k1 + k2
    overflow = size > f.usable - 35
    spilled = rowid[overflow]
    if overflow.any():
        keep = ~overflow
        rowid, start, size, cell = rowid[keep], start[keep], size[keep], cell[keep]
    _check((size >= 1) & (start + size <= len(buf) - PAD), "payload beyond the file")
    _check((start + size - 1) // f.page_size == (cell // f.page_size), "payload beyond its page")
    head, kh = _varint(buf, start)
    pos = start + kh
    end_head = start + head
    serials = []
    for _ in range(ncols):
        _check(pos < end_head, "a record has fewer columns than the table")
        st, k = _varint(buf, pos)
        serials.append(st)
        pos = pos + k
    _check(pos == end_head, "a record has more columns than the table")
    sizes = [_content_size(st) for st in serials]
    for sz in sizes:
        _check(sz >= 0, "reserved serial type")
    value_at = [end_head]
    for sz in sizes[:-1]:
        value_at.append(value_at[-1] + sz)
    _check(value_at[-1] + sizes[-1] == start + size, "record size differs from the payload")
    out: list[Column] = []
    for col, kind in zip(wanted, kinds):
        st, at = serials[col], value_at[col]
        if kind == "int":
            _check(((st >= 1) & (st <= 6)) | (st == 8) | (st == 9), "not an integer")
            out.append(_signed(buf, at, st))
        else:
            _check((st >= 12) & (st % 2 == (1 if kind == "text" else 0)), f"not {kind}")
            out.append((at, sizes[col]))
    return rowid, out, spilled


def _with_spilled(conn: sqlite3.Connection, f: _File, table: str, names: list[str],
                  kinds: list[Kind], rowid: np.ndarray, cols: list[Column],
                  spilled: np.ndarray) -> Table:
    """The table with the rows whose payload overflows read through SQL (rare: states of
    several kilobytes), their values appended to the buffer."""
    if not len(spilled):
        return Table(f.buf, rowid, cols)
    if len(f.buf) - PAD >= 2**31 - 1:
        raise _Unsupported("overflow rows in a file of 2 GiB or more")
    quoted = _quote(table)
    listed = ", ".join(_quote(n) for n in names)
    sql = f"SELECT {listed} FROM {quoted} WHERE rowid = ?"  # noqa: S608
    extra: list[tuple[Any, ...]] = []
    for r in spilled.tolist():
        row = conn.execute(sql, (r,)).fetchone()
        if row is None or any(type(v) is not {"int": int, "text": str, "blob": bytes}[kind]
                              for v, kind in zip(row, kinds)):
            raise _Unsupported("an overflow row of an unexpected type")
        extra.append(row)
    order = np.argsort(np.concatenate([rowid, spilled]), kind="stable")
    chunks: list[bytes] = []
    base = len(f.buf) - PAD
    merged: list[Column] = []
    for j, (col, kind) in enumerate(zip(cols, kinds)):
        if isinstance(col, np.ndarray):
            more = np.array([e[j] for e in extra], np.int64)
            merged.append(np.concatenate([col, more])[order])
            continue
        values = [e[j].encode() if kind == "text" else e[j] for e in extra]
        sizes = np.array([len(v) for v in values], np.int64)
        starts = base + np.concatenate(([0], np.cumsum(sizes)[:-1]))
        base += int(sizes.sum())
        chunks += values
        merged.append((np.concatenate([col[0], starts])[order],
                       np.concatenate([col[1], sizes])[order]))
    joined = np.frombuffer(b"".join(chunks), np.uint8)
    buf = np.concatenate([f.buf[:len(f.buf) - PAD], joined, np.zeros(PAD, np.uint8)])
    return Table(buf, np.concatenate([rowid, spilled])[order], merged)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _verify(conn: sqlite3.Connection, table: str, names: list[str], kinds: list[Kind],
            t: Table) -> None:
    """The rowid range and a sample of rows agree with SQLite. (With the b-tree's own
    checks: every page followed, rowids increasing and within their interior keys.)"""
    quoted = _quote(table)
    # one query each: SQLite then reads just the b-tree's two ends
    (lo,) = conn.execute(f"SELECT min(rowid) FROM {quoted}").fetchone()  # noqa: S608
    (hi,) = conn.execute(f"SELECT max(rowid) FROM {quoted}").fetchone()  # noqa: S608
    n = len(t.rowid)
    if (lo is None) != (n == 0) or (n and (lo != t.rowid[0] or hi != t.rowid[-1])):
        raise _Unsupported("the rowid range differs from SQLite")
    if not n:
        return
    picks = sorted({0, n - 1, *np.linspace(0, n - 1, _SAMPLE).astype(int).tolist()})
    marks = ",".join("?" * len(picks))
    listed = ", ".join(_quote(c) for c in names)
    sql = (f"SELECT rowid, {listed} FROM {quoted} "  # noqa: S608
           f"WHERE rowid IN ({marks}) ORDER BY rowid")
    rows = conn.execute(sql, [int(t.rowid[i]) for i in picks]).fetchall()
    if len(rows) != len(picks):
        raise _Unsupported("sample rows differ")
    for i, row in zip(picks, rows):
        if row[0] != t.rowid[i]:
            raise _Unsupported("sample rowid differs")
        for value, col, kind in zip(row[1:], t.columns, kinds):
            if isinstance(col, np.ndarray):
                mine: Any = int(col[i])
            else:
                raw = t.buf[col[0][i]:col[0][i] + col[1][i]].tobytes()
                mine = raw if kind == "blob" else raw.decode("utf-8", "replace")
            if mine != value:
                raise _Unsupported("sample value differs")


def read_columns(path: Path, conn: sqlite3.Connection, table: str,
                 columns: dict[str, Kind]) -> Table | None:
    """The columns of a rowid table read from the file, in rowid order, or ``None``.

    ``columns`` maps column names to the storage class every value must have (``"int"``,
    ``"text"``, ``"blob"``). ``conn`` must be an ``immutable`` connection to ``path`` (it
    resolves the table and checks the result). ``None`` means "read it through SQLite
    instead": an unusual layout, NULLs, values of other storage classes, a damaged file.
    """
    names, kinds = list(columns), list(columns.values())
    try:
        root, ncols, wanted = _table_layout(conn, table, columns)
        f = _File(path)
        rowid, cols, spilled = _read(f, root, ncols, wanted, kinds)
        t = _with_spilled(conn, f, table, names, kinds, rowid, cols, spilled)
        _verify(conn, table, names, kinds, t)
    except (_Unsupported, IndexError, ValueError, OverflowError, MemoryError, OSError,
            sqlite3.Error):
        return None
    return t
