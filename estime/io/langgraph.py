"""Read the checkpoint database of LangGraph's ``SqliteSaver`` as an event log of agent runs.

``SqliteSaver`` (``langgraph-checkpoint-sqlite``) stores one row per checkpoint in the table
``checkpoints`` (``thread_id``, ``checkpoint_ns``, ``checkpoint_id``, ``parent_checkpoint_id``,
``type``, ``checkpoint``, ``metadata``) and the writes of the tasks that ran from a checkpoint
in ``writes`` (``task_id``, ``task_path``, ``idx``, ``channel``, ``type``, ``value``). Values are
serialised by ``JsonPlusSerializer``: ``type`` is ``"msgpack"`` (with extension types for
LangChain messages, pydantic models, datetimes, ...), ``"json"`` (older versions), ``"null"``,
``"bytes"``, or ``"pickle"`` when the application allowed a pickle fallback. Metadata is JSON
(older versions: msgpack).

Checkpoints form a tree: each names its parent, and a fork (``graph.update_state`` on an
earlier checkpoint, then resuming) starts a new branch. A *lineage* is the path from the root
to one checkpoint. :func:`read_langgraph` reads one lineage per thread as events:

=================  ==========================================================================
``seq``            the checkpoint's 1-based position in the lineage; with several threads the
                   lineages follow one another in thread-id order and seq keeps counting
``stream``         the thread id
``version``        the position in the lineage
``type``           ``langgraph.`` + the checkpoint's source: ``input``, ``loop``, ``update``,
                   ``fork`` (``langgraph.checkpoint`` when the metadata has none)
``time``           the checkpoint's ``ts``
``data``           ``{"values": the state's channels, "writes": [...], "step": n}``
``meta``           the checkpoint metadata (``source``, ``step``, ``parents``, run metadata)
                   plus ``checkpoint_id``, ``parent_checkpoint_id``, ``checkpoint_ns``,
                   ``thread_id`` and ``updated_channels`` when recorded
``event_id``       the checkpoint id
=================  ==========================================================================

``values`` leaves out LangGraph's internal channels (``__start__``, ``branch:to:…`` and any
other ``__…`` channel). A channel that was never written is absent (LangGraph's
``get_state`` shows its reducer's empty default instead, e.g. ``[]`` for ``add_messages``).

``writes`` are the writes stored for the checkpoint, in the order LangGraph applies them:
``{"node", "channel", "value", "task_id"}`` for each, where ``node`` is the node that wrote it
(from the task path). These are the outputs of the tasks that ran *from* this checkpoint
(LangGraph's pending writes), routing writes (``branch:to:…``) left out; errors
(``__error__``) and interrupts (``__interrupt__``) are kept.

Values become plain JSON: a LangChain message is its ``model_dump()`` dict (``type``
``"human"``/``"ai"``/``"tool"``/..., ``content``, ``id``, ``tool_calls``, ...), any pydantic
model, dataclass or named tuple its fields, a datetime/date/time its ISO text, a ``Decimal`` a
float, a ``UUID`` its text, a set a list, ``bytes`` base64 text, a ``timedelta`` its seconds,
a secret ``**********``. The decoder is the ``msgpack`` package with estime's own extension
hook: a module named in the data is never imported, nothing is executed, and a value stored
with ``pickle`` is refused with :class:`~estime.errors.UnsafeInputError`.

Subgraphs write their own checkpoints under a non-empty ``checkpoint_ns``; the readers use the
root namespace ``""`` unless ``checkpoint_ns=`` is given.
"""

from __future__ import annotations

import base64
import json
import math
import os
import sqlite3
import warnings
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import msgpack
import polars as pl

from estime.errors import LogFormatError, UnsafeInputError
from estime.io.eventsourcing import read_sqlite, table_columns
from estime.log import EventLog

__all__ = ["langgraph_lineages", "read_langgraph"]

_WHAT = "a LangGraph SqliteSaver checkpoint database"
_CHECKPOINT_COLUMNS = ("thread_id", "checkpoint_ns", "checkpoint_id", "parent_checkpoint_id",
                       "type", "checkpoint", "metadata")
_WRITE_COLUMNS = ("thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "idx", "channel",
                  "type", "value")
_IN_CHUNK = 500
_SECRET = "**********"  # noqa: S105 - the mask shown instead of a secret value

# --------------------------------------------------------------------------- decoding values


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False,
                           use_list=False)


def _iso_offset(seconds: float) -> str:
    sign = "-" if seconds < 0 else "+"
    minutes = int(abs(seconds) // 60)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _from_constructor(code: int, module: str, name: str, payload: Any) -> Any:
    """The plain value for ``module.name(payload)``, without importing or calling anything."""
    key = (module, name)
    if name.startswith("Secret"):
        return _SECRET
    if code == 0:  # single argument
        if key == ("uuid", "UUID") and isinstance(payload, str) and len(payload) == 32:
            return f"{payload[:8]}-{payload[8:12]}-{payload[12:16]}-{payload[16:20]}-{payload[20:]}"
        if key == ("decimal", "Decimal") and isinstance(payload, str):
            try:
                f = float(payload)
            except ValueError:
                return payload
            return f if math.isfinite(f) else payload
        return payload  # set/frozenset/deque (a tuple), ip addresses, ZoneInfo key, enum value
    if code == 1:  # positional arguments
        args = payload if isinstance(payload, tuple) else (payload,)
        if module.startswith("pathlib"):
            return str(PurePosixPath(*[str(a) for a in args])) if args else "."
        if key == ("re", "compile"):
            return args[0] if args else None
        if key == ("datetime", "timedelta") and len(args) == 3:
            return args[0] * 86400 + args[1] + args[2] / 1e6
        if key == ("datetime", "date") and len(args) == 3:
            return f"{args[0]:04d}-{args[1]:02d}-{args[2]:02d}"
        if key == ("datetime", "timezone") and args:
            offset = args[0]
            return args[1] if len(args) > 1 else (
                _iso_offset(offset) if isinstance(offset, (int, float)) else offset)
        if name == "Send" and len(args) >= 2:
            return {"node": args[0], "arg": args[1]}
        return list(args)
    if code == 2:  # keyword arguments
        if key == ("datetime", "time") and isinstance(payload, dict):
            t = (f"{payload.get('hour', 0):02d}:{payload.get('minute', 0):02d}:"
                 f"{payload.get('second', 0):02d}")
            if payload.get("microsecond"):
                t += f".{payload['microsecond']:06d}"
            return t
        return payload
    return payload  # 3: method call (datetime.fromisoformat: the ISO text); 4, 5: pydantic


def _numpy(data: bytes) -> Any:
    dtype_str, shape, order, buf = _unpack(data)
    try:
        import numpy as np

        dtype = np.dtype(dtype_str)
        if dtype.kind not in "biuf":
            raise TypeError(dtype_str)
        return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order).tolist()
    except (ImportError, TypeError, ValueError):
        return {"dtype": str(dtype_str), "shape": list(shape)}


def _ext_hook(code: int, data: bytes) -> Any:
    """Map JsonPlusSerializer's msgpack extension types to plain values (never imports)."""
    if code == 7:  # a DeltaChannel snapshot: the value itself
        return _unpack(data)
    if code == 6:
        return _numpy(data)
    if 0 <= code <= 5:
        tup = _unpack(data)
        if isinstance(tup, tuple) and len(tup) >= 3:
            return _from_constructor(code, str(tup[0]), str(tup[1]), tup[2])
        return tup
    return {"_ext_": code, "_bytes_": len(data)}


_LC_TYPES = {"HumanMessage": "human", "AIMessage": "ai", "SystemMessage": "system",
             "ToolMessage": "tool", "FunctionMessage": "function", "ChatMessage": "chat",
             "RemoveMessage": "remove"}


def _from_lc_json(obj: dict[str, Any]) -> Any:
    """A LangChain ``{"lc": ..., "type": "constructor", ...}`` object as a plain value."""
    ident = obj.get("id")
    name = ident[-1] if isinstance(ident, list) and ident else ""
    kind = obj.get("type")
    if kind == "secret":
        return _SECRET
    if kind != "constructor":
        return {k: v for k, v in obj.items() if k != "lc"}
    kwargs = obj.get("kwargs")
    args = obj.get("args")
    if isinstance(kwargs, dict):
        out = dict(kwargs)
        base = name.removesuffix("Chunk")
        if base in _LC_TYPES and "type" not in out:
            out["type"] = _LC_TYPES[base] if name == base else name
        return out
    if isinstance(args, list):
        return args[0] if len(args) == 1 else args
    return {}


def _plain(value: Any, lc_json: bool = False) -> Any:
    """A JSON-compatible copy: string keys, lists, base64 bytes, finite numbers."""
    if isinstance(value, dict):
        if lc_json and "lc" in value and "type" in value:
            value = _from_lc_json(value)
            if not isinstance(value, dict):
                return _plain(value, lc_json)
        return {k if isinstance(k, str) else _key(k): _plain(v, lc_json)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, lc_json) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, msgpack.Timestamp):
        return value.to_datetime().isoformat()
    return value


def _key(k: Any) -> str:
    if isinstance(k, tuple):
        return json.dumps(_plain(k), separators=(",", ":"))
    return str(k)


class _Where:
    """Names a stored value for error messages."""

    def __init__(self, path: Path, table: str, thread_id: str, checkpoint_id: str,
                 what: str) -> None:
        self.text = (f"{path}, table {table!r}, thread {thread_id!r}, checkpoint "
                     f"{checkpoint_id}, {what}")


def decode_typed(type_: str | None, data: Any, where: _Where) -> Any:
    """Decode one ``(type, bytes)`` pair as stored by JsonPlusSerializer into plain JSON."""
    if type_ == "pickle":
        raise UnsafeInputError(
            f"{where.text}: the value was stored with pickle (JsonPlusSerializer("
            "pickle_fallback=True)). estime never unpickles data: unpickling runs code named "
            "by the data. Export the run from LangGraph itself (graph.get_state_history) if you "
            "trust this database, or let the application store msgpack."
        )
    if type_ is None or type_ == "null" or data is None:
        return None
    if isinstance(data, str):
        data = data.encode()
    if type_ in ("bytes", "bytearray"):
        return base64.b64encode(data).decode()
    if "+" in type_:
        raise LogFormatError(
            f"{where.text}: the value is encrypted ({type_!r}, LangGraph's "
            "EncryptedSerializer); estime cannot read it without the application's key. Export "
            "the states with the application (graph.get_state_history) instead."
        )
    try:
        if type_ == "msgpack":
            return _plain(_unpack(data))
        if type_ == "json":
            return _plain(json.loads(data), lc_json=True)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError,
            msgpack.StackError, RecursionError) as exc:
        raise LogFormatError(f"{where.text}: cannot decode the {type_} value ({exc}); the row "
                             "is damaged or was written by an unknown serializer.") from None
    raise LogFormatError(f"{where.text}: unknown serialization type {type_!r}; estime reads "
                         "'msgpack', 'json', 'null' and 'bytes' values.")


def _metadata(raw: Any, where: _Where) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, str):
        raw = raw.encode()
    try:
        meta = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        meta = decode_typed("msgpack", raw, where)  # older savers stored msgpack metadata
    else:
        meta = _plain(meta, lc_json=True)
    if not isinstance(meta, dict):
        raise LogFormatError(f"{where.text}: metadata is not an object")
    return meta


def _internal(channel: str) -> bool:
    return channel.startswith(("__", "branch:", "start:", "join:"))


def _node(task_path: str | None) -> str | None:
    if not task_path:
        return None
    if task_path.startswith("~__pregel_pull, "):
        return task_path[len("~__pregel_pull, "):]
    return task_path


# --------------------------------------------------------------------------- the tree


class _Tree:
    """Parents and children of the checkpoints of one namespace, per thread."""

    def __init__(self, rows: Iterable[tuple[str, str, str | None]]) -> None:
        self.parent: dict[str, dict[str, str | None]] = {}
        for thread, cid, parent in rows:
            self.parent.setdefault(thread, {})[cid] = parent

    def threads(self) -> list[str]:
        return sorted(self.parent)

    def latest(self, thread: str) -> str:
        return max(self.parent[thread])  # as SqliteSaver: the greatest checkpoint id

    def lineage(self, thread: str, leaf: str) -> list[str]:
        """Root-first checkpoint ids ending at ``leaf`` (stops at a missing parent or a loop)."""
        parents = self.parent[thread]
        out: list[str] = []
        seen: set[str] = set()
        cid: str | None = leaf
        while cid is not None and cid in parents:
            if cid in seen:
                warnings.warn(f"thread {thread!r}: the parents of checkpoint {leaf} form a "
                              f"loop at {cid}; the lineage stops there", stacklevel=3)
                break
            seen.add(cid)
            out.append(cid)
            cid = parents[cid]
        out.reverse()
        return out

    def children(self, thread: str) -> dict[str, list[str]]:
        kids: dict[str, list[str]] = {}
        for cid, parent in self.parent[thread].items():
            if parent is not None:
                kids.setdefault(parent, []).append(cid)
        return kids


def _check_tables(path: Path, conn: sqlite3.Connection) -> tuple[bool, bool]:
    """Validate the schema; return (a ``writes`` table exists, it has ``task_path``)."""
    tables = table_columns(conn)
    cols = tables.get("checkpoints", ([], ""))[0]
    missing = [c for c in _CHECKPOINT_COLUMNS if c not in cols]
    if "checkpoints" not in tables or missing:
        listing = "; ".join(f"{n}({', '.join(c)})" for n, (c, _) in tables.items()) or "none"
        raise LogFormatError(
            f"{path} is not {_WHAT}: it needs a table 'checkpoints' with columns "
            f"{', '.join(_CHECKPOINT_COLUMNS)}" + (f" (missing: {', '.join(missing)})"
                                                   if "checkpoints" in tables else "")
            + f". Tables found: {listing}. Give the file passed to SqliteSaver / "
            "SqliteSaver.from_conn_string.")
    wcols = tables.get("writes", ([], ""))[0]
    if "writes" in tables and any(c not in wcols for c in _WRITE_COLUMNS):
        raise LogFormatError(
            f"{path}: table 'writes' has columns {', '.join(wcols)}; SqliteSaver's has "
            f"{', '.join(_WRITE_COLUMNS)}")
    return "writes" in tables, "task_path" in wcols


def _tree(conn: sqlite3.Connection, ns: str, thread_id: str | None) -> _Tree:
    sql = ("SELECT thread_id, checkpoint_id, parent_checkpoint_id FROM checkpoints "
           "WHERE checkpoint_ns = ?")
    params: list[Any] = [ns]
    if thread_id is not None:
        sql += " AND thread_id = ?"
        params.append(thread_id)
    return _Tree((str(t), str(c), None if p is None else str(p))
                 for t, c, p in conn.execute(sql, params).fetchall())


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(ids), _IN_CHUNK):
        yield ids[i:i + _IN_CHUNK]


def _rows_for(conn: sqlite3.Connection, sql: str, thread: str, ns: str,
              ids: Sequence[str]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for part in _chunks(ids):
        marks = ",".join("?" * len(part))
        out += conn.execute(sql.format(marks=marks), [thread, ns, *part]).fetchall()
    return out


def _events(path: Path, conn: sqlite3.Connection, has_writes: bool, has_task_path: bool,
            thread: str, ns: str, lineage: list[str], first_seq: int) -> list[dict[str, Any]]:
    rows = _rows_for(conn, "SELECT checkpoint_id, parent_checkpoint_id, type, checkpoint, "
                           "metadata FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ? "
                           "AND checkpoint_id IN ({marks})", thread, ns, lineage)
    by_id = {str(r[0]): r for r in rows}
    writes: dict[str, list[tuple[Any, ...]]] = {}
    if has_writes:
        task_path = "task_path" if has_task_path else "''"  # a constant: no injection
        for w in _rows_for(conn, f"SELECT checkpoint_id, task_id, {task_path}, idx, channel, "  # noqa: S608
                                 "type, value FROM writes WHERE thread_id = ? AND "
                                 "checkpoint_ns = ? AND checkpoint_id IN ({marks})",
                           thread, ns, lineage):
            writes.setdefault(str(w[0]), []).append(w)
    events = []
    for pos, cid in enumerate(lineage, start=1):
        _, parent, type_, blob, raw_meta = by_id[cid]
        where = _Where(path, "checkpoints", thread, cid, "column 'checkpoint'")
        checkpoint = decode_typed(type_, blob, where)
        if not isinstance(checkpoint, dict):
            raise LogFormatError(f"{where.text}: a checkpoint is an object, got "
                                 f"{type(checkpoint).__name__}")
        meta = _metadata(raw_meta, _Where(path, "checkpoints", thread, cid, "column 'metadata'"))
        step = meta.get("step")
        values = checkpoint.get("channel_values") or {}
        values = {k: v for k, v in values.items() if not _internal(k)}
        ws = []
        for _, task_id, tpath, idx, channel, wtype, value in sorted(
                writes.get(cid, ()), key=lambda w: (w[2] or "", w[1], w[3])):
            if str(channel).startswith(("branch:", "start:", "join:")):
                continue
            wwhere = _Where(path, "writes", thread, cid, f"task {task_id} idx {idx}")
            ws.append({"node": _node(tpath), "channel": channel,
                       "value": decode_typed(wtype, value, wwhere), "task_id": task_id})
        source = meta.get("source")
        updated = checkpoint.get("updated_channels")
        event_meta = {**meta, "checkpoint_id": cid, "parent_checkpoint_id": parent,
                      "checkpoint_ns": ns, "thread_id": thread}
        if isinstance(updated, list):
            event_meta["updated_channels"] = [c for c in updated if not _internal(str(c))]
        events.append({
            "seq": first_seq + pos - 1,
            "stream": thread,
            "version": pos,
            "type": f"langgraph.{source}" if isinstance(source, str) and source
            else "langgraph.checkpoint",
            "time": _time(checkpoint.get("ts")),
            "data": {"values": values, "writes": ws, "step": step},
            "meta": event_meta,
            "event_id": cid,
        })
    return events


def _time(ts: Any) -> datetime | None:
    if not isinstance(ts, str):
        return None
    try:
        t = datetime.fromisoformat(ts)
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _unknown(path: Path, what: str, value: str, known: list[str]) -> LogFormatError:
    shown = ", ".join(repr(k) for k in known[:10]) + (" ..." if len(known) > 10 else "")
    return LogFormatError(f"{path}: no {what} {value!r} in the checkpoints table; it has: "
                          f"{shown or 'none'}")


def read_langgraph(path: str | os.PathLike[str], thread_id: str | None = None,
                   checkpoint_id: str | None = None, *, checkpoint_ns: str = "",
                   duplicates: Literal["error", "drop"] = "error") -> EventLog:
    """Read LangGraph checkpoints (``SqliteSaver``) as an event log, one event per checkpoint.

    Reads the lineage (root first) that ends at ``checkpoint_id``, by default at the thread's
    latest checkpoint. With ``thread_id=None`` reads every thread's latest lineage, one stream
    per thread in thread-id order (or, with a ``checkpoint_id``, the thread holding it). Use
    :func:`langgraph_lineages` to list the other lineages (forks) and read each by passing its
    ``leaf_checkpoint_id``. See the module documentation for the columns; ``duplicates`` is
    passed to :meth:`EventLog.from_records`.

    The database is opened read-only and never modified; nothing is unpickled or imported.
    """
    p = Path(path)

    def run(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        has_writes, task_path = _check_tables(p, conn)
        tree = _tree(conn, checkpoint_ns, thread_id)
        threads = tree.threads()
        if thread_id is not None and not threads:
            known = [r[0] for r in conn.execute(
                "SELECT DISTINCT thread_id FROM checkpoints ORDER BY thread_id").fetchall()]
            raise _unknown(p, "thread", thread_id, [str(k) for k in known])
        if checkpoint_id is not None:
            holders = [t for t in threads if checkpoint_id in tree.parent[t]]
            if not holders:
                raise _unknown(p, "checkpoint", checkpoint_id,
                               sorted({c for t in threads for c in tree.parent[t]}))
            if len(holders) > 1:
                raise LogFormatError(
                    f"{p}: checkpoint {checkpoint_id} exists in threads "
                    f"{', '.join(map(repr, holders))}; pass thread_id= to choose one")
            targets = [(holders[0], checkpoint_id)]
        else:
            targets = [(t, tree.latest(t)) for t in threads]
        events: list[dict[str, Any]] = []
        for thread, leaf in targets:
            lineage = tree.lineage(thread, leaf)
            events += _events(p, conn, has_writes, task_path, thread, checkpoint_ns, lineage,
                              len(events) + 1)
        return events

    return EventLog.from_records(read_sqlite(p, _WHAT, run), duplicates=duplicates,
                                 source=str(p))


_LINEAGE_SCHEMA: dict[str, Any] = {
    "thread_id": pl.String,
    "leaf_checkpoint_id": pl.String,
    "length": pl.Int64,
    "root_checkpoint_id": pl.String,
    "fork_checkpoint_id": pl.String,
    "fork_position": pl.Int64,
    "branch_source": pl.String,
    "leaf_step": pl.Int64,
    "leaf_source": pl.String,
    "started": pl.Datetime("us", "UTC"),
    "ended": pl.Datetime("us", "UTC"),
    "is_latest": pl.Boolean,
}


def langgraph_lineages(path: str | os.PathLike[str], thread_id: str | None = None, *,
                       checkpoint_ns: str = "") -> pl.DataFrame:
    """List every lineage (root-to-leaf path of the checkpoint tree) of the threads.

    One row per leaf checkpoint (a checkpoint without children), ordered by thread and leaf:

    ``thread_id``, ``leaf_checkpoint_id`` (read it with
    ``read_langgraph(path, thread_id, checkpoint_id=leaf)``), ``length`` (checkpoints in the
    lineage), ``root_checkpoint_id``, ``fork_checkpoint_id`` and ``fork_position`` (the last
    checkpoint the lineage shares with another one, and its 1-based position: the seq to
    ``fork(at=...)``; null when the thread never forked), ``branch_source`` (the source of the
    checkpoint right after the fork point: ``update``/``fork`` for a branch made with
    ``update_state``, ``loop`` for the original run), ``leaf_step``, ``leaf_source``,
    ``started``/``ended`` (times of the root and the leaf) and ``is_latest`` (the leaf is the
    thread's latest checkpoint, the one LangGraph resumes by default).
    """
    p = Path(path)

    def run(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        _check_tables(p, conn)
        tree = _tree(conn, checkpoint_ns, thread_id)
        info: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        sql = ("SELECT thread_id, checkpoint_id, metadata, type, checkpoint FROM checkpoints "
               "WHERE checkpoint_ns = ?")
        params = [checkpoint_ns]
        if thread_id is not None:
            sql += " AND thread_id = ?"
            params.append(thread_id)
        for thread, cid, raw_meta, type_, blob in conn.execute(sql, params):
            where = _Where(p, "checkpoints", str(thread), str(cid), "column 'metadata'")
            meta = _metadata(raw_meta, where)
            ts = _peek_ts(type_, blob)
            info[(str(thread), str(cid))] = (meta.get("source"), meta.get("step"), ts)
        rows = []
        for thread in tree.threads():
            kids = tree.children(thread)
            latest = tree.latest(thread)
            for leaf in sorted(c for c in tree.parent[thread] if c not in kids):
                lineage = tree.lineage(thread, leaf)
                fork_pos = None
                for i, cid in enumerate(lineage[:-1]):
                    if len(kids.get(cid, ())) > 1:
                        fork_pos = i + 1
                fork_id = lineage[fork_pos - 1] if fork_pos else None
                after = lineage[fork_pos] if fork_pos else None
                src, step, ended = info[(thread, leaf)]
                rows.append({
                    "thread_id": thread,
                    "leaf_checkpoint_id": leaf,
                    "length": len(lineage),
                    "root_checkpoint_id": lineage[0],
                    "fork_checkpoint_id": fork_id,
                    "fork_position": fork_pos,
                    "branch_source": info[(thread, after)][0] if after else None,
                    "leaf_step": step if isinstance(step, int) else None,
                    "leaf_source": src if isinstance(src, str) else None,
                    "started": info[(thread, lineage[0])][2],
                    "ended": ended,
                    "is_latest": leaf == latest,
                })
        return rows

    return pl.DataFrame(read_sqlite(p, _WHAT, run), schema=_LINEAGE_SCHEMA)


def _peek_ts(type_: Any, blob: Any) -> datetime | None:
    """The checkpoint's ``ts`` without decoding its values (msgpack maps keep key order)."""
    if type_ != "msgpack" or not isinstance(blob, bytes):
        return None
    try:
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, ext_hook=_skip_ext)
        unpacker.feed(blob)
        n = unpacker.read_map_header()
        for _ in range(n):
            key = unpacker.unpack()
            if key == "ts":
                return _time(unpacker.unpack())
            unpacker.skip()
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return None
    return None


def _skip_ext(code: int, data: bytes) -> None:
    return None
