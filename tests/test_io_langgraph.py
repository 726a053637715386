"""read_langgraph / langgraph_lineages against databases written by LangGraph's SqliteSaver."""

from __future__ import annotations

import dataclasses
import json
import operator
import os
import pickle
import random
import sqlite3
import sys
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypedDict, cast
from uuid import UUID

import msgpack
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from pydantic import BaseModel

from estime.errors import LogFormatError, UnsafeInputError
from estime.io.langgraph import _Tree, langgraph_lineages, read_langgraph


class Budget(BaseModel):
    limit: int
    spent: float


@dataclasses.dataclass
class Note:
    text: str
    score: int


class State(TypedDict, total=False):
    messages: Annotated[list[Any], add_messages]
    count: int
    log: Annotated[list[str], operator.add]
    when: datetime
    amount: Decimal
    tags: set[str]
    budget: Budget
    note: Note
    ref: UUID


def agent(state: State) -> dict[str, Any]:
    n = state.get("count", 0)
    if n == 0:
        call = {"name": "add", "args": {"a": 1, "b": 2}, "id": "call-1"}
        return {"messages": [AIMessage(content="", tool_calls=[call])], "count": n + 1,
                "log": ["agent:plan"], "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
                "amount": Decimal("1.25"), "tags": {"math"}, "budget": Budget(limit=3, spent=0.5),
                "note": Note("planned", 1), "ref": UUID("12345678-1234-5678-1234-567812345678")}
    last = state["messages"][-1]
    return {"messages": [AIMessage(content=f"the answer is {last.content}")], "count": n + 1,
            "log": ["agent:answer"]}


def tool(state: State) -> dict[str, Any]:
    call = state["messages"][-1].tool_calls[0]
    result = call["args"]["a"] + call["args"]["b"]
    return {"messages": [ToolMessage(content=str(result), tool_call_id=call["id"])],
            "log": ["tool"]}


def route(state: State) -> str:
    last = state["messages"][-1]
    return "tool" if getattr(last, "tool_calls", None) else END


def build(saver: SqliteSaver) -> Any:
    g = StateGraph(State)
    g.add_node("agent", agent)
    g.add_node("tool", tool)
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", route, ["tool", END])
    g.add_edge("tool", "agent")
    return g.compile(checkpointer=saver)


def _cfg(thread: str, checkpoint_id: str | None = None) -> RunnableConfig:
    c: dict[str, Any] = {"thread_id": thread}
    if checkpoint_id:
        c["checkpoint_id"] = checkpoint_id
        c["checkpoint_ns"] = ""
    return cast(RunnableConfig, {"configurable": c})


@pytest.fixture
def agent_db(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Two threads; thread "run" is forked with update_state and resumed."""
    db = tmp_path / "agent.db"
    conn = sqlite3.connect(db, check_same_thread=False)
    saver = SqliteSaver(conn)
    graph = build(saver)
    graph.invoke({"messages": [HumanMessage(content="what is 1+2?", id="h1")], "count": 0,
                  "log": []}, _cfg("run"))
    history = list(graph.get_state_history(_cfg("run")))
    before_tool = next(s for s in history if s.next == ("tool",))
    forked = graph.update_state(before_tool.config, {
        "messages": [ToolMessage(content="4", tool_call_id="call-1")], "log": ["forked"]},
        as_node="tool")
    graph.invoke(None, forked)
    graph.invoke({"messages": [HumanMessage(content="hello")], "count": 0, "log": []},
                 _cfg("another"))
    yield {"db": db, "graph": graph, "saver": saver, "conn": conn,
           "fork_point": before_tool.config["configurable"]["checkpoint_id"]}
    conn.close()


def plain(value: Any) -> Any:
    """What estime promises for a state value LangGraph hands back."""
    if isinstance(value, BaseMessage):
        return plain(value.model_dump())
    if isinstance(value, BaseModel):
        return plain(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID):
        return str(value)
    return value


def _lineage_from_history(graph: Any, thread: str, leaf: str) -> list[Any]:
    by_id = {s.config["configurable"]["checkpoint_id"]: s
             for s in graph.get_state_history(_cfg(thread))}
    out = []
    cid: str | None = leaf
    while cid:
        snap = by_id[cid]
        out.append(snap)
        cid = (snap.parent_config or {}).get("configurable", {}).get("checkpoint_id")
    return out[::-1]


def _compare(log_events: list[Any], snaps: list[Any], saver: SqliteSaver, thread: str) -> None:
    assert [e.event_id for e in log_events] == [s.config["configurable"]["checkpoint_id"]
                                                for s in snaps]
    for pos, (e, s) in enumerate(zip(log_events, snaps), start=1):
        assert e.version == pos and e.stream == thread
        values = dict(e.data["values"])
        if "tags" in values:
            values["tags"] = sorted(values["tags"])
        expected_values = plain(s.values)
        # A channel never written is absent; LangGraph shows its reducer's empty default.
        assert all(expected_values[k] == [] for k in expected_values.keys() - values.keys())
        assert values == {k: v for k, v in expected_values.items() if k in values}
        assert e.meta["source"] == s.metadata["source"]
        assert e.type == f"langgraph.{s.metadata['source']}"
        assert e.data["step"] == s.metadata["step"] == e.meta["step"]
        assert e.time == datetime.fromisoformat(s.created_at)
        parent = (s.parent_config or {}).get("configurable", {}).get("checkpoint_id")
        assert e.meta["parent_checkpoint_id"] == parent
        assert e.meta["checkpoint_id"] == e.event_id and e.meta["thread_id"] == thread
        stored = saver.get_tuple(s.config)
        assert stored is not None
        pending = stored.pending_writes or []
        expected = [{"task_id": t, "channel": c, "value": plain(v)} for t, c, v in pending
                    if not c.startswith("branch:")]
        got = [{k: w[k] for k in ("task_id", "channel", "value")} for w in e.data["writes"]]
        assert got == expected
        names = {t.name for t in s.tasks}
        assert {w["node"] for w in e.data["writes"]} <= names | {"__start__"}


def test_every_lineage_matches_get_state_history(agent_db: dict[str, Any]) -> None:
    db, graph, saver = agent_db["db"], agent_db["graph"], agent_db["saver"]
    lineages = langgraph_lineages(db, "run")
    assert lineages.height == 2
    assert set(lineages["branch_source"]) == {"loop", "update"}
    assert set(lineages["fork_checkpoint_id"]) == {agent_db["fork_point"]}
    latest = graph.get_state(_cfg("run")).config["configurable"]["checkpoint_id"]
    assert lineages.filter("is_latest")["leaf_checkpoint_id"].to_list() == [latest]
    for row in lineages.iter_rows(named=True):
        log = read_langgraph(db, "run", checkpoint_id=row["leaf_checkpoint_id"])
        snaps = _lineage_from_history(graph, "run", row["leaf_checkpoint_id"])
        assert len(log) == row["length"] == len(snaps)
        _compare(list(log), snaps, saver, "run")
        fork = log.event(row["fork_position"])
        assert fork.event_id == row["fork_checkpoint_id"]
        assert log.frame["seq"].to_list() == list(range(1, len(log) + 1))
        assert row["started"] == log.event(1).time and row["ended"] == log.event(len(log)).time
    original, branch = (read_langgraph(db, "run", checkpoint_id=r["leaf_checkpoint_id"])
                        for r in lineages.sort("branch_source").iter_rows(named=True))
    k = lineages["fork_position"][0]
    assert original.frame["event_id"][:k].to_list() == branch.frame["event_id"][:k].to_list()
    assert original.frame["event_id"][k] != branch.frame["event_id"][k]
    assert branch.event(k + 1).type == "langgraph.update"
    answer = branch.event(len(branch)).data["values"]["messages"][-1]
    assert answer["type"] == "ai" and answer["content"] == "the answer is 4"
    assert original.event(len(original)).data["values"]["messages"][-1]["content"] == (
        "the answer is 3")


def test_default_is_latest_lineage_of_every_thread(agent_db: dict[str, Any]) -> None:
    db, graph = agent_db["db"], agent_db["graph"]
    log = read_langgraph(db)
    assert log.streams == ["another", "run"]
    assert log.frame["seq"].to_list() == list(range(1, len(log) + 1))
    assert log.frame["stream"].to_list() == sorted(log.frame["stream"].to_list())
    for thread in ("another", "run"):
        latest = graph.get_state(_cfg(thread)).config["configurable"]["checkpoint_id"]
        mine = log.filter(stream=thread)
        assert mine.frame["event_id"][-1] == latest
        assert mine.frame["version"].to_list() == list(range(1, len(mine) + 1))
        assert mine.frame["event_id"].to_list() == [
            s.config["configurable"]["checkpoint_id"]
            for s in _lineage_from_history(graph, thread, latest)]
    assert len(read_langgraph(db, "run")) == len(log.filter(stream="run"))
    first = log.filter(stream="run").event(log.filter(stream="run").frame["seq"][0])
    assert first.type == "langgraph.input" and first.data["values"] == {}
    assert first.data["writes"][0]["node"] == "__start__"
    assert first.data["writes"][0]["value"][0]["content"] == "what is 1+2?"


def test_decoded_values(agent_db: dict[str, Any]) -> None:
    log = read_langgraph(agent_db["db"], "run")
    values = log.event(len(log)).data["values"]
    assert values["when"] == "2024-01-02T03:04:05+00:00"
    assert values["amount"] == 1.25 and values["tags"] == ["math"]
    assert values["budget"] == {"limit": 3, "spent": 0.5}
    assert values["note"] == {"text": "planned", "score": 1}
    assert values["ref"] == "12345678-1234-5678-1234-567812345678"
    kinds = [m["type"] for m in values["messages"]]
    assert kinds == ["human", "ai", "tool", "ai"]
    assert values["messages"][1]["tool_calls"][0]["args"] == {"a": 1, "b": 2}
    assert not any(k.startswith(("__", "branch:")) for e in log for k in e.data["values"])
    assert all(not w["channel"].startswith("branch:") for e in log for w in e.data["writes"])


def test_checkpoint_id_without_thread_and_unknown_ids(agent_db: dict[str, Any]) -> None:
    db = agent_db["db"]
    leaf = langgraph_lineages(db, "run").filter(~__import__("polars").col("is_latest"))
    cid = leaf["leaf_checkpoint_id"][0]
    log = read_langgraph(db, checkpoint_id=cid)
    assert log.streams == ["run"] and log.frame["event_id"][-1] == cid
    with pytest.raises(LogFormatError, match=r"no thread 'nope'.*'another', 'run'"):
        read_langgraph(db, "nope")
    with pytest.raises(LogFormatError, match="no checkpoint 'bad-id'"):
        read_langgraph(db, "run", checkpoint_id="bad-id")
    assert langgraph_lineages(db).height == 3


def test_database_is_never_modified(agent_db: dict[str, Any]) -> None:
    db: Path = agent_db["db"]
    agent_db["conn"].close()
    before = (db.read_bytes(), db.stat().st_mtime_ns, sorted(os.listdir(db.parent)))
    read_langgraph(db)
    langgraph_lineages(db)
    assert (db.read_bytes(), db.stat().st_mtime_ns, sorted(os.listdir(db.parent))) == before


def test_reads_a_database_still_open_in_wal_mode(agent_db: dict[str, Any]) -> None:
    db: Path = agent_db["db"]
    agent_db["graph"].invoke({"messages": [HumanMessage(content="late")], "count": 0,
                              "log": []}, _cfg("late"))
    assert db.with_name(db.name + "-wal").stat().st_size > 0
    before = (db.read_bytes(), db.stat().st_mtime_ns)
    assert "late" in read_langgraph(db).streams
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before


# --------------------------------------------------------------------------- subgraphs


def test_subgraph_namespace(tmp_path: Path) -> None:
    class Inner(TypedDict):
        log: Annotated[list[str], operator.add]

    inner = StateGraph(Inner)
    inner.add_node("step", lambda s: {"log": ["inner"]})
    inner.add_edge(START, "step")
    outer = StateGraph(Inner)
    outer.add_node("sub", inner.compile())
    outer.add_edge(START, "sub")
    db = tmp_path / "sub.db"
    with SqliteSaver.from_conn_string(str(db)) as saver:
        g = outer.compile(checkpointer=saver)
        g.invoke({"log": ["start"]}, _cfg("s"))
        final = plain(g.get_state(_cfg("s")).values)
        conn = sqlite3.connect(db)
        namespaces = sorted({r[0] for r in conn.execute("SELECT checkpoint_ns FROM checkpoints")})
        conn.close()
    root = read_langgraph(db, "s")
    assert {e.meta["checkpoint_ns"] for e in root} == {""}
    assert root.event(len(root)).data["values"] == final
    subs = [ns for ns in namespaces if ns]
    assert subs and all(ns.startswith("sub:") for ns in subs)
    for ns in subs:
        sub = read_langgraph(db, "s", checkpoint_ns=ns)
        assert len(sub) > 0 and {e.meta["checkpoint_ns"] for e in sub} == {ns}


# --------------------------------------------------------------------------- hostile input


def _latest(conn: sqlite3.Connection, thread: str) -> tuple[str, str]:
    row = conn.execute("SELECT checkpoint_id, parent_checkpoint_id FROM checkpoints "
                       "WHERE thread_id = ? ORDER BY checkpoint_id DESC LIMIT 1",
                       (thread,)).fetchone()
    return row[0], row[1]


class _Trap:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (open, (self.marker, "w"))


def test_pickled_rows_are_refused_never_unpickled(agent_db: dict[str, Any],
                                                  tmp_path: Path) -> None:
    db, conn = agent_db["db"], agent_db["conn"]
    marker = tmp_path / "unpickled.txt"
    payload = pickle.dumps(_Trap(str(marker)))
    latest, _ = _latest(conn, "run")
    conn.execute("INSERT INTO writes (thread_id, checkpoint_ns, checkpoint_id, task_id, "
                 "task_path, idx, channel, type, value) VALUES ('run', '', ?, 'task-x', "
                 "'~__pregel_pull, agent', 0, 'log', 'pickle', ?)", (latest, payload))
    conn.commit()
    with pytest.raises(UnsafeInputError) as info:
        read_langgraph(db, "run")
    msg = str(info.value)
    assert "pickle" in msg and "'writes'" in msg and latest in msg and "task task-x" in msg
    assert not marker.exists()
    conn.execute("INSERT INTO checkpoints VALUES ('evil', '', 'c1', NULL, 'pickle', ?, '{}')",
                 (payload,))
    conn.commit()
    with pytest.raises(UnsafeInputError, match=r"thread 'evil', checkpoint c1"):
        read_langgraph(db, "evil")
    assert langgraph_lineages(db, "evil").height == 1  # listing needs no values
    assert not marker.exists()


def _put(conn: sqlite3.Connection, thread: str, type_: str, checkpoint: bytes,
         metadata: bytes = b'{"source": "loop", "step": 0}') -> None:
    conn.execute("INSERT INTO checkpoints VALUES (?, '', 'c1', NULL, ?, ?, ?)",
                 (thread, type_, checkpoint, metadata))
    conn.commit()


def test_modules_named_in_msgpack_are_never_imported(agent_db: dict[str, Any], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "imported.txt"
    (tmp_path / "estime_evil_lg.py").write_text(
        f"open({str(marker)!r}, 'w').write('x')\nBoom = print\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ext = msgpack.ExtType(0, msgpack.packb(["estime_evil_lg", "Boom", "payload"]))
    blob = msgpack.packb({"v": 4, "ts": "2024-01-01T00:00:00+00:00", "id": "c1",
                          "channel_values": {"x": ext}})
    _put(agent_db["conn"], "trap", "msgpack", blob)
    log = read_langgraph(agent_db["db"], "trap")
    assert log.event(1).data["values"] == {"x": "payload"}
    assert not marker.exists() and "estime_evil_lg" not in sys.modules


def test_legacy_json_checkpoint_and_msgpack_metadata(agent_db: dict[str, Any]) -> None:
    checkpoint = {"v": 1, "ts": "2024-01-01T00:00:00+00:00", "id": "c1", "channel_values": {
        "messages": [{"lc": 1, "type": "constructor",
                      "id": ["langchain", "schema", "messages", "HumanMessage"],
                      "kwargs": {"content": "hi"}}],
        "secret": {"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]}}}
    _put(agent_db["conn"], "old", "json", json.dumps(checkpoint).encode(),
         msgpack.packb({"source": "input", "step": -1}))
    e = read_langgraph(agent_db["db"], "old").event(1)
    assert e.data["values"]["messages"] == [{"content": "hi", "type": "human"}]
    assert e.data["values"]["secret"] == "**********"
    assert e.type == "langgraph.input" and e.data["step"] == -1


def test_encrypted_and_unknown_serialisations(agent_db: dict[str, Any]) -> None:
    _put(agent_db["conn"], "enc", "msgpack+aes", random.Random(3).randbytes(64))
    with pytest.raises(LogFormatError, match=r"encrypted.*EncryptedSerializer"):
        read_langgraph(agent_db["db"], "enc")
    _put(agent_db["conn"], "odd", "yaml", b"a: 1")
    with pytest.raises(LogFormatError, match="unknown serialization type 'yaml'"):
        read_langgraph(agent_db["db"], "odd")
    _put(agent_db["conn"], "broken", "msgpack", b"\xc1\xc1\xc1")
    with pytest.raises(LogFormatError, match=r"thread 'broken', checkpoint c1.*cannot decode"):
        read_langgraph(agent_db["db"], "broken")


def test_not_a_database_wrong_schema_truncated(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(random.Random(2).randbytes(4096))
    with pytest.raises(LogFormatError, match=r"junk\.sqlite is not an SQLite database"):
        read_langgraph(junk)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE checkpoints (thread_id TEXT, blob BLOB)")
    conn.commit()
    conn.close()
    with pytest.raises(LogFormatError, match=r"not a LangGraph SqliteSaver.*missing: "
                                             r"checkpoint_ns"):
        langgraph_lineages(other)
    big = tmp_path / "big.sqlite"
    with SqliteSaver.from_conn_string(str(big)) as saver:
        g = build(saver)
        for i in range(15):
            g.invoke({"messages": [HumanMessage(content="x" * 2000)], "count": 0, "log": []},
                     _cfg(f"t{i}"))
    data = big.read_bytes()
    assert len(data) > 16 * 4096
    big.write_bytes(data[: len(data) // 3])
    with pytest.raises(LogFormatError, match="damaged or truncated"):
        read_langgraph(big)


def test_parent_loop_stops_with_a_warning() -> None:
    tree = _Tree([("t", "a", None), ("t", "b", "c"), ("t", "c", "b")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert tree.lineage("t", "c") == ["b", "c"]
    assert "loop" in str(caught[0].message)
    assert tree.lineage("t", "a") == ["a"]


def test_errors_and_interrupts_are_kept_as_writes(tmp_path: Path) -> None:
    from langgraph.types import Command, interrupt

    class S(TypedDict, total=False):
        x: int

    def boom(state: S) -> S:
        raise ValueError("tool exploded")

    def ask(state: S) -> S:
        return {"x": interrupt({"question": "ok?"})}

    db = tmp_path / "err.db"
    with SqliteSaver.from_conn_string(str(db)) as saver:
        g = StateGraph(S)
        g.add_node("boom", boom)
        g.add_edge(START, "boom")
        with pytest.raises(ValueError, match="tool exploded"):
            g.compile(checkpointer=saver).invoke({"x": 1}, _cfg("err"))
        h = StateGraph(S)
        h.add_node("ask", ask)
        h.add_edge(START, "ask")
        app = h.compile(checkpointer=saver)
        app.invoke({"x": 1}, _cfg("ask"))
        app.invoke(Command(resume=42), _cfg("ask"))
    err = read_langgraph(db, "err")
    last = err.event(len(err)).data["writes"]
    assert [(w["node"], w["channel"]) for w in last] == [("boom", "__error__")]
    assert "tool exploded" in last[0]["value"]
    ask_log = read_langgraph(db, "ask")
    writes = [w for e in ask_log for w in e.data["writes"]]
    asked = next(w for w in writes if w["channel"] == "__interrupt__")
    assert asked["node"] == "ask" and asked["value"][0]["value"] == {"question": "ok?"}
    assert any(w["channel"] == "__resume__" and w["value"] == [42] for w in writes)
    assert ask_log.event(len(ask_log)).data["values"] == {"x": 42}
