"""``make demo``: the root-cause walkthrough finds the planted fault from the events alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from estime import datasets
from estime.demo import render, walkthrough


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ESTIME_PROGRESS": "0"}
    return subprocess.run([sys.executable, "-m", "estime.demo", *args], capture_output=True,
                          text=True, timeout=300, env=env, check=False)


def test_make_demo_names_the_stale_tool_result() -> None:
    fault = datasets.agent_fault(datasets.agent_run())  # located independently of the demo
    proc = _run()
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Traceback" not in out + proc.stderr
    stale = f"seq {fault['stale_seq']} ToolReturned"
    # the culprit, with the payload that makes it stale
    culprit_line = next(line for line in out.splitlines() if line.strip().startswith(stale))
    assert fault["tool"] in culprit_line
    assert fault["stale_api_version"] in culprit_line and "cached=true" in culprit_line
    assert f"culprit seqs: [{fault['stale_seq']}]" in out
    # the failure, the first bad write, the rollback and the fix's effect
    assert f"seq {fault['failed_tests_seq']} TestsRun" in out
    assert f"seq {min(fault['bad_write_seqs'])} FileWritten" in out
    assert f"seq {fault['rollback_seq']} estime.RolledBack to seq {fault['rollback_to']}" in out
    assert f"replace seq {fault['stale_seq']}" in out
    assert fault["fresh_result"]["api_version"] in out
    assert "tests failed -> passed" in out
    assert out.rstrip().splitlines()[-1].startswith(
        f"root cause: the stale cached result of {fault['tool']} at seq {fault['stale_seq']}")


@pytest.mark.parametrize(("scale", "seed"), [(1, 1), (3, 7), (8, 42)])
def test_walkthrough_findings_match_the_planted_fault(scale: int, seed: int) -> None:
    log = datasets.agent_run(scale=scale, seed=seed)
    fault = datasets.agent_fault(log)
    f = walkthrough(log)
    assert f["attempt"]["failed"] and f["attempt"]["tests"] == "failed"
    assert f["failure"]["seq"] == fault["failed_tests_seq"]
    assert f["first_bad"]["seq"] == fault["stale_seq"]
    assert f["first_bad_file"]["seq"] == min(fault["bad_write_seqs"])
    assert f["culprits"] == [fault["stale_seq"]]
    assert f["culprit"]["event_id"] == fault["stale_event_id"]
    chain = {link["seq"]: link for link in f["chain"]}
    assert chain[fault["stale_seq"]]["cached"] is True
    assert f["chain"][0]["depth"] == 1 and f["chain"][-1]["type"] == "TaskReceived"
    rb = f["rollback"]
    assert (rb["seq"], rb["to"]) == (fault["rollback_seq"], fault["rollback_to"])
    assert rb["voided"] == fault["rollback_seq"] - fault["rollback_to"] - 1
    assert not rb["honoured"]["failed"] and rb["ignored"]["failed"]
    fx = f["fix"]
    assert fx["replaced"] == fault["stale_seq"] and fx["result"] == fault["fresh_result"]
    assert fx["first_divergence"] == fault["stale_seq"]
    assert not fx["failed"] and fx["tests"] == "passed"
    assert f"seq {fault['stale_seq']} ToolReturned" in render(f)


def test_json_output_is_the_findings() -> None:
    proc = _run("--json")
    assert proc.returncode == 0, proc.stderr
    findings = json.loads(proc.stdout)
    assert findings["culprits"] == [datasets.agent_fault(datasets.agent_run())["stale_seq"]]


def test_bad_arguments_exit_non_zero_without_traceback() -> None:
    proc = _run("--scale", "0")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "--scale" in proc.stderr


def test_a_log_without_a_failure_is_refused_clearly() -> None:
    log = datasets.agent_run()
    passed_only = log.filter(type=["TaskReceived", "ToolReturned"])
    with pytest.raises(ValueError, match="no failed TestsRun"):
        walkthrough(passed_only)
