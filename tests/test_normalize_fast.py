"""The vectorised UUIDv5 event ids equal the reference (uuid.uuid5) byte for byte."""

from __future__ import annotations

import uuid

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

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
