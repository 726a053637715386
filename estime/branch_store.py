"""Branches saved in an :class:`~estime.store.EventStore`, as edits over their parent.

``store.save_branch(branch)``, ``store.branches()`` and ``store.load_branch(name)`` call the
functions here. A branch is never saved as a copy of its log: the table ``branches`` (beside
``events`` in the same SQLite file) holds one row per branch:

========  ==================================================================================
name      the branch's name (primary key)
parent    JSON: ``{"kind": "store", "until": seq, "streams": [...] | null, "types": [...] |
          null}`` for a branch of ``store.load(until=seq, streams=..., types=...)``, or
          ``{"kind": "branch", "name": ...}`` for a branch of a saved branch
at        the fork point
edits     JSON: the edits (``Branch.to_dict()["edits"]``), with every added event's id
created   ISO 8601 time of the save (UTC)
========  ==================================================================================

``until`` pins the parent: events appended to the store later do not change a saved branch.
So a root-cause session's branches survive a kernel restart: ``EventStore(path).load_branch(
name)`` rebuilds the same ``branch.log`` from the store and the edits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

from estime.branch import Branch
from estime.branch import load_branch as _from_json
from estime.errors import BranchError
from estime.log import EventLog

if TYPE_CHECKING:
    from estime.store import EventStore

__all__ = ["branches", "load_branch", "save_branch"]

TABLE = "branches"
_DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    name    TEXT PRIMARY KEY,
    parent  TEXT NOT NULL CHECK (json_valid(parent)),
    at      INTEGER NOT NULL,
    edits   TEXT NOT NULL CHECK (json_valid(edits)),
    created TEXT NOT NULL
) STRICT"""
# SQL text from constants and "?" placeholders only; every value is a parameter.
_COLS = "name, parent, at, edits, created"
_SELECT_ONE = f"SELECT {_COLS} FROM {TABLE} WHERE name = ?"  # noqa: S608
_SELECT_ALL = f"SELECT {_COLS} FROM {TABLE} ORDER BY created, name"  # noqa: S608
_UPSERT = f"INSERT OR REPLACE INTO {TABLE} ({_COLS}) VALUES (?, ?, ?, ?, ?)"  # noqa: S608
# SQL text from constants and "?" placeholders only; every value is a parameter.
_COLS = "name, parent, at, edits, created"
_SELECT_ONE = f"SELECT {_COLS} FROM {TABLE} WHERE name = ?"  # noqa: S608
_SELECT_ALL = f"SELECT {_COLS} FROM {TABLE} ORDER BY created, name"  # noqa: S608
_UPSERT = f"INSERT OR REPLACE INTO {TABLE} ({_COLS}) VALUES (?, ?, ?, ?, ?)"  # noqa: S608


def _dumps(value: Any) -> str:
    # key order kept: payloads are stored as given, so a reloaded branch has the same text
    return orjson.dumps(value).decode()


def _same_ids(a: EventLog, b: EventLog) -> bool:
    return len(a) == len(b) and a.frame["event_id"].equals(b.frame["event_id"])


def _describe_root(store: EventStore, log: EventLog) -> dict[str, Any]:
    """How to load ``log`` from the store again, or BranchError when it is not a load."""
    from estime.store import MARKER_STREAM

    until = int(log.frame["seq"][-1]) if len(log) else 0
    tries: list[dict[str, Any]] = [{"until": until, "streams": None, "types": None}]
    streams = sorted(set(log.streams) - {MARKER_STREAM})
    types = sorted(set(log.types))
    tries.append({"until": until, "streams": streams, "types": None})
    tries.append({"until": until, "streams": None, "types": types})
    tries.append({"until": until, "streams": streams, "types": types})
    for t in tries:
        if _same_ids(store.load(until=t["until"], streams=t["streams"], types=t["types"]), log):
            return {"kind": "store", **t}
    raise BranchError(
        f"cannot save the branch: its root log ({len(log):,} events up to seq {until}) is not "
        f"a load of the store {store.path} (store.load(until=..., streams=..., types=...)). "
        "Fork a log loaded from this store, or import the log first (store.append_log(log)).")


def _ensure_table(store: EventStore) -> None:
    with store._write() as conn:
        conn.execute(_DDL)


def _has_table(store: EventStore) -> bool:
    return store.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                              (TABLE,)).fetchone() is not None


def _row(store: EventStore, name: str) -> tuple[Any, ...] | None:
    if not _has_table(store):
        return None
    row: tuple[Any, ...] | None = store.conn.execute(_SELECT_ONE, (name,)).fetchone()
    return row


def save_branch(store: EventStore, branch: Branch, name: str | None = None, *,
                overwrite: bool = False) -> str:
    """Save ``branch`` (under ``name`` or its own name) as edits over its parent; return the name.

    A parent branch is saved first (it needs a name). Saving the same branch again is a
    no-op; another branch under a saved name is a BranchError unless ``overwrite=True``.
    """
    if not isinstance(branch, Branch):
        raise TypeError(f"save_branch takes a Branch, not {type(branch).__name__}")
    name = name or branch.name
    if not name:
        raise BranchError("cannot save an unnamed branch: give it a name "
                          "(store.save_branch(branch, 'name') or log.fork(at, name='...'))")
    parent = branch.parent
    if isinstance(parent, Branch):
        if not parent.name:
            raise BranchError(f"cannot save branch {name!r}: its parent branch has no name; "
                              "name it (parent.named('...')) and fork from that")
        save_branch(store, parent, overwrite=overwrite)
        desc: dict[str, Any] = {"kind": "branch", "name": parent.name}
    else:
        desc = _describe_root(store, parent)
    d = branch.to_dict()
    row = (name, _dumps(desc), branch.at, _dumps(d["edits"]),
           datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    _ensure_table(store)
    with store._lock:
        old = _row(store, name)
    if old is not None:
        if old[1] == row[1] and old[2] == row[2] and old[3] == row[3]:
            return name
        if not overwrite:
            raise BranchError(f"a different branch named {name!r} is already saved in "
                              f"{store.path} (at seq {old[2]}); choose another name or pass "
                              "overwrite=True")
    with store._write() as conn:
        conn.execute(_UPSERT, row)
    return name


def branches(store: EventStore) -> pl.DataFrame:
    """The saved branches: name, parent (JSON), at, edits (how many), created."""
    schema = {"name": pl.String, "parent": pl.String, "at": pl.Int64, "edits": pl.Int64,
              "created": pl.String}
    with store._lock:
        if not _has_table(store):
            return pl.DataFrame(schema=schema)
        rows = store.conn.execute(_SELECT_ALL).fetchall()
    return pl.DataFrame([(n, p, a, len(orjson.loads(e)), c) for n, p, a, e, c in rows],
                        schema=schema, orient="row")


def load_branch(store: EventStore, name: str, *, _seen: tuple[str, ...] = ()) -> Branch:
    """Rebuild the saved branch ``name`` from the store's events and its edits."""
    if name in _seen:
        raise BranchError(f"saved branch {name!r} is its own ancestor "
                          f"({' -> '.join((*_seen, name))}); the branches table is damaged")
    with store._lock:
        row = _row(store, name)
    if row is None:
        saved = branches(store)["name"].to_list()
        raise BranchError(f"no branch named {name!r} is saved in {store.path}; saved: "
                          f"{', '.join(saved) or 'none'}")
    _, parent_text, at, edits_text, _ = row
    desc = orjson.loads(parent_text)
    parent: EventLog | Branch
    if desc.get("kind") == "branch":
        parent = load_branch(store, desc["name"], _seen=(*_seen, name))
    elif desc.get("kind") == "store":
        parent = store.load(until=desc["until"], streams=desc.get("streams"),
                            types=desc.get("types"))
    else:
        raise BranchError(f"saved branch {name!r} has an unknown parent {parent_text[:80]}")
    return _from_json(parent, {"name": name, "at": at, "edits": orjson.loads(edits_text)})
