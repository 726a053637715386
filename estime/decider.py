"""Counterfactual re-decision: the decide/evolve pattern over a branch.

A :class:`Decider` holds three plain functions: ``decide(state, command) -> [event dicts]``
(never changes ``state``), ``evolve(state, event) -> state`` and ``initial`` (a value or a
factory). ``branch.redecide(decider, commands)`` re-runs the recorded commands handled after
the fork point on the branch's state and records what they decide now: drop a deposit, and
a later withdrawal that it covered comes out rejected.

Commands are a frame (polars or pandas) or a list of mappings with at least ``at_seq`` (the
seq, in the parent log, of the last event before the command was handled), ``stream``,
``type`` and ``data`` (JSON text or a value); other columns (``command_id``, ``actor``,
``time``...) are passed on to ``decide``, which receives each row as a dict with ``data``
decoded.

Rules
-----
* The events a command produced in the parent are the parent's events after its ``at_seq``
  up to the next command's ``at_seq``.
* The branch's own edits are facts: a command whose events the branch dropped or replaced is
  not re-run (it keeps the edited outcome), and events the branch inserted stay where they
  are. Commands handled before the fork point are not re-run either, nor is anything on a
  truncated branch.
* Every other command with ``at_seq >= at`` is decided again on the state at that point
  (the parent's state at the fork point, evolved with every fact and decision since). Its
  j-th decided event takes the place of its j-th original event: a ``replace`` when the
  stream is the same and the content differs (so it keeps ``parent_seq`` and compare pairs
  the two), a drop plus an insert when the stream differs; surplus originals are dropped,
  surplus decisions inserted after the command's last event. Identical decisions change
  nothing, so a deterministic decider on an unedited branch gives the parent back.
* ``evolve`` receives :class:`~estime.log.Event` values for events read from the log and,
  for decided events, the mappings ``decide`` returned (with attribute access too:
  ``event.type`` works on both).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import polars as pl

from estime._json import thaw
from estime.errors import BranchError

if TYPE_CHECKING:
    from estime._edits import _Edit
    from estime.branch import Branch
    from estime.log import Event
    from estime.projection import Projection

__all__ = ["Decider", "redecide"]


class Decider:
    """The decide/evolve pattern: ``Decider(decide, evolve, initial)``.

    ``decide(state, command) -> list of event mappings`` (type, data, optional stream,
    meta, event_id, time); ``evolve(state, event) -> state`` (may mutate and return it);
    ``initial``: the empty state, a value (deep-copied) or a zero-argument factory.
    """

    def __init__(self, decide: Callable[[Any, Mapping[str, Any]], Iterable[Mapping[str, Any]]],
                 evolve: Callable[[Any, Any], Any], initial: Any) -> None:
        """Wrap the three functions."""
        if not callable(decide) or not callable(evolve):
            raise TypeError("Decider(decide, evolve, initial): decide and evolve must be "
                            "callables")
        self.decide = decide
        self.evolve = evolve
        self.initial = initial

    @cached_property
    def projection(self) -> Projection:
        """``evolve`` as a :class:`~estime.projection.Projection` (every event type)."""
        from estime.projection import Projection

        p = Projection(f"decider:{getattr(self.evolve, '__qualname__', 'evolve')}",
                       initial=self.initial)
        evolve = self.evolve

        @p.on("*")
        def _evolve(state: Any, event: Event) -> Any:
            return evolve(state, event)

        return p

    def new_state(self) -> Any:
        """A fresh initial state."""
        return self.projection.new_state()

    def __repr__(self) -> str:
        name = getattr(self.decide, "__qualname__", repr(self.decide))
        return f"Decider({name})"


class _Decided(dict[str, Any]):
    """A decided event: a dict that also reads as attributes (``event.type``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _commands(commands: Any) -> list[dict[str, Any]]:
    if isinstance(commands, pl.DataFrame):
        frame = commands
    elif hasattr(commands, "to_dict") and hasattr(commands, "columns"):  # pandas
        frame = pl.from_pandas(commands)
    else:
        rows = list(commands)
        for i, r in enumerate(rows):
            if not isinstance(r, Mapping):
                raise TypeError(f"command {i + 1} is a {type(r).__name__}, not a mapping")
        missing = {"at_seq", "stream", "type", "data"} - set().union(*map(set, rows)) \
            if rows else set()
        if missing:
            raise BranchError(f"commands need {', '.join(sorted(missing))}; see "
                              "estime.datasets.bank_commands for the shape")
        return [_decode(dict(r), i) for i, r in enumerate(rows)]
    missing = {"at_seq", "stream", "type", "data"} - set(frame.columns)
    if missing:
        raise BranchError(f"commands frame has no column(s) {', '.join(sorted(missing))} (it "
                          f"has {', '.join(frame.columns)}); see estime.datasets.bank_commands")
    return [_decode(r, i) for i, r in enumerate(frame.iter_rows(named=True))]


def _decode(row: dict[str, Any], i: int) -> dict[str, Any]:
    data = row.get("data")
    if isinstance(data, (str, bytes)):
        try:
            row["data"] = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise BranchError(f"command {i + 1}: data is not JSON: {str(data)[:60]!r}") from None
    at = row.get("at_seq")
    if isinstance(at, bool) or not isinstance(at, (int, np.integer)):
        raise BranchError(f"command {i + 1}: at_seq must be an int, got {at!r}")
    row["at_seq"] = int(at)
    return row


def _decisions(decide: Any, state: Any, cmd: dict[str, Any], i: int) -> list[dict[str, Any]]:
    try:
        out = decide(state, cmd)
    except Exception as exc:
        cid = cmd.get("command_id", f"#{i + 1}")
        raise BranchError(f"decide raised {type(exc).__name__}: {exc} on command {cid} "
                          f"(type {cmd.get('type')!r}, at_seq {cmd['at_seq']})") from exc
    if out is None:
        return []
    if isinstance(out, Mapping):
        out = [out]
    events: list[dict[str, Any]] = []
    for e in out:
        if not isinstance(e, Mapping) or not isinstance(e.get("type"), str):
            raise BranchError(f"decide returned {e!r} for command {cmd.get('command_id', i + 1)}"
                              "; return a list of mappings with type and data")
        d = _Decided(e)
        d.setdefault("stream", cmd["stream"])
        d.setdefault("data", {})
        events.append(d)
    return events


def _same(orig: Event, d: Mapping[str, Any]) -> bool:
    if d["type"] != orig.type or d["stream"] != orig.stream:
        return False
    if thaw(orig.data) != d["data"]:
        return False
    if "meta" in d and thaw(orig.meta) != (d["meta"] or {}):
        return False
    return not ("event_id" in d and d["event_id"] != orig.event_id)


def redecide(branch: Branch, decider: Decider, commands: Any) -> Branch:
    """The branch with every command after its fork point decided again (see the module doc).

    Returns a new Branch over the same parent and fork point: the branch's own edits
    followed by the edits that turn each re-run command's original events into its new ones.
    """
    from estime.branch import replay_of

    if not isinstance(decider, Decider):
        raise TypeError(f"redecide needs an estime.Decider, got {type(decider).__name__}")
    cmds = sorted(_commands(commands), key=lambda c: c["at_seq"])
    plan0 = branch._plan
    plog = branch.parent_log
    at, k = branch.at, branch._k
    pseqs = plog._seqs
    ats = np.array([c["at_seq"] for c in cmds], dtype=np.int64)
    # parent rows [lo[i], hi[i]) are command i's events
    lo = np.searchsorted(pseqs, ats, side="right")
    hi = np.append(lo[1:], len(pseqs)) if len(cmds) else lo
    rerun = np.zeros(len(cmds), dtype=bool)
    if not plan0.truncated:
        touched = set(plan0.dropped) | set(plan0.replaced)
        for i in range(len(cmds)):
            if ats[i] >= at:
                rerun[i] = not any(int(s) in touched for s in pseqs[lo[i]:hi[i]])
    rerun_rows = np.zeros(len(pseqs), dtype=bool)
    for i in np.flatnonzero(rerun).tolist():
        rerun_rows[lo[i]:hi[i]] = True

    # facts: the branch's events after the fork that no re-run command will decide again
    blog = branch.log
    post = blog.frame.slice(k).select("parent_seq").with_row_index("__i")
    ins_anchors = iter(sorted((a, o) for a, o, _ in plan0.inserts))
    facts: list[tuple[int, int]] = []  # (anchor, branch row)
    for i, ps in post.iter_rows():
        if ps is None:
            facts.append((next(ins_anchors)[0], k + i))
        else:
            j = int(np.searchsorted(pseqs, ps, side="left"))
            if not rerun_rows[j]:
                facts.append((int(ps), k + i))
    branch_events = blog.events(k, len(blog)) if facts else []
    fact_events = {r: branch_events[r - k] for _, r in facts}
    parent_events = plog.events(k, len(plog)) if rerun.any() else []

    evolve, decide = decider.evolve, decider.decide
    state = (replay_of(branch.parent, decider.projection)._state_at_index(k) if k
             else decider.new_state())
    fi = 0

    def fold_facts(upto: int) -> None:
        nonlocal fi, state
        while fi < len(facts) and facts[fi][0] <= upto:
            r = evolve(state, fact_events[facts[fi][1]])
            state = state if r is None else r
            fi += 1

    def fold(e: Mapping[str, Any]) -> None:
        nonlocal state
        r = evolve(state, e)
        state = state if r is None else r

    plan = plan0.copy()
    edits: list[_Edit] = []
    new_ids: list[str] = []
    for i in np.flatnonzero(ats >= at).tolist():
        cmd = cmds[i]
        s_i = int(ats[i])
        fold_facts(s_i)
        if not rerun[i]:
            continue
        decided = _decisions(decide, state, cmd, int(i))
        originals = parent_events[int(lo[i]) - k:int(hi[i]) - k]
        if not originals:
            anchor = _anchor(pseqs, s_i, at)
            for d in decided:
                fold(d)
            if decided:
                edits.append(branch._op_insert(plan, anchor, decided, check=False))
            continue
        n_o, n_d = len(originals), len(decided)
        for j in range(max(n_o, n_d)):
            if j < n_o and j < n_d:
                o, d = originals[j], decided[j]
                if d["stream"] == o.stream:
                    fold(d)
                    if not _same(o, d):
                        edits.append(branch._op_replace(
                            plan, o.seq, d["type"], d["data"], d.get("meta"),
                            d.get("event_id"), check=False))
                        new_ids.append(plan.replaced[o.seq][3])
                    fold_facts(o.seq)
                else:
                    edits.append(branch._op_drop(plan, o.seq))
                    fold_facts(o.seq)
                    fold(d)
                    edits.append(branch._op_insert(plan, o.seq, [d], check=False))
            elif j < n_o:
                o = originals[j]
                edits.append(branch._op_drop(plan, o.seq))
                fold_facts(o.seq)
            else:
                fold(decided[j])
                edits.append(branch._op_insert(plan, originals[-1].seq, [decided[j]],
                                               check=False))
    fold_facts(2**62)
    ids = new_ids + [e.event_id for ed in edits for e in ed.events]
    if ids:
        _check_ids(branch, plan, ids)
    return branch._with(*edits, plan=plan) if edits else branch


def _first_duplicate(ids: list[str]) -> str:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            return i
        seen.add(i)
    raise ValueError("no duplicate")


def _anchor(pseqs: np.ndarray, s: int, at: int) -> int:
    """The parent seq a command handled after seq ``s`` inserts after (``at`` at the least)."""
    j = int(np.searchsorted(pseqs, s, side="right")) - 1
    return max(int(pseqs[j]) if j >= 0 else at, at)


def _check_ids(branch: Branch, plan: Any, ids: list[str]) -> None:
    """New ids must be unique and not used by an event the branch keeps (one bulk check)."""
    if len(set(ids)) != len(ids):
        dup = _first_duplicate(ids)
        raise BranchError(f"redecide: decide gave event_id {dup!r} to two events; give each "
                          "decided event its own id")
    f = branch.parent_log.frame.select("seq", "event_id").filter(pl.col("event_id").is_in(ids))
    for seq, eid in f.iter_rows():
        if seq <= branch.at or (not plan.is_dropped(seq) and seq not in plan.replaced):
            raise BranchError(f"redecide: decided event_id {eid!r} is already used by the "
                              f"parent's event at seq {seq}, which the branch keeps")
