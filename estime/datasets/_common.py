"""Helpers shared by the dataset generators: seeded draws, fixed clocks, frame assembly.

Determinism rules (every generator follows them):

* randomness comes only from ``random.Random(seed).random()`` or NumPy's PCG64
  ``default_rng(seed).random()``: uniform doubles, whose streams are fixed for a seed;
* uniform doubles are mapped to choices with multiplication and ``int()`` only (exact in
  IEEE 754 on every machine; no ``log``/``exp`` whose last bits may differ between libms);
* time starts at a fixed instant and advances by seeded integer offsets; no wall clock.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar

import polars as pl

from estime._normalize import normalize
from estime.log import EventLog

T = TypeVar("T")

#: microseconds per second
SECOND = 1_000_000


def epoch_us(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
             second: int = 0) -> int:
    """Microseconds since the Unix epoch of a UTC instant (no wall clock involved)."""
    t = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    return int(t.timestamp()) * SECOND


def iso(us: int) -> str:
    """ISO 8601 text (UTC, ``Z``, whole seconds) of a microsecond timestamp."""
    return datetime.fromtimestamp(us // SECOND, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def time_series(us: Sequence[int], name: str = "time") -> pl.Series:
    """A ``Datetime("us", "UTC")`` series from microsecond timestamps."""
    return pl.Series(name, us, pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


class Draws:
    """Seeded uniform draws mapped to choices with exact arithmetic only."""

    __slots__ = ("_random",)

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed).random

    def u(self) -> float:
        """A uniform double in [0, 1)."""
        return self._random()

    def below(self, n: int) -> int:
        """An int in ``range(n)``."""
        return int(self._random() * n)

    def between(self, lo: int, hi: int) -> int:
        """An int in ``[lo, hi]``."""
        return lo + int(self._random() * (hi - lo + 1))

    def pick(self, items: Sequence[T]) -> T:
        """One of ``items``."""
        return items[int(self._random() * len(items))]

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return self._random() < p

    def hex(self, digits: int = 8) -> str:
        """``digits`` seeded hex digits (for shas and tracking numbers)."""
        return "".join("0123456789abcdef"[int(self._random() * 16)] for _ in range(digits))


def canonical_log(frame: pl.DataFrame) -> EventLog:
    """Wrap a generated frame that already has the canonical columns and types.

    The generators write JSON text themselves, so the per-row JSON validation of
    ``EventLog.from_frame`` is skipped (seq, version and id checks still run); the tests
    check that ``from_frame`` accepts every generated frame unchanged.
    """
    out, _ = normalize(frame, trusted=True)
    return EventLog._trusted(out)


def build_log(*, stream: list[str], version: list[int], type: list[str], time_us: list[int],
              data: list[str], meta: list[str], event_id: list[str]) -> EventLog:
    """Assemble columns (seq = row order) into a validated :class:`EventLog`."""
    n = len(stream)
    frame = pl.DataFrame([
        pl.Series("seq", range(1, n + 1), pl.Int64),
        pl.Series("stream", stream, pl.String),
        pl.Series("version", version, pl.Int64),
        pl.Series("type", type, pl.String),
        time_series(time_us),
        pl.Series("data", data, pl.String),
        pl.Series("meta", meta, pl.String),
        pl.Series("event_id", event_id, pl.String),
        pl.Series("schema_version", [1] * n, pl.Int64),
    ])
    return canonical_log(frame)
