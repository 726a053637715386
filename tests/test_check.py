"""check_determinism: strict traps, divergence reports, resumes from checkpoints."""

from __future__ import annotations

import random
import time
import uuid
from datetime import datetime

import pytest

import estime as es
from estime.check import check_determinism
from estime.errors import NondeterminismError


@pytest.fixture
def log():
    return es.EventLog.from_records(
        [{"stream": f"s{i % 3}", "type": "Tick", "data": {"n": i, "items": [i]}}
         for i in range(40)]
    )


def projection_with(body):
    p = es.Projection("p", initial=dict)
    p.on("Tick")(body)
    return p


def test_deterministic_projection_passes(log):
    def ok(state, event):
        state[event.stream] = state.get(event.stream, 0) + event.data["n"]

    report = check_determinism(log, projection_with(ok))
    assert report.ok and bool(report)
    assert report.checkpoints_compared > 2 and report.resumes_compared >= 1
    assert "deterministic" in report.summary()


@pytest.mark.parametrize("call, name", [
    (lambda: time.time(), "time.time"),
    (lambda: datetime.now(), "datetime.now"),
    (lambda: random.random(), "random.random"),
    (lambda: random.randint(1, 5), "random.randint"),
    (lambda: uuid.uuid4(), "uuid.uuid4"),
])
def test_strict_mode_traps_clock_randomness_uuid4(log, call, name):
    def stamped(state, event):
        state["last"] = str(call())

    with pytest.raises(NondeterminismError) as info:
        check_determinism(log, projection_with(stamped))
    msg = str(info.value)
    assert "stamped" in msg and name in msg and "seq 1" in msg


def test_strict_mode_detects_mutating_the_event(log):
    def mutating(state, event):
        event.data["items"].append("oops")

    with pytest.raises(NondeterminismError, match=r"mutating.*mutated the event at seq 1"):
        check_determinism(log, projection_with(mutating))


def test_non_strict_reports_first_divergence_and_path(log):
    counter = {"calls": 0}

    def leaky(state, event):
        counter["calls"] += 1  # state kept outside `state`: differs on every replay
        if event.seq == 7:
            state["weird"] = counter["calls"]

    report = check_determinism(log, projection_with(leaky), strict=False)
    assert not report.ok
    assert report.first_divergence == 7
    assert report.path == "/weird"
    assert "NOT deterministic" in report.summary()


def test_resume_from_checkpoint_mismatch_is_caught():
    log = es.EventLog.from_records([{"stream": "a", "type": "Tick", "data": {}}] * 20)
    seen = set()

    def first_time_only(state, event):
        # depends on history outside the state: a fold resumed from a checkpoint differs
        key = event.seq
        state["n"] = state.get("n", 0) + (0 if key in seen else 1)
        seen.add(key)

    report = check_determinism(log, projection_with(first_time_only), strict=False,
                               checkpoint_every=5)
    assert not report.ok
