"""Is a projection deterministic? Replays must give the same state every time.

:func:`check_determinism` folds the log twice and compares state fingerprints at every
checkpoint, then re-folds from several checkpoints and compares again (replay from a
checkpoint must equal replay from scratch). In strict mode (the default) it also watches
every handler call and raises :class:`~estime.errors.NondeterminismError` naming the handler
when it reads the wall clock, draws randomness, makes a uuid1/uuid4, or mutates the event
it was given.

>>> import estime as es
>>> p = es.Projection("count", initial=lambda: {"n": 0})
>>> @p.on("*")
... def count(state, event):
...     state["n"] += 1
>>> log = es.EventLog.from_records([{"stream": "a", "type": "X"}] * 3)
>>> es.check_determinism(log, p).ok
True
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson

from estime.errors import NondeterminismError
from estime.log import Event, EventLog
from estime.projection import Projection, Replay, replay

__all__ = ["DeterminismReport", "check_determinism"]


def fingerprint(state: Any) -> str:
    """A stable hash of a state (key order does not matter)."""
    try:
        blob = orjson.dumps(state, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
                            default=_fallback)
    except TypeError:
        blob = repr(state).encode()
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


def _fallback(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if hasattr(value, "__dict__"):
        return vars(value)
    return repr(value)


@dataclass
class DeterminismReport:
    """What :func:`check_determinism` found. Truthy when the projection is deterministic."""

    projection: str
    events: int
    checkpoints_compared: int = 0
    resumes_compared: int = 0
    first_divergence: int | None = None
    path: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every comparison agreed."""
        return not self.problems

    def __bool__(self) -> bool:
        return self.ok

    def summary(self) -> str:
        """One paragraph for humans."""
        head = (f"projection {self.projection!r}: {self.events:,} events, "
                f"{self.checkpoints_compared} checkpoints and {self.resumes_compared} resumes "
                "compared: ")
        if self.ok:
            return head + "deterministic."
        where = f" first divergence after seq {self.first_divergence}" if (
            self.first_divergence is not None) else ""
        at = f" at {self.path}" if self.path else ""
        return head + f"NOT deterministic;{where}{at}. " + " ".join(self.problems)

    def __repr__(self) -> str:
        return f"DeterminismReport({self.summary()})"

    def _repr_html_(self) -> str:
        import html

        colour = "#1a7f37" if self.ok else "#cf222e"
        return f'<p style="color:{colour}">{html.escape(self.summary())}</p>'


# ----------------------------------------------------------------------------- strict mode


_TIME_FUNCS = {time.time, time.time_ns, time.monotonic, time.monotonic_ns, time.perf_counter,
               time.perf_counter_ns, os.urandom}
_PY_FORBIDDEN = {uuid.uuid1.__code__: "uuid.uuid1", uuid.uuid4.__code__: "uuid.uuid4"}
_RANDOM_FILE = random.__file__


def _forbidden(frame: Any, event: str, arg: Any) -> str | None:
    if event == "c_call":
        if arg in _TIME_FUNCS:
            return f"{arg.__module__ or 'time'}.{arg.__name__}"
        owner = getattr(arg, "__self__", None)
        name = getattr(arg, "__name__", "")
        if owner in (datetime, date) and name in {"now", "utcnow", "today"}:
            return f"{owner.__name__}.{name}"
        if isinstance(owner, random.Random):
            return f"random.{name}"
    elif event == "call":
        code = frame.f_code
        if code in _PY_FORBIDDEN:
            return _PY_FORBIDDEN[code]
        if code.co_filename == _RANDOM_FILE:
            return f"random.{code.co_name}"
    return None


def _guard(fn: Callable[[Any, Event], Any], projection: str) -> Callable[[Any, Event], Any]:
    name = getattr(fn, "__qualname__", repr(fn))

    def guarded(state: Any, event: Event) -> Any:
        seen: list[str] = []

        def hook(frame: Any, what: str, arg: Any) -> None:
            if not seen:
                bad = _forbidden(frame, what, arg)
                if bad is not None:
                    seen.append(bad)

        before = (orjson.dumps(event.data, default=dict), orjson.dumps(event.meta, default=dict))
        old = sys.getprofile()
        sys.setprofile(hook)
        try:
            result = fn(state, event)
        finally:
            sys.setprofile(old)
        if seen:
            raise NondeterminismError(
                f"projection {projection!r}: handler {name} called {seen[0]} while folding seq "
                f"{event.seq} (stream {event.stream!r}, type {event.type!r}). A replay must "
                "give the same state every time: take times, ids and random draws from the "
                "event (event.time, event.data, event.event_id) instead."
            )
        after = (orjson.dumps(event.data, default=dict), orjson.dumps(event.meta, default=dict))
        if after != before:
            raise NondeterminismError(
                f"projection {projection!r}: handler {name} mutated the event at seq "
                f"{event.seq} (stream {event.stream!r}, type {event.type!r}). Events are "
                "immutable facts: copy what you need (copy.deepcopy(event.data[...])) before "
                "changing it."
            )
        return result

    guarded.__qualname__ = name
    return guarded


def _guarded(projection: Projection) -> Projection:
    g = Projection(projection.name, projection.initial, projection.per_stream)
    g.new_state = projection.new_state  # type: ignore[method-assign]
    g._handlers = {t: _guard(h, projection.name) for t, h in projection._handlers.items()}
    if projection._wildcard is not None:
        g._wildcard = _guard(projection._wildcard, projection.name)
    return g


# ----------------------------------------------------------------------------- the check


def check_determinism(log: EventLog, projection: Projection, *, strict: bool = True,
                      checkpoint_every: int | None = None, resumes: int = 8) -> DeterminismReport:
    """Replay twice and from several checkpoints; compare state fingerprints everywhere.

    With ``strict=True`` handlers that read the clock, draw randomness, call uuid1/uuid4 or
    mutate their event raise :class:`NondeterminismError` naming the handler. The report
    names the first diverging seq and the first differing path.
    """
    proj = _guarded(projection) if strict else projection
    every = checkpoint_every or max(1, min(len(log) // 16 or 1, 50_000))
    a = replay(log, proj, checkpoint_every=every)
    b = replay(log, proj, checkpoint_every=every)
    report = DeterminismReport(projection.name, len(log))
    indexes = [cp.index for cp in a._cps]
    for cp_a, cp_b in zip(a._cps, b._cps):
        report.checkpoints_compared += 1
        if fingerprint(cp_a.restore()) != fingerprint(cp_b.restore()):
            prev = max([i for i in indexes if i < cp_a.index], default=0)
            _locate(report, a, b, prev, cp_a.index, "two replays of the same log disagree")
            return report
    # replay from a checkpoint must equal the state the first fold kept at the next one
    step = max(1, len(indexes) // max(resumes, 1))
    for k in range(0, len(indexes) - 1, step):
        lo, hi = indexes[k], indexes[k + 1]
        resumed = a._fold(a._cps[k].restore(), lo, hi)
        report.resumes_compared += 1
        if fingerprint(resumed) != fingerprint(a._cps[k + 1].restore()):
            _locate(report, a, a, lo, hi, "a replay resumed from a checkpoint disagrees "
                    "with the replay from scratch (does a handler keep state outside `state`?)")
            return report
    return report


def _locate(report: DeterminismReport, a: Replay, b: Replay, lo: int, hi: int,
            problem: str) -> None:
    """Fold both sides event by event over rows [lo, hi) to name the first divergence."""
    from estime.diff import diff

    report.problems.append(problem + ".")
    sa, sb = a._state_at_index(lo), b._state_at_index(lo)
    for i, e in enumerate(a.log.iter_events(lo, hi)):
        sa = a._fold(sa, lo + i, lo + i + 1)
        sb = b._fold(sb, lo + i, lo + i + 1)
        if fingerprint(sa) != fingerprint(sb):
            report.first_divergence = e.seq
            d = diff(sa, sb)
            if d:
                report.path = d.frame["path"][0]
            return
