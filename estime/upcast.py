"""Upcasting: turn stored events of an old payload schema into the current one while reading.

The stored events never change: upcasters map payloads on the way into a replay (or into a
new :class:`~estime.log.EventLog` via ``log.upcast(up)``).

>>> import estime as es
>>> up = es.Upcasters()
>>> @up.register("MoneyDeposited", from_version=1)
... def cents(data):
...     return {"amount_cents": data["amount"] * 100}
>>> @up.register("MoneyDeposited", from_version=2)
... def currency(data):
...     return {**data, "currency": "EUR"}
>>> log = es.EventLog.from_records([{"stream": "a", "type": "MoneyDeposited",
...                                   "data": {"amount": 5}}])
>>> dict(log.upcast(up).event(1).data), log.upcast(up).event(1).schema_version
({'amount_cents': 500, 'currency': 'EUR'}, 3)
>>> dict(log.event(1).data)  # the original log is unchanged
{'amount': 5}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

from estime._json import freeze, thaw, to_json_text
from estime.errors import UpcastError

if TYPE_CHECKING:
    from estime.log import Event, EventLog

__all__ = ["Upcasters"]

Step = Callable[..., Any]


class Upcasters:
    """A registry of upcasting steps: (type, from_version) → function of the payload.

    A step registered ``from_version=n`` maps a version-n payload to version n + 1 (or to
    ``to_version`` when given). Steps chain: a v1 event passes through every step up to the
    current version. A step takes the payload (a plain dict copy it may mutate) and returns
    the new payload; with ``event=True`` it takes ``(data, event)``.
    """

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], tuple[Step, int, bool]] = {}

    def register(self, type: str, from_version: int, *, to_version: int | None = None,
                 event: bool = False) -> Callable[[Step], Step]:
        """Decorator registering ``fn`` as the step of ``type`` from ``from_version``."""
        to = from_version + 1 if to_version is None else to_version
        if to <= from_version:
            raise UpcastError(f"upcaster for {type!r} must raise the schema version "
                              f"(from {from_version} to {to})")

        def decorate(fn: Step) -> Step:
            key = (type, from_version)
            if key in self._steps:
                old = self._steps[key][0]
                raise UpcastError(
                    f"an upcaster for {type!r} from version {from_version} is already "
                    f"registered ({getattr(old, '__qualname__', old)}); register one step "
                    "per (type, from_version), or make a new Upcasters()"
                )
            self._steps[key] = (fn, to, event)
            return fn

        return decorate

    def __len__(self) -> int:
        return len(self._steps)

    def __contains__(self, key: object) -> bool:
        return key in self._steps

    @property
    def types(self) -> set[str]:
        """The event types that have at least one step."""
        return {t for t, _ in self._steps}

    def current_version(self, type: str, version: int = 1) -> int:
        """The schema version an event of ``type`` at ``version`` ends at after upcasting."""
        while (type, version) in self._steps:
            version = self._steps[(type, version)][1]
        return version

    def upcast_payload(self, type: str, version: int, data: Any,
                       event: Event | None = None) -> tuple[Any, int]:
        """Run the chain on one payload; return ``(new_data, new_version)``."""
        steps = self._steps
        while (type, version) in steps:
            fn, to, wants_event = steps[(type, version)]
            try:
                data = fn(data, event) if wants_event else fn(data)
            except Exception as exc:
                where = f" at seq {event.seq} (stream {event.stream!r})" if event else ""
                raise UpcastError(
                    f"upcaster {getattr(fn, '__qualname__', fn)} for {type!r} v{version}"
                    f"{where} raised {exc!r}; fix the upcaster or the event"
                ) from exc
            version = to
        return data, version

    def apply(self, event: Event) -> Event:
        """The event upcast to its current version (the same object when no step applies)."""
        if (event.type, event.schema_version) not in self._steps:
            return event
        data, version = self.upcast_payload(event.type, event.schema_version,
                                            thaw(event.data), event)
        return event._replace(data=freeze(orjson.loads(to_json_text(data))),
                              schema_version=version)

    def iter(self, events: Iterable[Event]) -> Iterator[Event]:
        """Upcast a stream of events lazily."""
        steps = self._steps
        apply = self.apply
        for e in events:
            yield apply(e) if (e.type, e.schema_version) in steps else e

    def upcast_log(self, log: EventLog) -> EventLog:
        """A new log whose payloads and schema_versions are upcast; ``log`` is unchanged."""
        from estime.log import EventLog

        frame = log.frame
        todo = frame.select(
            pl.any_horizontal([
                (pl.col("type") == t) & (pl.col("schema_version") == v) for t, v in self._steps
            ]) if self._steps else pl.lit(False)
        ).to_series()
        if not todo.any():
            return log
        idx = todo.arg_true().to_list()
        datas = frame["data"].to_list()
        versions = frame["schema_version"].to_list()
        for i in idx:
            ev = next(log.iter_events(i, i + 1))
            new, version = self.upcast_payload(ev.type, ev.schema_version, thaw(ev.data), ev)
            datas[i] = to_json_text(new)
            versions[i] = version
        out = frame.with_columns(pl.Series("data", datas, pl.String),
                                 pl.Series("schema_version", versions, pl.Int64))
        return EventLog._trusted(out, log.source)

    def __repr__(self) -> str:
        steps = ", ".join(f"{t} v{v}→v{s[1]}" for (t, v), s in sorted(self._steps.items()))
        return f"Upcasters({steps})"
