"""Deterministic event ids: ``uuid5(NAMESPACE, f"{stream}\\x00{version}")``.

One at a time (:func:`event_id_for`), a list with hashlib (:func:`event_ids_for`), or a whole
column with a numpy SHA-1 (:func:`_event_id_column`), all byte-for-byte equal.

The column path builds each message (namespace, stream bytes, NUL, version digits, padding)
straight from the arrow buffer of the streams and the int64 versions, then runs SHA-1 over
chunks of rows in worker threads (numpy releases the GIL). Rows are sorted by the lengths of
stream and version, so a chunk usually shares them: the bytes sit at the same places in every
row, and the padding and length words are constants, which the compression folds into scalars
(the namespace words, and the rounds they alone feed, too).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import os
import queue
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

__all__ = ["NAMESPACE", "event_id_for", "event_ids_for"]

#: Namespace of the UUIDv5 event ids assigned when a log has none (fixed forever).
NAMESPACE = uuid.UUID("6f1c9a3e-3c1b-5e0e-9d1a-e57173e00001")
_NS = NAMESPACE.bytes


def event_id_for(stream: str, version: int) -> str:
    """The deterministic event id of (stream, version): a UUIDv5 in estime's namespace.

    >>> event_id_for("account-1", 1) == event_id_for("account-1", 1)
    True
    >>> event_id_for("account-1", 1) != event_id_for("account-1", 2)
    True
    """
    return str(uuid.uuid5(NAMESPACE, f"{stream}\x00{version}"))


def event_ids_for(streams: Iterable[str], versions: Iterable[int]) -> list[str]:
    """:func:`event_id_for` over two columns, without building UUID objects (fast path).

    >>> event_ids_for(["s"], [3]) == [event_id_for("s", 3)]
    True
    """
    base = hashlib.sha1(_NS, usedforsecurity=False)
    copy = base.copy
    variant = _VARIANT
    out: list[str] = []
    append = out.append
    for s, v in zip(streams, versions):
        h = copy()
        h.update(f"{s}\x00{v}".encode())
        x = h.hexdigest()
        append(f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{variant[x[16]]}{x[17:20]}-{x[20:32]}")
    return out


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}

_VECTOR_MIN_ROWS = 5000


def _assigned_ids(streams: pl.Series, versions: pl.Series) -> pl.Series:
    """Event ids of a String and an Int64 column without nulls: numpy for large frames."""
    if len(streams) >= _VECTOR_MIN_ROWS:
        return _event_id_column(streams, versions)
    return pl.Series(event_ids_for(streams.to_list(), versions.to_list()), dtype=pl.String)


# ------------------------------------------------------------------------------ SHA-1 (numpy)
# A word of the message schedule or of the state is either an int (the same for every row of
# the chunk) or a uint32 array with one value per row.

_M32 = 0xFFFFFFFF
_K = (0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xCA62C1D6)
_H0 = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)


def _u32(x: int) -> Any:
    """A 0-d uint32 array: numpy handles it as an operand faster than a scalar."""
    return np.array(x, np.uint32)


def _u8(x: int) -> Any:
    return np.array(x, np.uint8)


_KU = tuple(_u32(k) for k in _K)
_SH = {r: _u32(r) for r in (1, 2, 5, 8, 16, 24, 27, 30, 31)}
_NS_WORDS = [int.from_bytes(_NS[i:i + 4], "big") for i in range(0, 16, 4)]
_MAX_BLOCKS = 4  # longer names (more than 247 bytes with the namespace) go through hashlib
# Rows per task. Each task costs some 1,500 numpy calls per block, and two threads only gain
# when each call's GIL-free work is long; more rows fall out of cache. 8k-row tasks take twice
# as long as 64k-row ones on 2 cores, even for 100k rows (a single thread then does most).
_CHUNK_ROWS = 65536
_THREADS_MIN_ROWS = 50_000  # fewer rows are hashed in the calling thread


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _f(t: int, b: int, c: int, d: int) -> int:
    if t < 20:
        return d ^ (b & (c ^ d))
    if 40 <= t < 60:
        return (b & c) | (d & (b | c))
    return b ^ c ^ d


class _Scratch:
    """One thread's working arrays for chunks of up to ``m`` rows."""

    def __init__(self, m: int) -> None:
        self.m = m
        self.ring = np.empty((16, m), np.uint32)
        self.work = np.empty((8, m), np.uint32)  # a..e, tmp, f, t1
        self.states = np.empty((2, 5, m), np.uint32)
        self.text = np.empty((9, m), "<u4")  # ids' text, a row per 4 characters
        self.rows = np.empty((m, 9), "<u4")  # ... a row per id
        self.bufs: dict[int, Any] = {}

    def words(self, k: int) -> Any:
        if k not in self.bufs:
            self.bufs[k] = np.empty((16 * k - 4, self.m), np.uint32)
        return self.bufs[k]


Word = Any  # int | np.ndarray


_XOR, _AND, _OR, _ADD = np.bitwise_xor, np.bitwise_and, np.bitwise_or, np.add
_SHL, _SHR = np.left_shift, np.right_shift


def _compress(block: Sequence[Word], state: Sequence[Word], out: Any, s: _Scratch,
              m: int) -> list[Word]:
    """One SHA-1 compression of the 16 words ``block`` into ``state``; the new state is
    written into ``out`` (five arrays of ``m`` rows) and returned. Every numpy call writes
    into an array it was given (in place where it can: that keeps fewer lines in cache)."""
    w = list(block)
    ring = [s.ring[i, :m] for i in range(16)]
    xor, band, bor, add, shl, shr = _XOR, _AND, _OR, _ADD, _SHL, _SHR
    sh1, sh2, sh5, sh27, sh30, sh31 = (_SH[r] for r in (1, 2, 5, 27, 30, 31))
    a, b, c, d, e, tmp, f, t1 = (s.work[i, :m] for i in range(8))

    def schedule(t: int) -> None:
        """W[t] into w[t % 16]: the rotated xor of W[t-16], W[t-14], W[t-8] and W[t-3]."""
        i = t % 16
        const = 0
        arrays = []
        # W[t-16] first: when an array, it is ring[i], which W[t] overwrites
        for x in (w[i], w[(t - 3) % 16], w[(t - 8) % 16], w[(t - 14) % 16]):
            if isinstance(x, int):
                const ^= x
            else:
                arrays.append(x)
        if not arrays:
            w[i] = _rotl(const, 1)
            return
        dst = x = ring[i]
        if const:
            xor(arrays[0], _u32(const), dst)
        elif len(arrays) > 1:
            xor(arrays[0], arrays.pop(1), dst)
        else:
            x = arrays[0]
        for y in arrays[1:]:
            xor(dst, y, dst)
        shl(x, sh1, t1)
        shr(x, sh31, dst)
        w[i] = bor(dst, t1, dst)

    ha, hb, hc, hd, he = state
    t = 0
    # rounds on constants: the namespace words of a first block
    while t < 80 and all(isinstance(v, int) for v in (ha, hb, hc, hd, he)):
        if t >= 16:
            schedule(t)
        if not isinstance(w[t % 16], int):
            break
        v = (_rotl(ha, 5) + _f(t, hb, hc, hd) + he + w[t % 16] + _K[t // 20]) & _M32
        ha, hb, hc, hd, he = v, ha, _rotl(hb, 30), hc, hd
        t += 1
    scheduled = max(t, 15)
    for reg, v in zip((a, b, c, d, e), (ha, hb, hc, hd, he)):
        if isinstance(v, int):
            reg.fill(v)
        else:
            np.copyto(reg, v)
    for t in range(t, 80):  # noqa: B020
        if t > scheduled:
            schedule(t)
        if t < 20:
            xor(c, d, f)
            band(f, b, f)
            xor(f, d, f)
        elif 40 <= t < 60:
            bor(b, c, f)
            band(f, d, f)
            band(b, c, t1)
            bor(f, t1, f)
        else:
            xor(b, c, f)
            xor(f, d, f)
        shl(a, sh5, tmp)
        shr(a, sh27, t1)
        bor(tmp, t1, tmp)
        add(tmp, f, tmp)
        add(tmp, e, tmp)
        wt = w[t % 16]
        if isinstance(wt, int):
            add(tmp, _u32((wt + _K[t // 20]) & _M32), tmp)
        else:
            add(tmp, wt, tmp)
            add(tmp, _KU[t // 20], tmp)
        shl(b, sh30, t1)
        shr(b, sh2, b)
        bor(b, t1, b)
        a, b, c, d, e, tmp = tmp, a, b, c, d, e
    return [add(v, _u32(old) if isinstance(old, int) else old, out[i, :m])
            for i, (v, old) in enumerate(zip((a, b, c, d, e), state))]


# ------------------------------------------------------------------------------ the column

_BYTE_MASKS = np.array([(1 << (8 * b)) - 1 for b in range(9)], "<u8")
_LONGEST = 64 * _MAX_BLOCKS - 25  # name bytes that fit in _MAX_BLOCKS blocks
_DIGITS = 21  # sort key: name length * _DIGITS + version text length (at most 20)


@functools.cache
def _hex4() -> Any:
    """The four hex digits of each 16-bit number, as the bytes of a uint32."""
    i = np.arange(1 << 16)
    nibbles = np.stack([i >> 12, (i >> 8) & 15, (i >> 4) & 15, i & 15], axis=1)
    return np.frombuffer(b"0123456789abcdef", np.uint8)[nibbles].view("<u4").reshape(-1)


def _blocks(length: Any) -> Any:
    """SHA-1 blocks of the message: 16 namespace bytes, ``length`` name bytes, 0x80, 8."""
    return (length + 24) // 64 + 1


def _tasks(keys: Any, chunk: int) -> tuple[Any, list[tuple[int, int, int]]]:
    """The rows sorted by (name length, version length), and (lo, hi, blocks) slices of that
    order of at most ``chunk`` rows with one block count: a (name length, version length)
    with a quarter chunk of rows or more gets chunks of its own. The rows of names longer
    than _MAX_BLOCKS blocks come after the last slice."""
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys)
    starts = np.concatenate(([0], np.cumsum(counts)))
    tasks: list[tuple[int, int, int]] = []
    pending = [0, 0, 0]  # lo, hi, blocks

    def flush() -> None:
        if pending[1] > pending[0]:
            tasks.append((pending[0], pending[1], pending[2]))
        pending[0] = pending[1]

    for key in np.flatnonzero(counts).tolist():
        lo, cnt, k = int(starts[key]), int(counts[key]), _blocks(key // _DIGITS)
        if k > _MAX_BLOCKS:
            break
        if k != pending[2]:
            flush()
            pending[:] = [lo, lo, k]
        if 4 * cnt >= chunk:
            flush()
            pieces = -(-cnt // chunk)
            cuts = [lo + cnt * i // pieces for i in range(pieces + 1)]
            tasks += [(x, y, k) for x, y in itertools.pairwise(cuts)]
            pending[:] = [lo + cnt, lo + cnt, k]
        else:
            pending[1] = lo + cnt
            if pending[1] - pending[0] >= chunk:
                flush()
    flush()
    return order, tasks


class _Names:
    """The messages of a String and an Int64 column, as numpy arrays shared by the tasks."""

    def __init__(self, streams: pl.Series, versions: pl.Series) -> None:
        arr = streams.to_arrow(compat_level=pl.CompatLevel.oldest())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if arr.type != pa.large_string():
            arr = arr.cast(pa.large_string())
        n = len(arr)
        _, off_buf, data_buf = arr.buffers()
        offs = np.frombuffer(off_buf, np.int64)[arr.offset:arr.offset + n + 1]
        self.offs = offs[:-1]
        self.ls = np.diff(offs)
        # windows of the text reach up to a block past a name: the last names read them
        # from a zero-padded copy of the end of the text
        self.data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.empty(
            0, np.uint8)
        end = int(offs[-1])
        self.tail_at = max(0, end - 64 * _MAX_BLOCKS)
        self.tail = np.zeros(end - self.tail_at + 64 * _MAX_BLOCKS, np.uint8)
        self.tail[:end - self.tail_at] = self.data[self.tail_at:end]
        v = versions.cast(pl.Int64).to_numpy()
        self.neg = v < 0
        self.u = np.abs(v).view(np.uint64)  # -2**63 wraps to 2**63: still its magnitude
        self.digits = self.neg.astype(np.uint8)  # the version's text: sign and digits
        _ADD(self.digits, _u8(1), self.digits)
        top, p = int(self.u.max()), 10
        while p <= top:
            _ADD(self.digits, self.u >= np.uint64(p), self.digits)
            p *= 10
        self.lens = self.ls + 1
        _ADD(self.lens, self.digits, self.lens)

    def keys(self) -> Any:
        """Sort keys: name length (or _LONGEST + 1 for longer names), version length."""
        keys = np.minimum(self.lens, _LONGEST + 1).astype(np.uint16)
        np.multiply(keys, np.uint16(_DIGITS), keys)
        return _ADD(keys, self.digits, keys)

    def text(self, rows: Any, width: int) -> Any:
        """``width`` bytes of the text from each row's stream on, as a (rows, width) array."""
        def windows(data: Any) -> Any:
            return np.ndarray((max(0, len(data) - width + 1),), f"V{width}", data,
                              strides=(1,))

        at = self.offs[rows]
        limit = len(self.data) - width
        if len(at) and int(at.max()) <= limit:
            got = windows(self.data)[at]
        else:
            got = np.empty(len(at), f"V{width}")
            near = at > limit
            got[~near] = windows(self.data)[at[~near]]
            got[near] = windows(self.tail)[at[near] - self.tail_at]
        return got.view(np.uint8).reshape(len(at), width)

    def words(self, rows: Any, k: int, s: _Scratch) -> list[Word]:
        """The 16 * k message words of ``rows`` (all of ``k`` blocks), from word 4 on (the
        namespace's words are constants)."""
        lens = self.lens[rows]
        digits = self.digits[rows]
        if (lens.min() == lens.max() and digits.min() == digits.max()
                and not self.neg[rows].any()):
            return self._uniform_words(rows, k, s, int(lens[0]), int(digits[0]))
        return self._words(rows, k, s, lens)

    def _uniform_words(self, rows: Any, k: int, s: _Scratch, length: int,
                       digits: int) -> list[Word]:
        """Words of rows whose streams and versions have the same lengths: the bytes' places
        are the same in every row (and the padding and length words are constants)."""
        m = len(rows)
        ls = length - 1 - digits
        words = s.words(k)[:, :m]
        full = -(-length // 4)  # words holding name bytes
        held = -(-ls // 4)  # ... stream bytes
        if held:
            words[:held] = self.text(rows, 4 * held).view(">u4").T
            if ls % 4:
                words[held - 1] &= _u32((_M32 << 8 * (4 - ls % 4)) & _M32)
        words[held:full] = 0
        const = [0] * (full + 1)
        const[length // 4] |= 0x80 << 8 * (3 - length % 4)
        q = self.u[rows].astype(np.uint32) if digits < 10 else self.u[rows]
        digit = np.empty_like(q)
        shifted = s.work[7, :m]
        for r in range(digits):
            np.divmod(q, q.dtype.type(10), out=(q, digit))
            at = length - 1 - r
            const[at // 4] |= 48 << 8 * (3 - at % 4)
            np.left_shift(digit, 8 * (3 - at % 4), out=shifted, casting="unsafe")
            words[at // 4] |= shifted
        for j in range(full):
            if const[j]:
                words[j] |= _u32(const[j])
        out: list[Word] = list(_NS_WORDS)
        out += [words[j] for j in range(full)]
        if const[full]:
            out.append(const[full])
        out += [0] * (16 * k - 1 - len(out))
        out.append((length + 16) * 8)
        return out

    def _words(self, rows: Any, k: int, s: _Scratch, lens: Any) -> list[Word]:
        """Words of rows of any lengths: bytes past each name are masked off."""
        m = len(rows)
        width = 64 * k - 16
        words = s.words(k)[:, :m]
        ls = self.ls[rows]
        buf = self.text(rows, width)
        buf.view("<u8")[...] &= _BYTE_MASKS[np.clip(ls[:, None] - np.arange(0, width, 8), 0, 8)]
        flat = buf.reshape(-1)
        base = np.arange(0, m * width, width)
        q = self.u[rows]
        digits = self.digits[rows]
        digit = np.empty(m, np.uint64)
        for r in range(int(digits.max())):
            np.divmod(q, np.uint64(10), out=(q, digit))
            digit += np.uint64(48)
            # rows with fewer digits write to a length byte, set later
            at = np.where(digits > r, lens - 1 - r, width - 1)
            flat[base + at] = digit
        neg = np.flatnonzero(self.neg[rows])
        if len(neg):
            flat[base[neg] + ls[neg] + 1] = ord("-")
        flat[base + lens] = 0x80
        full = int(lens.max()) // 4 + 1
        words[:full] = buf.view(">u4")[:, :full].T
        out: list[Word] = list(_NS_WORDS)
        out += [words[j] for j in range(full)]
        out += [0] * (16 * k - 1 - len(out))
        last = words[width // 4 - 1]
        np.multiply(lens + 16, 8, out=last, casting="unsafe")
        out.append(last)
        return out


def _event_id_column(streams: pl.Series, versions: pl.Series) -> pl.Series:
    """:func:`event_id_for` of a String and an Int64 column (no nulls), vectorised.

    Byte-for-byte equal to ``event_ids_for(streams.to_list(), versions.to_list())``."""
    n = len(streams)
    if n == 0:
        return pl.Series("event_id", [], pl.String)
    names = _Names(streams, versions)
    order, tasks = _tasks(names.keys(), _CHUNK_ROWS)
    text = np.empty((n, 9), "<u4")  # the 36 bytes of each id
    ids = text.view("V36").reshape(n)
    workers = max(1, min(os.cpu_count() or 1, 4, len(tasks)))
    if n < _THREADS_MIN_ROWS:
        workers = 1
    scratch: queue.SimpleQueue[_Scratch] = queue.SimpleQueue()
    for _ in range(workers):
        scratch.put(_Scratch(max((hi - lo for lo, hi, _ in tasks), default=0)))

    def hash_task(task: tuple[int, int, int]) -> None:
        lo, hi, k = task
        s = scratch.get()
        try:
            rows = order[lo:hi]
            words = names.words(rows, k, s)
            state: list[Word] = list(_H0)
            for b in range(k):
                state = _compress(words[16 * b:16 * b + 16], state, s.states[b % 2], s, hi - lo)
            ids[rows] = _format(s.states[(k - 1) % 2, :4, :hi - lo], s)
        finally:
            scratch.put(s)

    with ThreadPoolExecutor(workers) if workers > 1 else contextlib.nullcontext() as pool:
        for _ in (pool.map if pool else map)(hash_task, tasks):
            pass
    long_rows = order[sum(hi - lo for lo, hi, _ in tasks):]
    if len(long_rows):
        digest = np.empty((4, len(long_rows)), np.uint32)
        for i, (name, v) in enumerate(zip(streams.gather(long_rows).to_list(),
                                          versions.gather(long_rows).to_list())):
            h = hashlib.sha1(_NS + f"{name}\x00{v}".encode(), usedforsecurity=False)
            digest[:, i] = np.frombuffer(h.digest()[:16], ">u4")
        ids[long_rows] = _format(digest, _Scratch(len(long_rows)))
    offsets = pa.py_buffer(np.arange(0, 36 * (n + 1), 36, dtype=np.int64))
    arr = pa.Array.from_buffers(pa.large_string(), n,
                                [None, offsets, pa.py_buffer(text.view(np.uint8))])
    return pl.Series("event_id", arr, pl.String)


def _format(digest: Any, s: _Scratch) -> Any:
    """The text of the UUIDs whose first 128 bits are the rows of ``digest`` (4, m), as m
    items of 36 bytes (version 5, variant 10), in ``s``'s arrays."""
    m = digest.shape[1]
    hex4 = _hex4()
    text = s.text[:, :m]  # little-endian words of four characters
    groups = s.work[:3, :m]  # hex digits 9-12, 14-17, 19-22 (before a dash)
    half = s.ring[:2].reshape(-1).view(np.intp)[:m]  # indexes into hex4 (rows 0-1 free)
    word = s.work[3, :m]
    dst = (text[0], text[1], groups[0], groups[1], groups[2], text[6], text[7], text[8])
    for g in range(4):
        if g == 1:  # the version nibble: 5
            _AND(digest[g], _u32(0xFFFF0FFF), word)
            _OR(word, _u32(0x5000), word)
        elif g == 2:  # the variant bits: 10
            _AND(digest[g], _u32(0x3FFFFFFF), word)
            _OR(word, _u32(0x80000000), word)
        else:
            np.copyto(word, digest[g])
        _SHR(word, _SH[16], half)
        np.take(hex4, half, out=dst[2 * g])
        _AND(word, _u32(0xFFFF), half)
        np.take(hex4, half, out=dst[2 * g + 1])
    # the words holding dashes ("-" is 0x2D): characters 8-11, 12-15, 16-19, 20-23
    g2, g3, g4 = groups
    tmp = text[5]
    _SHL(g2, _SH[8], text[2])
    _OR(text[2], _u32(0x2D), text[2])
    _SHR(g2, _SH[24], text[3])
    _SHL(g3, _SH[16], tmp)
    _OR(text[3], tmp, text[3])
    _OR(text[3], _u32(0x2D00), text[3])
    _SHR(g3, _SH[16], text[4])
    _SHL(g4, _SH[24], tmp)
    _OR(text[4], tmp, text[4])
    _OR(text[4], _u32(0x2D0000), text[4])
    _SHR(g4, _SH[8], text[5])
    _OR(text[5], _u32(0x2D000000), text[5])
    out = s.rows[:m]
    out[...] = text.T
    return out.view("V36").reshape(m)
