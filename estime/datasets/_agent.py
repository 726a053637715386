"""The agent-run dataset: a planner and an executor upgrading an API client, with one planted
fault (a stale cached tool result), a rollback marker and the recovery.

The intended projection ("workspace") and the failure outcome are defined here too, as plain
functions (:func:`agent_projection_spec`, :func:`agent_projection`), so that tests, notebooks
and the root-cause tools share one definition.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import orjson
import polars as pl

from estime._normalize import event_ids_for
from estime.datasets._common import Draws, build_log, epoch_us, iso
from estime.log import EventLog

__all__ = ["agent_failed", "agent_fault", "agent_projection", "agent_projection_spec",
           "agent_run"]

PLANNER, EXECUTOR, ESTIME = "planner", "executor", "$estime"
ROLLBACK_TYPE = "estime.RolledBack"
TOOL = "fetch_api_version"
FRESH, STALE = "2024-06", "2023-10"
STALE_FETCHED_AT = "2023-11-02T14:27:09Z"
CLIENT = "src/api_client.py"
_START = epoch_us(2024, 6, 18, 9)
_SERVICE = {"service": "billing-api"}
_CLIENT_TEMPLATE = (
    'API_VERSION = "{api_version}"\nBASE_URL = "{base_url}"\n\n\nclass Client:\n'
    '    """HTTP client of the billing API."""\n\n    def __init__(self, session):\n'
    '        self.session = session\n'
    '        self.session.headers["Api-Version"] = API_VERSION\n')
_SCHEMA_TEMPLATE = ('"""Response schemas of billing API {api_version}."""\n\n'
                    'API_VERSION = "{api_version}"\n')
_FIXTURE_TEMPLATE = '{"api_version": "{api_version}", "invoices": []}\n'
_NOTES = ("docs/api-upgrade.md", "docs/notes.md", "CHANGELOG.md", "src/retry.py",
          "src/http_util.py", "tests/test_retry.py", "tests/test_http_util.py")
_SOURCES = ("src/api_client.py", "src/billing.py", "src/invoices.py", "src/retry.py",
            "src/http_util.py", "tests/test_billing.py", "tests/test_invoices.py", "setup.cfg")
_QUERIES = ("API_VERSION", "Api-Version", "BASE_URL", "def fetch_invoices", "import requests",
            "schemas.", "retry(")
_DIRS = ("src", "src/schemas", "tests", "tests/fixtures", "docs")


def _schema(version: str) -> str:
    return f"src/schemas/v{version.replace('-', '_')}.py"


def _fixture(version: str) -> str:
    return f"tests/fixtures/api_v{version.replace('-', '_')}.json"


def _api_result(version: str) -> dict[str, str]:
    return {"api_version": version, "base_url": f"https://api.example.com/billing/{version}"}


class _Run:
    """Appends events in order; causes are row indices, turned into event ids at the end."""

    def __init__(self, seed: int) -> None:
        self.r = Draws(seed)
        self.t = _START
        self.rows: list[tuple[str, str, int, Any, str, int | None]] = []
        self.calls = 0
        self.step = 0
        self.checkpoints = 0

    def emit(self, stream: str, etype: str, data: Any, cause: int | None,
             lo_ms: int = 200, hi_ms: int = 4000, actor: str | None = None) -> int:
        """Append an event after a seeded pause; ``data`` may be a function of the time."""
        self.t += (lo_ms + self.r.below(hi_ms - lo_ms)) * 1000
        payload = data(self.t) if callable(data) else data
        self.rows.append((stream, etype, self.t, payload, actor or stream, cause))
        return len(self.rows) - 1

    def seq(self, row: int) -> int:
        return row + 1

    def call_id(self) -> str:
        self.calls += 1
        return f"call-{self.calls:05d}"

    def plan_step(self, phase: str, action: str, cause: int) -> int:
        self.step += 1
        return self.emit(PLANNER, "StepPlanned", {"step": self.step, "phase": phase,
                                                   "action": action, "assignee": EXECUTOR},
                         cause, 500, 8000)

    def checkpoint(self, label: str, cause: int) -> int:
        self.checkpoints += 1
        return self.emit(PLANNER, "CheckpointSaved", {
            "checkpoint": f"ckpt-{self.checkpoints:04d}", "step": self.step, "label": label},
            cause, 100, 600)

    def tool(self, stream: str, tool: str, args: dict[str, Any], result: dict[str, Any],
             cause: int, cached_at: str | None = None) -> int:
        cid = self.call_id()
        call = self.emit(stream, "ToolCalled", {"tool": tool, "call_id": cid, "args": args},
                         cause, 200, 3000)
        return self.emit(stream, "ToolReturned", lambda t: {
            "tool": tool, "call_id": cid, "result": result, "cached": cached_at is not None,
            "fetched_at": cached_at or iso(t)}, call, 100, 5000)

    def benign_step(self, phase: str, cause: int) -> int:
        """A step that reads, searches, lists or lints, and now and then writes a note."""
        r = self.r
        kind = r.below(4)
        args: dict[str, Any]
        if kind == 0:
            path = r.pick(_SOURCES)
            tool, args = "read_file", {"path": path}
            result: dict[str, Any] = {"path": path, "lines": r.between(12, 420),
                                      "sha": r.hex(12)}
        elif kind == 1:
            query = r.pick(_QUERIES)
            tool, args = "search_code", {"query": query}
            result = {"query": query,
                      "matches": sorted({r.pick(_SOURCES) for _ in range(r.below(4))})}
        elif kind == 2:
            path = r.pick(_DIRS)
            tool, args = "list_dir", {"path": path}
            result = {"path": path, "entries": sorted({r.pick(_SOURCES).rsplit("/", 1)[-1]
                                                       for _ in range(r.between(2, 5))})}
        else:
            path = r.pick(_SOURCES)
            tool, args = "run_linter", {"paths": [path]}
            result = {"warnings": r.below(4), "errors": 0}
        planned = self.plan_step(phase, f"{tool} {orjson.dumps(args).decode()}", cause)
        last = self.tool(EXECUTOR, tool, args, result, planned)
        if r.chance(1 / 3):
            path = r.pick(_NOTES)
            last = self.emit(EXECUTOR, "FileWritten", {
                "path": path, "template": f"# {path} (step {self.step})\n", "uses": None},
                last, 300, 3000)
        done = self.emit(EXECUTOR, "StepCompleted", {"step": self.step, "summary": f"{tool} done"},
                         last, 50, 500)
        if self.step % 3 == 0:
            return self.checkpoint(f"after step {self.step}", done)
        return done

    def write_files(self, version: str, cause: int) -> list[int]:
        return [self.emit(EXECUTOR, "FileWritten", {"path": path, "template": template,
                                                    "uses": TOOL}, cause, 800, 6000)
                for path, template in ((CLIENT, _CLIENT_TEMPLATE),
                                       (_schema(version), _SCHEMA_TEMPLATE),
                                       (_fixture(version), _FIXTURE_TEMPLATE))]

    def run_tests(self, cause: int, failures: list[str]) -> int:
        planned = self.plan_step("verify", "run the test suite", cause)
        return self.emit(EXECUTOR, "TestsRun", {
            "command": "pytest -q", "status": "failed" if failures else "passed",
            "passed": 48 - len(failures), "failed": len(failures), "failures": failures,
            "expect": {"api_version": FRESH, "files": [CLIENT]}}, planned, 20_000, 60_000)


def agent_run(steps: int | None = None, seed: int = 0, scale: int = 1) -> EventLog:
    """A deterministic session of two cooperating agents with one planted fault.

    The planner (stream ``planner``) receives the task "upgrade the billing API client to
    the API version the server runs now", asks ``fetch_api_version`` (fresh: ``2024-06``),
    plans, and hands steps to the executor (stream ``executor``). After a survey of benign
    steps and the last good ``CheckpointSaved``, the executor calls ``fetch_api_version``
    and gets a STALE cached result (``{"result": {"api_version": "2023-10", ...},
    "cached": true, "fetched_at": "2023-11-02T14:27:09Z"}``). Three steps later it renders
    ``src/api_client.py``, ``src/schemas/v2023_10.py`` and ``tests/fixtures/api_v2023_10.json``
    from it (their ``causation_id`` is the stale ToolReturned); ``TestsRun`` fails,
    ``ErrorRaised`` follows, and the run is rolled back by an ``estime.RolledBack`` marker
    (stream ``$estime``, data ``{"to": <seq of the last good CheckpointSaved>, "reason"}``).
    The recovery re-fetches without cache (fresh), rewrites the files for 2024-06, the tests
    pass and ``TaskCompleted`` closes the run.

    ``steps`` benign steps (default ``10 * scale``; at least 3) make the run longer: 70% of
    the rest before the fault, three between the stale result and the bad write, the rest
    after the recovery; each adds about five events (``scale=2000`` gives ~100k events).
    There is exactly one stale result at any size. Every event's meta has ``causation_id``
    (the event that caused it; null only for TaskReceived), ``correlation_id`` (the run id)
    and ``actor``. :func:`agent_fault` locates the fault; :func:`agent_projection_spec`
    describes the projection that exposes it.

    >>> log = agent_run()
    >>> log.streams, agent_fault(log)["stale_api_version"]
    (['planner', 'executor', '$estime'], '2023-10')
    """
    if steps is None:
        if not isinstance(scale, int) or scale < 1:
            raise ValueError(f"scale must be a positive int, got {scale!r}")
        steps = 10 * scale
    if not isinstance(steps, int) or steps < 3:
        raise ValueError(f"steps must be an int >= 3 (three steps separate the stale tool "
                         f"result from the bad write), got {steps!r}")
    before = (7 * (steps - 3) + 9) // 10
    after = steps - 3 - before
    run = _Run(seed)
    task = run.emit(PLANNER, "TaskReceived", {
        "task": "Upgrade the billing API client to the API version the server runs now",
        "repo": "acme/billing-service", "requested_by": "dana"}, None, 0, 1)
    fresh = run.tool(PLANNER, TOOL, dict(_SERVICE), _api_result(FRESH), task)
    plan = run.emit(PLANNER, "PlanCreated", {
        "goal": f"the client targets billing API {FRESH}", "api_version": FRESH,
        "phases": ["survey the codebase", "update the client for the API version",
                   "verify with the test suite", "document the change"]}, fresh, 2000, 15_000)
    last = run.checkpoint("plan ready", plan)
    for _ in range(before):
        last = run.benign_step("survey", last)
    good = run.checkpoint("survey done", last)

    planned = run.plan_step("update", "look up the API version the server runs", good)
    stale = run.tool(EXECUTOR, TOOL, dict(_SERVICE), _api_result(STALE), planned,
                     cached_at=STALE_FETCHED_AT)
    done = run.emit(EXECUTOR, "StepCompleted", {
        "step": run.step, "summary": f"the server runs billing API {STALE}"}, stale, 50, 500)
    last = run.checkpoint("api version looked up", done)
    for _ in range(3):
        last = run.benign_step("update", last)
    planned = run.plan_step("update", "render the client, schema and fixtures for the API "
                            "version", last)
    writes = run.write_files(STALE, stale)
    done = run.emit(EXECUTOR, "StepCompleted", {"step": run.step, "summary": "files rendered"},
                    writes[-1], 50, 500)
    tests = run.run_tests(done, [
        "tests/test_api_client.py::test_client_targets_server_api_version",
        "tests/test_schemas.py::test_schema_matches_server",
        "tests/test_fixtures.py::test_fixtures_match_server"])
    error = run.emit(EXECUTOR, "ErrorRaised", {
        "error": "TestsFailed", "step": run.step,
        "message": f"3 tests failed: the client targets billing API {STALE} but the server "
                   f"runs {FRESH}"}, tests, 50, 500)
    marker = run.emit(ESTIME, ROLLBACK_TYPE, {
        "to": run.seq(good),
        "reason": "tests failed after the client update; back to checkpoint "
                  f"{run.rows[good][3]['checkpoint']}, the last one before the API version "
                  "lookup"}, error, 1000, 5000, actor=PLANNER)

    planned = run.plan_step("update", "look up the API version again, bypassing the tool "
                            "cache", marker)
    refetch = run.tool(EXECUTOR, TOOL, {**_SERVICE, "no_cache": True}, _api_result(FRESH),
                       planned)
    writes = run.write_files(FRESH, refetch)
    done = run.emit(EXECUTOR, "StepCompleted", {"step": run.step, "summary": "files rendered"},
                    writes[-1], 50, 500)
    tests = run.run_tests(done, [])
    last = run.checkpoint("client upgraded, tests pass", tests)
    for _ in range(after):
        last = run.benign_step("document", last)
    run.emit(PLANNER, "TaskCompleted", {
        "summary": f"billing API client upgraded to {FRESH}; the test suite passes",
        "files_changed": [CLIENT, _schema(FRESH), _fixture(FRESH)]}, last, 1000, 5000)
    return _to_log(run, f"run-{seed:04d}")


def _to_log(run: _Run, run_id: str) -> EventLog:
    count: dict[str, int] = {}
    versions = []
    for row in run.rows:
        count[row[0]] = count.get(row[0], 0) + 1
        versions.append(count[row[0]])
    streams = [row[0] for row in run.rows]
    ids = event_ids_for(streams, versions)
    return build_log(
        stream=streams, version=versions, type=[row[1] for row in run.rows],
        time_us=[row[2] for row in run.rows],
        data=[orjson.dumps(row[3]).decode() for row in run.rows],
        meta=[orjson.dumps({"causation_id": None if row[5] is None else ids[row[5]],
                            "correlation_id": run_id, "actor": row[4]}).decode()
              for row in run.rows],
        event_id=ids)


# --------------------------------------------------------------------------- the projection


def _data(event: Any) -> Any:
    return event["data"] if isinstance(event, Mapping) else event.data


def _initial() -> dict[str, Any]:
    return {"tools": {}, "files": {}, "tests": None, "failures": [], "errors": 0,
            "checkpoint": None, "completed": False}


def _tool_returned(state: dict[str, Any], event: Any) -> None:
    d = _data(event)
    state["tools"][d["tool"]] = copy.deepcopy(d["result"])


def _file_written(state: dict[str, Any], event: Any) -> None:
    d = _data(event)
    text = d["template"]
    version = None
    if d.get("uses"):
        result = state["tools"].get(d["uses"]) or {}
        for key, value in result.items():
            text = text.replace("{" + key + "}", str(value))
        version = result.get("api_version")
    state["files"][d["path"]] = {"content": text, "api_version": version}


def _tests_run(state: dict[str, Any], event: Any) -> None:
    expect = _data(event).get("expect") or {}
    want = expect.get("api_version")
    files = state["files"]
    bad = {p for p in expect.get("files", ())
           if p not in files or files[p]["api_version"] != want}
    bad |= {p for p, f in files.items() if f["api_version"] is not None
            and f["api_version"] != want}
    state["failures"] = sorted(bad)
    state["tests"] = "failed" if bad else "passed"


def _error_raised(state: dict[str, Any], event: Any) -> None:
    state["errors"] += 1


def _checkpoint_saved(state: dict[str, Any], event: Any) -> None:
    state["checkpoint"] = _data(event)["checkpoint"]


def _task_completed(state: dict[str, Any], event: Any) -> None:
    state["completed"] = True


def agent_failed(state: Mapping[str, Any]) -> bool:
    """The outcome of the workspace projection: True unless the last test run passed."""
    return state["tests"] != "passed"


def agent_projection_spec() -> dict[str, Any]:
    """The "workspace" projection of :func:`agent_run`, as plain functions.

    Returns ``{"name", "initial", "handlers", "outcome"}``: ``initial()`` builds
    ``{"tools": {}, "files": {}, "tests": None, "failures": [], "errors": 0,
    "checkpoint": None, "completed": False}``; ``handlers`` maps event types to
    ``handler(state, event)`` (mutating ``state``; events may be Events or dicts):

    - ``ToolReturned``: ``tools[tool] = result`` (the latest result of each tool);
    - ``FileWritten``: the executor renders ``template`` with the latest result of the tool
      named by ``uses`` (``{key}`` → value), so ``files[path] = {"content", "api_version"}``
      depends on the tool result in the state *when the file is written*;
    - ``TestsRun``: re-evaluates the suite on the state: a file listed in
      ``expect.files`` that is missing, or any file whose ``api_version`` is not
      ``expect.api_version``, fails; ``tests`` is ``"failed"``/``"passed"``, ``failures``
      lists those paths (on the recorded log this agrees with the recorded ``status``);
    - ``ErrorRaised`` counts ``errors``; ``CheckpointSaved`` sets ``checkpoint``;
      ``TaskCompleted`` sets ``completed``.

    ``outcome`` is :func:`agent_failed` (True unless the last test run passed). What it shows:
    honouring the rollback marker the final state passes; folding every event without
    honouring it fails (the stale schema and fixture files stay); on the failed attempt,
    ``log.until(fault["rollback_seq"] - 1)``, the only event whose removal flips the outcome
    is the stale ToolReturned, and every set of events whose removal flips it contains it.
    """
    return {
        "name": "workspace",
        "initial": _initial,
        "handlers": {"ToolReturned": _tool_returned, "FileWritten": _file_written,
                     "TestsRun": _tests_run, "ErrorRaised": _error_raised,
                     "CheckpointSaved": _checkpoint_saved, "TaskCompleted": _task_completed},
        "outcome": agent_failed,
    }


def agent_projection() -> Any:
    """The workspace projection of :func:`agent_projection_spec` as an ``estime.Projection``."""
    from estime.projection import Projection

    spec = agent_projection_spec()
    projection = Projection(spec["name"], initial=spec["initial"])
    for etype, handler in spec["handlers"].items():
        projection.on(etype)(handler)
    return projection


# --------------------------------------------------------------------------- the fault


def _first(frame: pl.DataFrame, *predicates: pl.Expr) -> dict[str, Any] | None:
    hit = frame.filter(*predicates)
    return hit.row(0, named=True) if hit.height else None


def agent_fault(log: EventLog) -> dict[str, Any]:
    """Locate the planted fault of an :func:`agent_run` log, computed from the events.

    Returns ``tool``, ``stale_seq``, ``stale_event_id``, ``stale_result``,
    ``stale_api_version``, ``fresh_seq`` / ``fresh_result`` (the earlier fresh result of the
    same tool), ``api_version`` (what the tests expect), ``bad_write_seqs`` (FileWritten
    caused by the stale result), ``failed_tests_seq``, ``error_seq``, ``rollback_seq``,
    ``rollback_to`` (the seq of the last good CheckpointSaved), ``refetch_seq``,
    ``passed_tests_seq`` and ``completed_seq``. Raises ``ValueError`` unless the log holds
    exactly one stale result (a ToolReturned with ``data.cached`` true).
    """
    f = log.frame.with_columns(
        pl.col("meta").str.json_path_match("$.causation_id").alias("_cause"))
    returned = f.filter(pl.col("type") == "ToolReturned").with_columns(
        pl.col("data").str.json_path_match("$.cached").alias("_cached"),
        pl.col("data").str.json_path_match("$.tool").alias("_tool"))
    stale = returned.filter(pl.col("_cached") == "true")
    if stale.height != 1:
        raise ValueError(f"expected exactly one stale tool result (a ToolReturned with "
                         f"data.cached = true), found {stale.height}; is this an agent_run log?")
    s = stale.row(0, named=True)
    sd = orjson.loads(s["data"])
    at = s["seq"]
    same_tool = returned.filter(pl.col("_tool") == sd["tool"], pl.col("_cached") == "false")
    fresh = same_tool.filter(pl.col("seq") < at).tail(1)
    status = pl.col("data").str.json_path_match("$.status")
    failed = _first(f, pl.col("type") == "TestsRun", pl.col("seq") > at, status == "failed")
    marker = _first(f, pl.col("type") == ROLLBACK_TYPE, pl.col("seq") > at)
    after = marker["seq"] if marker else at
    error = _first(f, pl.col("type") == "ErrorRaised", pl.col("seq") > at)
    refetch = _first(same_tool, pl.col("seq") > after)
    passed = _first(f, pl.col("type") == "TestsRun", pl.col("seq") > after, status == "passed")
    completed = _first(f, pl.col("type") == "TaskCompleted")
    return {
        "tool": sd["tool"],
        "stale_seq": at,
        "stale_event_id": s["event_id"],
        "stale_result": sd["result"],
        "stale_api_version": sd["result"].get("api_version"),
        "fresh_seq": fresh["seq"][0] if fresh.height else None,
        "fresh_result": orjson.loads(fresh["data"][0])["result"] if fresh.height else None,
        "api_version": orjson.loads(failed["data"])["expect"]["api_version"] if failed else None,
        "bad_write_seqs": f.filter(pl.col("type") == "FileWritten",
                                   pl.col("_cause") == s["event_id"])["seq"].to_list(),
        "failed_tests_seq": failed["seq"] if failed else None,
        "error_seq": error["seq"] if error else None,
        "rollback_seq": marker["seq"] if marker else None,
        "rollback_to": orjson.loads(marker["data"])["to"] if marker else None,
        "refetch_seq": refetch["seq"] if refetch else None,
        "passed_tests_seq": passed["seq"] if passed else None,
        "completed_seq": completed["seq"] if completed else None,
    }

