"""The vectorised UUIDv5 event ids equal the reference (uuid.uuid5) byte for byte."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from unittest.mock import patch

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from estime import _uuid5
from estime._normalize import (
    NAMESPACE,
    _assigned_ids,
    _event_id_column,
    event_ids_for,
    normalize,
)

_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
# names of every block count: empty, short, ~40/~100/~230 bytes (block edges), and > 4 blocks
_STREAMS = st.one_of(
    st.text(max_size=8),
    st.text(min_size=20, max_size=60),
    st.text(min_size=80, max_size=130),
    st.text(alphabet=st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),
            min_size=1, max_size=80),
    st.text(min_size=200, max_size=400),
)


def _reference(streams: list[str], versions: list[int]) -> list[str]:
    return [str(uuid.uuid5(NAMESPACE, f"{s}\x00{v}")) for s, v in zip(streams, versions)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_STREAMS, _INT64), min_size=1, max_size=40))
def test_vectorised_ids_equal_uuid5(rows: list[tuple[str, int]]) -> None:
    streams = [s for s, _ in rows]
    versions = [v for _, v in rows]
    got = _event_id_column(pl.Series(streams, dtype=pl.String),
                           pl.Series(versions, dtype=pl.Int64))
    assert got.dtype == pl.String
    assert got.to_list() == _reference(streams, versions)


def test_block_edges_exactly() -> None:
    # message = 16 namespace bytes + name; padding needs 9 more bytes: 55/56 and 119/120
    # are the 1->2 and 2->3 block edges; 247/248 crosses into the hashlib fallback.
    streams, versions = [], []
    for total in range(40, 260):
        name_len = total - 16
        stream = "x" * (name_len - 2)  # + "\x00" + one digit
        streams.append(stream)
        versions.append(7)
    got = _event_id_column(pl.Series(streams), pl.Series(versions, dtype=pl.Int64))
    assert got.to_list() == _reference(streams, versions)


def test_100k_rows_equal_the_loop() -> None:
    n = 100_000
    streams = [("é" * (i % 7)) + f"stream-{i % 977}" + ("😀" * (i % 31 == 0)) for i in range(n)]
    versions = [i // 977 + 1 - (i % 5 == 0) * 1000 for i in range(n)]
    got = _event_id_column(pl.Series(streams), pl.Series(versions, dtype=pl.Int64))
    assert got.to_list() == event_ids_for(streams, versions)
    assert got.to_list()[:50] == _reference(streams[:50], versions[:50])


def test_sliced_inputs() -> None:
    # arrow slices carry an offset into their buffers
    streams = pl.Series([f"s{i}" for i in range(300)]).slice(17, 200)
    versions = pl.Series(list(range(300)), dtype=pl.Int64).slice(17, 200)
    got = _event_id_column(streams, versions)
    assert got.to_list() == _reference(streams.to_list(), versions.to_list())
    assert _event_id_column(pl.Series([], dtype=pl.String),
                            pl.Series([], dtype=pl.Int64)).to_list() == []


def test_normalize_assigns_the_same_ids_above_and_below_the_threshold() -> None:
    n = 12_000
    frame = pl.DataFrame({"stream": [f"acc-{i % 300}" for i in range(n)],
                          "type": ["Deposited"] * n})
    big, _ = normalize(frame)
    assert big["event_id"].to_list() == _reference(big["stream"].to_list(),
                                                   big["version"].to_list())
    small, _ = normalize(frame.head(100))
    assert small["event_id"].to_list() == big["event_id"].to_list()[:100]
    assert _assigned_ids(big["stream"], big["version"]).to_list() == big["event_id"].to_list()


# ------------------------------------------------------------------ estime._uuid5's column path
# Small chunks make a few hundred rows take every path: uniform chunks (one stream length and
# one version length: constant padding words), mixed chunks, several threads, hashlib for
# names longer than four blocks.


@contextmanager
def _small_chunks(rows: int = 8, threads: int = 4) -> Iterator[None]:
    with patch.object(_uuid5, "_CHUNK_ROWS", rows), \
            patch.object(_uuid5, "_THREADS_MIN_ROWS", 0), \
            patch.object(_uuid5.os, "cpu_count", lambda: threads):
        yield


def _ids(streams: list[str], versions: list[int]) -> list[str]:
    return _event_id_column(pl.Series(streams, dtype=pl.String),
                            pl.Series(versions, dtype=pl.Int64)).to_list()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 240), st.sampled_from([0, 7, 42, 999, 10**9, -3])),
                min_size=1, max_size=6),
       st.integers(1, 30), st.sampled_from(["x", "é", "😀", "ab"]))
def test_uniform_chunks_equal_uuid5(shapes: list[tuple[int, int]], copies: int,
                                    char: str) -> None:
    # many rows of each (stream length, version) shape: their chunks are uniform
    streams, versions = [], []
    for i in range(copies):
        for length, version in shapes:
            text = (char * length)[:max(0, length - 2)] + f"{i % 10}"
            streams.append(text)
            versions.append(version + i if version >= 0 else version - i)
    with _small_chunks():
        got = _ids(streams, versions)
    assert got == _reference(streams, versions)


def test_threaded_chunks_of_a_large_frame_equal_the_loop() -> None:
    # more rows than one chunk, cut at uneven places; uniform and mixed chunks
    n = 20_000
    streams = [str(uuid.UUID(int=i % 997 * 7919)) if i % 3 else f"order-{i % 1234}"
               for i in range(n)]
    versions = [i // 997 + 1 if i % 11 else -(i % 7) for i in range(n)]
    with _small_chunks(rows=1000, threads=2):
        got = _ids(streams, versions)
    assert got == event_ids_for(streams, versions)
    assert got == _ids(streams, versions)  # the default chunks


def test_version_lengths_from_1_to_20_digits_in_large_groups() -> None:
    versions = [v for d in range(19) for v in (10**d, 10**d + 1, -(10**d))]
    versions += [2**63 - 1, -(2**63)]
    streams = [f"s{i % 3}" for i in range(len(versions))]
    rows = [(s, v) for s, v in zip(streams, versions) for _ in range(5)]
    with _small_chunks(rows=4):
        got = _ids([s for s, _ in rows], [v for _, v in rows])
    assert got == _reference([s for s, _ in rows], [v for _, v in rows])


def test_long_and_non_ascii_names() -> None:
    # names past four blocks go through hashlib; multi-byte characters count in bytes
    streams = ["é" * 115, "é" * 116, "😀" * 57, "😀" * 58, "x" * 231, "x" * 5000,
               "naïve/" * 30, "", "\x00", "a\x00b"] * 40
    versions = [i % 13 - 6 for i in range(len(streams))]
    with _small_chunks():
        got = _ids(streams, versions)
    assert got == _reference(streams, versions)
    only_long = ["y" * (240 + i) for i in range(50)]
    assert _ids(only_long, list(range(50))) == _reference(only_long, list(range(50)))


def test_empty_streams_and_chunked_series() -> None:
    with _small_chunks():
        assert _ids([""] * 40, list(range(40))) == _reference([""] * 40, list(range(40)))
    parts = [pl.Series([f"p{j}-{i}" for i in range(300)]) for j in range(3)]
    streams = pl.concat(parts, rechunk=False)
    assert streams.n_chunks() == 3
    versions = pl.concat([pl.Series(list(range(300)), dtype=pl.Int64)] * 3, rechunk=False)
    got = _event_id_column(streams, versions).to_list()
    assert got == _reference(streams.to_list(), versions.to_list())
