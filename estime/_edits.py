"""The edits of a branch as values: events an edit adds, the edit list and its net effect.

Internal to :mod:`estime.branch`; ``_Edit.to_json`` is the persisted form of an edit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from estime._json import loads as json_loads
from estime._json import to_json_text
from estime.errors import BranchError

#: namespace of the ids estime gives inserted and replaced events (fixed forever)
BRANCH_NAMESPACE = uuid.UUID("6f1c9a3e-3c1b-5e0e-9d1a-e57173e00002")
_APPEND_ANCHOR = 2**62  # sorts after every parent seq
_NO_ANCHOR = -(2**62)


def _uuid(*parts: Any) -> str:
    return str(uuid.uuid5(BRANCH_NAMESPACE, "\x00".join(str(p) for p in parts)))


@dataclass(frozen=True)
class _New:
    """An event an edit adds (normalized when the edit is made)."""

    stream: str
    type: str
    data: str  # JSON text
    meta: str  # JSON text
    event_id: str
    time: datetime | None
    schema_version: int

    def to_json(self) -> dict[str, Any]:
        return {"stream": self.stream, "type": self.type, "data": json_loads(self.data),
                "meta": json_loads(self.meta), "event_id": self.event_id,
                "time": None if self.time is None else self.time.isoformat(),
                "schema_version": self.schema_version}


@dataclass(frozen=True)
class _Edit:
    op: str  # drop | replace | insert | truncate | append
    seq: int | None = None
    after: int | None = None
    type: str | None = None
    data: str | None = None
    meta: str | None = None
    event_id: str | None = None
    events: tuple[_New, ...] = ()

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"op": self.op}
        if self.seq is not None:
            d["seq"] = self.seq
        if self.after is not None:
            d["after"] = self.after
        for k in ("type", "event_id"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        for k in ("data", "meta"):
            if getattr(self, k) is not None:
                d[k] = json_loads(getattr(self, k))
        if self.events:
            d["events"] = [e.to_json() for e in self.events]
        return d


@dataclass
class _Plan:
    """The net effect of the edits: what a materialisation needs."""

    dropped: set[int] = field(default_factory=set)
    truncated: bool = False
    replaced: dict[int, tuple[str, str, str, str]] = field(default_factory=dict)
    inserts: list[tuple[int, int, _New]] = field(default_factory=list)  # anchor, order, event
    counter: int = 0

    def copy(self) -> _Plan:
        return _Plan(set(self.dropped), self.truncated, dict(self.replaced), list(self.inserts),
                     self.counter)

    def is_dropped(self, seq: int) -> bool:
        return self.truncated or seq in self.dropped


def _json_or_error(value: Any, what: str) -> str:
    try:
        return to_json_text(value)
    except TypeError as exc:
        raise BranchError(f"{what} is not JSON-compatible ({exc}); use dicts, lists, str, "
                          "int, float, bool and None") from None


def _time(value: Any, what: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        from estime._normalize import _as_utc

        return None if value is None else _as_utc(value)
    from estime.log import _utc

    try:
        return _utc(str(value))
    except Exception:
        raise BranchError(f"{what}: time {value!r} is not a datetime or ISO 8601 text") from None
