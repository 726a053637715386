"""The root-cause walkthrough, headless: ``python -m estime.demo`` (``make demo``).

On the agent dataset (:func:`estime.datasets.agent_run`) it finds, from the events alone:
the failure, the first bad state, the culprit event (:func:`estime.rootcause.culprits`),
the causation chain back from the bad file write, what the rollback marker does to a
replay, and the effect of a fix made as a what-if branch (the stale tool result replaced by
the tool's previous, fresh answer) compared with the failed attempt.

:func:`walkthrough` returns the findings as a dict; :func:`main` prints them.

>>> findings = walkthrough()
>>> findings["culprits"] == [findings["first_bad"]["seq"]]
True
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import polars as pl

from estime import datasets
from estime.compare import Comparison, compare
from estime.diff import diff
from estime.log import Event, EventLog
from estime.projection import ROLLBACK_TYPE, replay
from estime.rootcause import culprits

__all__ = ["main", "render", "walkthrough"]

TOOL = "fetch_api_version"


def _first(log: EventLog, *predicates: pl.Expr, **constraints: Any) -> Event | None:
    hit = log.filter(*predicates, **constraints)
    return next(iter(hit), None)


def _short(value: Any, limit: int = 90) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(e: Event) -> str:
    return f"seq {e.seq} {e.type} ({e.stream})"


def walkthrough(log: EventLog | None = None) -> dict[str, Any]:
    """Run the root-cause session on an agent-run log (default: the shipped one).

    Returns plain values: ``events``, ``failure`` (the failed test run), ``error``,
    ``attempt_outcome``, ``first_bad`` and ``first_bad_file`` (seq, type, ...),
    ``culprits`` (seqs) and ``culprit`` (the first, with its payload), ``chain`` (the
    causation chain of the first bad write, nearest first), ``rollback`` (the marker and the
    outcomes with and without it) and ``fix`` (the branch's edit and the comparison).
    """
    log = datasets.agent_run() if log is None else log
    workspace = datasets.agent_projection()
    failed = datasets.agent_failed
    out: dict[str, Any] = {"events": len(log), "streams": log.streams, "types": len(log.types)}
    task = _first(log, type="TaskReceived")
    out["task"] = task.data.get("task") if task is not None else None

    # 1. the failure: the recorded failed test run, and the attempt up to the rollback marker
    status = pl.col("data").str.json_path_match("$.status")
    failure = _first(log, status == "failed", type="TestsRun")
    if failure is None:
        raise ValueError("this log has no failed TestsRun: nothing to explain")
    error = _first(log, pl.col("seq") > failure.seq, type="ErrorRaised")
    marker = _first(log, pl.col("seq") > failure.seq, type=ROLLBACK_TYPE)
    attempt = log.until(marker.seq - 1) if marker is not None else log
    rp = replay(attempt, workspace)
    final = rp.final
    out["failure"] = {"seq": failure.seq, "failed": failure.data.get("failed"),
                      "failures": list(failure.data.get("failures", ()))}
    out["error"] = None if error is None else {"seq": error.seq,
                                               "message": error.data.get("message")}
    out["attempt"] = {"until": attempt.frame["seq"][-1], "tests": final["tests"],
                      "failing_files": final["failures"], "failed": failed(final)}

    # 2. the first bad state: the workspace first disagrees with the plan's API version
    plan = _first(log, type="PlanCreated")
    wanted = plan.data.get("api_version") if plan is not None else failure.data["expect"][
        "api_version"]

    def versions(s: dict[str, Any]) -> list[Any]:
        vs = [f["api_version"] for f in s["files"].values()]
        vs.append(s["tools"].get(TOOL, {}).get("api_version"))
        return [v for v in vs if v is not None]

    bad = rp.first(lambda s: any(v != wanted for v in versions(s)))
    bad_file = rp.first(lambda s: any(f["api_version"] not in (None, wanted)
                                      for f in s["files"].values()))
    out["wanted"] = wanted
    out["first_bad"] = None if bad is None else {
        "seq": bad.seq, "type": bad.type, "stream": bad.stream,
        "changes": rp.changes(bad.seq).frame.select("path", "op").rows()}
    out["first_bad_file"] = None if bad_file is None else {
        "seq": bad_file.seq, "path": bad_file.data.get("path"), "event_id": bad_file.event_id}

    # 3. automatic culprit search
    t0 = time.perf_counter()
    found = culprits(attempt, workspace, failed)
    out["culprit_search"] = {"replays": found.replays, "seconds": time.perf_counter() - t0,
                             "candidates": found.candidates, "found": found.found}
    out["culprits"] = found.seqs
    first = next(iter(found), None)
    out["culprit"] = None if first is None else {
        "seq": first.seq, "type": first.type, "stream": first.stream,
        "event_id": first.event_id, "data": first.to_dict()["data"]}

    # 4. the causation chain of the first bad write, nearest cause first
    chain: list[dict[str, Any]] = []
    if bad_file is not None:
        anc = log.causes(bad_file.event_id).frame.sort("depth")
        chain = [{"seq": s, "type": t, "stream": st, "depth": d,
                  "cached": json.loads(data).get("cached") if t == "ToolReturned" else None}
                 for s, t, st, d, data in anc.select("seq", "type", "stream", "depth",
                                                     "data").iter_rows()]
    out["chain"] = chain

    # 5. the rollback marker: what replay does with it
    if marker is not None:
        honoured = replay(log, workspace).final
        ignored = replay(log, workspace, honour_rollbacks=False).final
        to = int(marker.data["to"])
        out["rollback"] = {
            "seq": marker.seq, "to": to, "reason": marker.data.get("reason"),
            "voided": len(log.between(to + 1, marker.seq - 1)),
            "honoured": {"tests": honoured["tests"], "failed": failed(honoured)},
            "ignored": {"tests": ignored["tests"], "failed": failed(ignored),
                        "failing_files": ignored["failures"]},
            "difference": diff(ignored, honoured).summary(),
        }
    else:
        out["rollback"] = None

    # 6. the fix: replace the culprit's result by the tool's previous (fresh) answer
    out["fix"] = None
    if first is not None and first.type == "ToolReturned":
        tool = first.data["tool"]
        history = rp.blame(lambda s: s["tools"][tool])
        before = history.filter(pl.col("seq") == first.seq)["before"]
        previous = json.loads(before[0]) if before.len() else None
        if previous is not None:
            corrected = {**first.to_dict()["data"], "result": previous, "cached": False}
            branch = attempt.fork(at=first.seq - 1, name="fresh tool result").replace(
                first.seq, data=corrected)
            cmp = compare(workspace, attempt, branch)
            assert isinstance(cmp, Comparison)  # two logs give a Comparison, not a table
            fixed = branch.replay(workspace).final
            div = cmp.first_divergence
            out["fix"] = {
                "fork_at": first.seq - 1, "replaced": first.seq, "result": previous,
                "first_divergence": None if div is None or div[0] is None else div[0].seq,
                "changes": cmp.final.summary(),
                "tests": fixed["tests"], "failed": failed(fixed),
            }
    return out


def render(f: dict[str, Any]) -> str:
    """The findings of :func:`walkthrough` as a readable text summary."""
    lines: list[str] = []
    add = lines.append
    title = "estime demo: root cause of a failed agent run"
    add(title)
    add("=" * len(title))
    add(f"log: {f['events']} events in streams {', '.join(f['streams'])}; "
        f"task: {_short(f['task'] or '?', 80)}")
    add("")
    fl = f["failure"]
    add("1. The failure")
    add(f"   seq {fl['seq']} TestsRun: {fl['failed']} tests failed "
        f"({', '.join(x.rsplit('::', 1)[-1] for x in fl['failures'])})")
    if f["error"]:
        add(f"   seq {f['error']['seq']} ErrorRaised: {_short(f['error']['message'])}")
    at = f["attempt"]
    add(f"   replay of the failed attempt (seq 1..{at['until']}): tests {at['tests']}; "
        f"files at the wrong API version: {', '.join(at['failing_files']) or 'none'}")
    add("")
    add("2. The first bad state")
    fb, fbf = f["first_bad"], f["first_bad_file"]
    add(f"   the plan targets API version {f['wanted']}")
    if fb:
        changed = ", ".join(p for p, _ in fb["changes"][:3])
        add(f"   first disagreement after seq {fb['seq']} {fb['type']} ({fb['stream']}): "
            f"changed {changed}")
    if fbf:
        add(f"   first file rendered for another version: seq {fbf['seq']} FileWritten "
            f"{fbf['path']}")
    add("")
    add("3. The culprit (es.culprits: smallest set of events whose removal flips the outcome)")
    cs = f["culprit_search"]
    c = f["culprit"]
    if c:
        d = c["data"]
        result = d.get("result", {})
        add(f"   seq {c['seq']} {c['type']} ({c['stream']}): {d.get('tool')} returned API "
            f"version {result.get('api_version')}, cached={str(d.get('cached')).lower()}, "
            f"fetched_at={d.get('fetched_at')}")
        add(f"   culprit seqs: {f['culprits']}; {cs['replays']} replays of "
            f"{cs['candidates']} candidate events, {cs['seconds']:.2f} s")
    else:
        add(f"   none found ({cs['replays']} replays)")
    add("")
    add("4. The causation chain (log.causes of the first bad write, nearest cause first)")
    if f["chain"] and fbf:
        steps = [f"seq {fbf['seq']} FileWritten"]
        for link in f["chain"][:4]:
            tag = " [cached]" if link["cached"] else ""
            steps.append(f"seq {link['seq']} {link['type']}{tag}")
        more = len(f["chain"]) - 4
        if more > 0:
            root = f["chain"][-1]
            steps.append(f"… {more - 1} more …" if more > 1 else "")
            steps.append(f"seq {root['seq']} {root['type']}")
        add("   " + " <- ".join(s for s in steps if s))
    add("")
    add("5. The rollback marker")
    rb = f["rollback"]
    if rb:
        add(f"   seq {rb['seq']} estime.RolledBack to seq {rb['to']}: "
            f"{_short(rb['reason'] or '', 120)}")
        add(f"   replay honouring it: tests {rb['honoured']['tests']}; ignoring it "
            f"(honour_rollbacks=False): tests {rb['ignored']['tests']} "
            f"({', '.join(rb['ignored']['failing_files'])})")
        add(f"   nothing is deleted: the {rb['voided']} voided events stay in the log, a "
            f"replay skips them ({rb['difference']})")
    else:
        add("   no rollback marker in this log")
    add("")
    add("6. The fix, as a what-if branch")
    fx = f["fix"]
    if fx:
        add(f"   fork at seq {fx['fork_at']}, replace seq {fx['replaced']} with the tool's "
            f"previous answer (API version {fx['result'].get('api_version')})")
        add(f"   compare: first divergence at seq {fx['first_divergence']}; final state "
            f"{fx['changes']}")
        add(f"   outcome: tests {f['attempt']['tests']} -> {fx['tests']}")
    else:
        add("   no fix to try (the culprit is not a tool result with an earlier answer)")
    add("")
    if c:
        what = "the stale cached result" if c["data"].get("cached") else "the result"
        verdict = (f"root cause: {what} of {c['data'].get('tool')} at seq {c['seq']} "
                   f"(fetched {c['data'].get('fetched_at')})")
        if fx and not fx["failed"]:
            verdict += "; replacing it makes the tests pass"
        add(verdict)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m estime.demo``."""
    parser = argparse.ArgumentParser(
        prog="python -m estime.demo",
        description="Root-cause walkthrough on the agent dataset, headless.")
    parser.add_argument("--scale", type=int, default=1,
                        help="make the agent run longer (about 50 events per unit)")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    args = parser.parse_args(argv)
    if args.scale < 1:
        parser.error("--scale must be a positive integer")
    findings = walkthrough(datasets.agent_run(scale=args.scale))
    if args.json:
        print(json.dumps(findings, indent=2, default=str))
    else:
        print(render(findings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
