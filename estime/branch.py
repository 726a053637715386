"""What-if branches: fork a log, change the past, replay what would have happened.

>>> import estime as es
>>> log = es.EventLog.from_records([
...     {"stream": "a", "type": "Deposited", "data": {"amount": 5}},
...     {"stream": "a", "type": "Deposited", "data": {"amount": 7}},
...     {"stream": "a", "type": "Withdrawn", "data": {"amount": 3}},
... ])
>>> b = log.fork(at=1, name="no-second-deposit").drop(2)
>>> b.log.frame.select("seq", "type", "version", "parent_seq").rows()
[(1, 'Deposited', 1, 1), (2, 'Withdrawn', 2, 3)]
>>> b2 = b.insert(after=2, events=[{"type": "Deposited", "data": {"amount": 1}}])
>>> b2.log.frame["type"].to_list(), b2.log.frame["parent_seq"].to_list()
(['Deposited', 'Deposited', 'Withdrawn'], [1, None, 3])

Rules
-----
* ``log.fork(at)`` shares every event with seq ≤ ``at`` with the parent; the edits act on
  the later ones. Every edit returns a new :class:`Branch` (a branch is an immutable list of
  edits over its parent).
* Edits name events by their seq **in the parent** (the seqs you see in ``branch.parent``),
  so chained edits mean what they say: ``fork(10).drop(12).drop(13)`` drops the parent's 12
  and 13. ``insert(after=s)`` puts events right after the parent's event ``s`` (``s`` may be
  ``at`` itself, or an event the branch dropped). To edit a branch's own result (an event it
  inserted, say), fork the branch: ``branch.fork(at)``; its edits name ``branch.log``'s seqs.
* ``branch.log`` is an :class:`~estime.log.EventLog` with an extra ``parent_seq`` column (the
  event's seq in the parent; null for inserted events). Events with seq ≤ ``at`` keep their
  seqs; later ones are numbered ``at + 1, at + 2, ...``.
* Versions stay valid: in a stream where events were inserted or dropped after the fork, the
  later events' versions shift by the number inserted minus the number dropped before them.
* event_ids: an unchanged parent event keeps its event_id (so comparisons align on it and
  ``meta.causation_id`` links still resolve). A replaced event gets a new UUIDv5 of its
  original id and its new content (the original id if the content did not change). An
  inserted event keeps the ``event_id`` given with it, else gets a UUIDv5 of the branch's
  lineage, its edit and its content: the same edits always give the same ids.
* An inserted event's stream defaults to the stream of the event it follows and its time to
  that event's time; ``meta`` defaults to ``{}``, ``schema_version`` to 1.

Replaying a branch (``branch.replay(projection)``) reuses the parent replay's checkpoints up to
the fork point, so its cost grows with the events after the fork. Replays of a log are cached
on the log (a few per log, for the same projection object and options).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import polars as pl

from estime._edits import (
    _APPEND_ANCHOR,
    BRANCH_NAMESPACE,
    _Edit,
    _json_or_error,
    _New,
    _Plan,
    _time,
    _uuid,
)
from estime._json import loads as json_loads
from estime._json import to_json_text
from estime._replays import cached_replay, replay_of
from estime.errors import BranchError
from estime.log import Event, EventLog

if TYPE_CHECKING:
    from estime.decider import Decider
    from estime.projection import Projection, Replay
    from estime.upcast import Upcasters

__all__ = ["BRANCH_NAMESPACE", "Branch", "cached_replay", "load_branch", "replay_of"]

# ---------------------------------------------------------------------------- Branch


class Branch:
    """An immutable what-if branch of a log: the parent, a fork point and a list of edits.

    Made by ``log.fork(at, name=None)`` (or ``Branch(parent, at, name)``); see the module
    docstring for the rules. ``.log`` is the edited :class:`EventLog`, ``.edits`` the edits as
    a frame, ``.replay(projection)`` replays it reusing the parent's checkpoints.
    """

    __slots__ = ("__dict__", "__weakref__", "_at", "_edits", "_k", "_name", "_parent", "_plan")

    def __init__(self, parent: EventLog | Branch, at: int, name: str | None = None) -> None:
        """Fork ``parent`` (an EventLog or a Branch) after its events with seq ≤ ``at``."""
        if not isinstance(parent, (EventLog, Branch)):
            raise TypeError(f"a branch forks an EventLog or a Branch, not {type(parent).__name__}")
        if isinstance(at, bool) or not isinstance(at, (int, np.integer)):
            raise BranchError(f"fork point must be a seq (an int), got {at!r}")
        at = int(at)
        plog = parent.log if isinstance(parent, Branch) else parent
        if at < 0:
            raise BranchError(f"cannot fork at seq {at}: the fork point must be 0 (before "
                              "everything) or the seq of an event")
        if len(plog) and at > int(plog.frame["seq"][-1]):
            last = int(plog.frame["seq"][-1])
            raise BranchError(f"cannot fork at seq {at}: the log ends at seq {last}; fork at "
                              f"{last} to add events after the end with .append(...)")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"a branch name is a str, got {type(name).__name__}")
        self._parent = parent
        self._at = at
        self._name = name
        self._edits: tuple[_Edit, ...] = ()
        self._plan = _Plan()
        self._k = plog.index_of(at)

    def _with(self, *edits: _Edit, plan: _Plan) -> Branch:
        new = object.__new__(Branch)
        new._parent, new._at, new._name, new._k = self._parent, self._at, self._name, self._k
        new._edits = (*self._edits, *edits)
        new._plan = plan
        return new

    # ------------------------------------------------------------------ identity

    @property
    def parent(self) -> EventLog | Branch:
        """The log or branch this branch was forked from."""
        return self._parent

    @property
    def parent_log(self) -> EventLog:
        """The parent as an EventLog (a parent branch's ``.log``)."""
        return self._parent.log if isinstance(self._parent, Branch) else self._parent

    @property
    def at(self) -> int:
        """The fork point: events with seq ≤ ``at`` are shared with the parent."""
        return self._at

    @property
    def name(self) -> str | None:
        """The branch's name (None when unnamed)."""
        return self._name

    def named(self, name: str) -> Branch:
        """The same branch under another name."""
        if not isinstance(name, str) or not name:
            raise TypeError("a branch name is a non-empty str")
        new = object.__new__(Branch)
        new._parent, new._at, new._k = self._parent, self._at, self._k
        new._edits, new._plan, new._name = self._edits, self._plan, name
        return new

    @property
    def label(self) -> str:
        """The name, or ``"branch@<at>"`` for an unnamed branch."""
        return self._name or f"branch@{self._at}"

    @cached_property
    def _lineage(self) -> str:
        p = self._parent
        if isinstance(p, Branch):
            token = _uuid("branch", p._lineage, p._at, orjson.dumps(
                [e.to_json() for e in p._edits]).decode())
        else:
            f = p.frame
            token = _uuid("log", f.height, f["event_id"][-1] if f.height else "")
        return _uuid(token, self._at)

    # ------------------------------------------------------------------ checks

    def _parent_seq_exists(self, seq: int) -> bool:
        plog = self.parent_log
        i = plog.index_of(seq) - 1
        return i >= 0 and int(plog._seqs[i]) == seq

    def _check_seq(self, seq: Any, op: str) -> int:
        if isinstance(seq, bool) or not isinstance(seq, (int, np.integer)):
            raise BranchError(f"{op}: seq must be an int, got {seq!r}")
        seq = int(seq)
        if seq <= self._at:
            raise BranchError(
                f"{op}({seq}): seq {seq} is at or before the fork point {self._at}; a branch "
                f"shares those events with its parent. Fork earlier (fork(at={seq - 1})) to "
                "change it.")
        if not self._parent_seq_exists(seq):
            raise BranchError(f"{op}({seq}): the parent has no event with seq {seq} "
                              f"({self._range()})")
        return seq

    def _range(self) -> str:
        s = self.parent_log._seqs
        if not len(s):
            return "it is empty"
        return f"its seqs run {int(s[0])}..{int(s[-1])}"

    def _default_stream(self, anchor: int) -> str | None:
        plog = self.parent_log
        i = plog.index_of(anchor) - 1
        if i < 0:
            return None
        return str(plog.frame["stream"][i])

    def _default_time(self, anchor: int) -> datetime | None:
        plog = self.parent_log
        i = plog.index_of(anchor) - 1
        if i < 0:
            return None
        t = plog.frame["time"][i]
        return t if isinstance(t, datetime) else None

    def _new_events(self, plan: _Plan, events: Any, anchor: int, op: str, *,
                    check: bool = True) -> tuple[_New, ...]:
        if isinstance(events, (Mapping, Event)):
            events = [events]
        if isinstance(events, EventLog):
            events = list(events)
        if not isinstance(events, Iterable) or isinstance(events, (str, bytes)):
            raise BranchError(f"{op}: events must be a list of mappings with type and data")
        out: list[_New] = []
        for j, ev in enumerate(events):
            what = f"{op}: event {j + 1}"
            if isinstance(ev, Event):
                ev = ev.to_dict()
            if not isinstance(ev, Mapping):
                raise BranchError(f"{what} is a {type(ev).__name__}, not a mapping with type "
                                  "and data")
            unknown = set(ev) - {"stream", "type", "data", "meta", "event_id", "time",
                                 "schema_version", "seq", "version"}
            if unknown:
                raise BranchError(f"{what} has unknown field(s) {', '.join(sorted(unknown))}; "
                                  "give stream, type, data, meta, event_id, time")
            etype = ev.get("type")
            if not isinstance(etype, str) or not etype:
                raise BranchError(f"{what} needs a type (a non-empty str), got {etype!r}")
            stream = ev.get("stream") or self._default_stream(anchor)
            if not isinstance(stream, str):
                raise BranchError(f"{what} needs a stream: there is no event before it to take "
                                  "one from")
            data = _json_or_error(ev.get("data", {}), f"{what}: data")
            meta_v = ev.get("meta") or {}
            if not isinstance(meta_v, Mapping):
                raise BranchError(f"{what}: meta must be a mapping, got "
                                  f"{type(meta_v).__name__}")
            meta = _json_or_error(meta_v, f"{what}: meta")
            sv = ev.get("schema_version", 1)
            if isinstance(sv, bool) or not isinstance(sv, int):
                raise BranchError(f"{what}: schema_version must be an int, got {sv!r}")
            time = _time(ev["time"], what) if ev.get("time") is not None \
                else self._default_time(anchor)
            eid = ev.get("event_id")
            if eid is None:
                eid = _uuid(self._lineage, op, anchor, plan.counter + j, stream, etype, data,
                            meta)
            elif not isinstance(eid, str) or not eid:
                raise BranchError(f"{what}: event_id must be a non-empty str, got {eid!r}")
            out.append(_New(stream, etype, data, meta, eid, time, int(sv)))
        if not out:
            raise BranchError(f"{op}: no events given")
        if check:
            self._check_new_ids(plan, [e.event_id for e in out], op)
        return tuple(out)

    def _check_new_ids(self, plan: _Plan, ids: Sequence[str], op: str) -> None:
        """Refuse ids used twice, or already used by an event the branch keeps or added."""
        if len(set(ids)) != len(ids):
            from estime.decider import _first_duplicate

            dup = _first_duplicate(list(ids))
            raise BranchError(f"{op}: event_id {dup!r} is given twice")
        taken = {e.event_id for _, _, e in plan.inserts}
        taken |= {r[3] for r in plan.replaced.values()}
        for i in ids:
            if i in taken:
                raise BranchError(f"{op}: event_id {i!r} is already used by an event this "
                                  "branch added; give another id or leave event_id out")
        hits = self.parent_log.frame.select("seq", "event_id").filter(
            pl.col("event_id").is_in(list(ids)))
        for seq, eid in hits.iter_rows():
            if seq <= self._at or (not plan.is_dropped(seq) and seq not in plan.replaced):
                raise BranchError(
                    f"{op}: event_id {eid!r} is already used by the parent's event at seq "
                    f"{seq}, which this branch keeps; drop that event first, or leave "
                    "event_id out to get a fresh id")

    # ------------------------------------------------------------------ edits
    # _op_* apply one edit to a working plan and return the edit; the public methods copy
    # the plan, apply and wrap (redecide applies many edits to one plan).

    def _op_drop(self, plan: _Plan, seq: Any) -> _Edit:
        s = self._check_seq(seq, "drop")
        if plan.is_dropped(s):
            raise BranchError(f"drop({s}): the event at seq {s} is already dropped in this "
                              "branch")
        plan.dropped.add(s)
        plan.replaced.pop(s, None)
        return _Edit("drop", seq=s)

    def _op_replace(self, plan: _Plan, seq: Any, type: str | None, data: Any,
                    meta: Mapping[str, Any] | None, event_id: str | None, *,
                    check: bool = True) -> _Edit:
        seq = self._check_seq(seq, "replace")
        if plan.is_dropped(seq):
            raise BranchError(f"replace({seq}): the event at seq {seq} is dropped in this "
                              "branch; it cannot be replaced")
        if type is not None and (not isinstance(type, str) or not type):
            raise BranchError(f"replace({seq}): type must be a non-empty str, got {type!r}")
        if meta is not None and not isinstance(meta, Mapping):
            raise BranchError(f"replace({seq}): meta must be a mapping")
        if event_id is not None and (not isinstance(event_id, str) or not event_id):
            raise BranchError(f"replace({seq}): event_id must be a non-empty str")
        orig = self.parent_log.event(seq)
        orig_data, orig_meta = to_json_text(orig.data), to_json_text(orig.meta)
        cur = plan.replaced.get(seq) or (orig.type, orig_data, orig_meta, orig.event_id)
        new_type = type if type is not None else cur[0]
        new_data = _json_or_error(data, f"replace({seq}): data") if data is not None else cur[1]
        new_meta = _json_or_error(meta, f"replace({seq}): meta") if meta is not None else cur[2]
        same = (new_type == orig.type and json_loads(new_data) == json_loads(orig_data)
                and json_loads(new_meta) == json_loads(orig_meta))
        if event_id is not None:
            eid = event_id
        elif same:
            eid = orig.event_id
        else:
            eid = _uuid(orig.event_id, "replaced", new_type, new_data, new_meta)
        if check and eid != orig.event_id and eid != cur[3]:
            plan.replaced.pop(seq, None)
            self._check_new_ids(plan, [eid], f"replace({seq})")
        plan.replaced[seq] = (new_type, new_data, new_meta, eid)
        return _Edit("replace", seq=seq, type=type, data=None if data is None else new_data,
                     meta=None if meta is None else new_meta, event_id=event_id)

    def _op_insert(self, plan: _Plan, after: Any, events: Any, *, check: bool = True) -> _Edit:
        if isinstance(after, bool) or not isinstance(after, (int, np.integer)):
            raise BranchError(f"insert: after must be a seq (an int), got {after!r}")
        after = int(after)
        if after < self._at:
            raise BranchError(
                f"insert(after={after}): seq {after} is before the fork point {self._at}; "
                f"events can only be inserted after it. Fork earlier (fork(at={after})).")
        if after != self._at and not self._parent_seq_exists(after):
            raise BranchError(f"insert(after={after}): the parent has no event with seq "
                              f"{after} ({self._range()})")
        new = self._new_events(plan, events, after, "insert", check=check)
        for e in new:
            plan.inserts.append((after, plan.counter, e))
            plan.counter += 1
        return _Edit("insert", after=after, events=new)

    def _op_append(self, plan: _Plan, events: Any) -> _Edit:
        plog = self.parent_log
        last = int(plog._seqs[-1]) if len(plog) else self._at
        new = self._new_events(plan, events, max(last, self._at), "append")
        for e in new:
            plan.inserts.append((_APPEND_ANCHOR, plan.counter, e))
            plan.counter += 1
        return _Edit("append", events=new)

    def drop(self, seq: int, *more: int) -> Branch:
        """A new branch without the parent's event ``seq`` (and ``more`` seqs)."""
        plan = self._plan.copy()
        edits = [self._op_drop(plan, s) for s in (seq, *more)]
        return self._with(*edits, plan=plan)

    def replace(self, seq: int, type: str | None = None, data: Any = None, *,
                meta: Mapping[str, Any] | None = None, event_id: str | None = None) -> Branch:
        """A new branch where the parent's event ``seq`` has another type and/or data.

        Fields left None keep the event's current value (so a JSON ``null`` payload cannot be
        set this way: drop the event and insert one instead). ``meta`` replaces the metadata.
        Replacing an event twice applies both (the later fields win).
        """
        plan = self._plan.copy()
        return self._with(self._op_replace(plan, seq, type, data, meta, event_id), plan=plan)

    def insert(self, after: int, events: Any) -> Branch:
        """A new branch with ``events`` right after the parent's event ``after``.

        ``after`` is the fork point itself or a later seq of the parent (dropped or not);
        several inserts after the same seq keep the order they were made in. ``events``:
        mappings with ``type`` and ``data`` and optionally ``stream`` (default: the stream of
        the event at ``after``), ``meta``, ``event_id``, ``time``; or Events.
        """
        plan = self._plan.copy()
        return self._with(self._op_insert(plan, after, events), plan=plan)

    def truncate(self) -> Branch:
        """A new branch that ends at the fork point (every later event dropped, earlier
        inserts and replacements undone; later edits may append again)."""
        return self._with(_Edit("truncate"), plan=_Plan(counter=self._plan.counter,
                                                         truncated=True))

    def append(self, events: Any) -> Branch:
        """A new branch with ``events`` added after its last event (see :meth:`insert`)."""
        plan = self._plan.copy()
        return self._with(self._op_append(plan, events), plan=plan)

    def fork(self, at: int, name: str | None = None) -> Branch:
        """A branch of this branch (its edits name seqs of this branch's ``.log``)."""
        return Branch(self, at, name)

    # ------------------------------------------------------------------ results

    @property
    def edits(self) -> pl.DataFrame:
        """The edits, one row per edit and added event: edit, op, seq, after, stream, type,
        data, meta, event_id (null where the edit does not set it)."""
        rows: list[tuple[Any, ...]] = []
        for i, e in enumerate(self._edits):
            if e.events:
                for n in e.events:
                    rows.append((i, e.op, None, e.after, n.stream, n.type, n.data, n.meta,
                                 n.event_id))
            else:
                rows.append((i, e.op, e.seq, e.after, None, e.type, e.data, e.meta, e.event_id))
        schema = {"edit": pl.Int64, "op": pl.String, "seq": pl.Int64, "after": pl.Int64,
                  "stream": pl.String, "type": pl.String, "data": pl.String,
                  "meta": pl.String, "event_id": pl.String}
        return pl.DataFrame(rows, schema=schema, orient="row")

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "at", "edits": [...]}``: the branch as JSON values, relative to its parent."""
        return {"name": self._name, "at": self._at, "edits": [e.to_json() for e in self._edits]}

    @classmethod
    def from_dict(cls, parent: EventLog | Branch, d: Mapping[str, Any]) -> Branch:
        """Rebuild a branch from :meth:`to_dict` output over the same parent."""
        b = cls(parent, int(d["at"]), d.get("name"))
        for i, e in enumerate(d.get("edits", [])):
            op = e.get("op")
            try:
                if op == "drop":
                    b = b.drop(e["seq"])
                elif op == "replace":
                    b = b.replace(e["seq"], e.get("type"), e.get("data"), meta=e.get("meta"),
                                  event_id=e.get("event_id"))
                elif op == "insert":
                    b = b.insert(e["after"], e["events"])
                elif op == "truncate":
                    b = b.truncate()
                elif op == "append":
                    b = b.append(e["events"])
                else:
                    raise BranchError(f"unknown edit op {op!r}")
            except (KeyError, TypeError) as exc:
                raise BranchError(f"edit {i + 1} ({op}) is malformed: {exc!r}") from None
        return b

    @cached_property
    def log(self) -> EventLog:
        """The edited log (an EventLog with an extra ``parent_seq`` column)."""
        from estime._materialize import materialize

        return materialize(self)

    def __len__(self) -> int:
        return len(self.log)

    def replay(self, projection: Projection, parent_replay: Replay | None = None, *,
               upcasters: Upcasters | None = None, honour_rollbacks: bool = True) -> Replay:
        """Replay ``self.log``, reusing the parent replay's checkpoints up to the fork point.

        ``parent_replay``: a replay of the parent with the same projection (made, and cached
        on the parent, when not given). The result is cached on ``self.log``.
        """
        from estime.projection import replay

        if parent_replay is not None:
            _check_parent_replay(self, parent_replay, projection)

        def build() -> Replay:
            base = parent_replay if parent_replay is not None else (
                replay_of(self._parent, projection, upcasters=upcasters,
                          honour_rollbacks=honour_rollbacks) if self._k else None)
            return replay(self.log, projection, upcasters=upcasters,
                          honour_rollbacks=honour_rollbacks, base=base, shared=self._k)

        return cached_replay(self.log, projection, upcasters=upcasters,
                             honour_rollbacks=honour_rollbacks, build=build)

    def redecide(self, decider: Decider, commands: Any) -> Branch:
        """Re-run the recorded commands after the fork point through ``decider``.

        See :func:`estime.decider.redecide`: the branch's own edits are kept as facts, every
        other command handled after the fork point is decided again on the branch's state,
        and the result is a new Branch whose later events are the ones decided now.
        """
        from estime.decider import redecide

        return redecide(self, decider, commands)

    # ------------------------------------------------------------------ display

    def __repr__(self) -> str:
        parent = self._parent.label if isinstance(self._parent, Branch) else "log"
        return (f"Branch({self.label!r} of {parent} at seq {self._at}, "
                f"{len(self._edits)} edit{'s' if len(self._edits) != 1 else ''})")

    def _repr_html_(self) -> str:
        head = html.escape(repr(self))
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v)[:200])}</td>"
                             for v in row) + "</tr>"
            for row in self.edits.head(50).iter_rows())
        cols = "".join(f"<th>{html.escape(c)}</th>" for c in self.edits.columns)
        more = len(self._edits) - 50
        tail = f"<p>… {more} more edits</p>" if more > 0 else ""
        return (f"<div class='estime-branch'><p><b>{head}</b></p>"
                f"<table><tr>{cols}</tr>{rows}</table>{tail}</div>")


def _check_parent_replay(b: Branch, rp: Replay, projection: Projection) -> None:
    if rp.projection is not projection:
        raise ValueError("parent_replay was made with another projection; pass a replay of "
                         "the parent with the same projection object")
    plog = b.parent_log
    if rp.log is plog:
        return
    k = b._k
    if len(rp.log) < k or not rp.log.frame["event_id"].head(k).equals(
            plog.frame["event_id"].head(k)):
        raise ValueError("parent_replay is not a replay of this branch's parent (its events "
                         f"up to seq {b.at} differ)")


# ---------------------------------------------------------------------------- persistence


def load_branch(parent: EventLog | Branch, d: Mapping[str, Any] | str) -> Branch:
    """Rebuild a branch from its JSON (``Branch.to_dict()`` or its text) over ``parent``."""
    if isinstance(d, str):
        d = orjson.loads(d)
    assert isinstance(d, Mapping)
    return Branch.from_dict(parent, d)


def __getattr__(name: str) -> Any:
    if name in ("compare", "Comparison", "ComparisonTable"):
        from estime import compare as _c

        return getattr(_c, name)
    if name == "Decider":
        from estime.decider import Decider

        return Decider
    raise AttributeError(f"module 'estime.branch' has no attribute {name!r}")
