"""The public API: DESIGN.md's names, exported from a curated `estime.__all__`."""

from __future__ import annotations

import subprocess
import sys

import estime
import estime.errors

PUBLIC = {
    # the event log
    "Event", "EventLog",
    # readers (writers are EventLog methods)
    "read_jsonl", "read_csv", "read_parquet", "read_cloudevents", "read_eventsourcing",
    "read_langgraph", "langgraph_lineages",
    # store, projections, diffs, upcasting
    "EventStore", "Projection", "replay", "Replay", "diff", "Diff", "Upcasters",
    # branches and comparison
    "Branch", "compare", "Comparison", "ComparisonTable", "Decider",
    # root cause
    "culprits", "Culprits", "causes", "effects", "compensate", "check_determinism",
    # errors and datasets
    "errors", "EstimeError", "LogFormatError", "ConcurrencyError", "ImmutableLogError",
    "BranchError", "NondeterminismError", "datasets",
}


def test_all_is_exactly_the_public_names():
    assert set(estime.__all__) == PUBLIC
    assert len(estime.__all__) == len(set(estime.__all__))
    for name in estime.__all__:
        assert getattr(estime, name) is not None, name


def test_event_log_methods_from_design():
    for name in ("from_records", "from_frame", "event", "until", "as_of", "between", "filter",
                 "streams", "types", "to_pandas", "payload", "write_jsonl", "write_parquet",
                 "fork", "causes", "effects", "upcast"):
        assert hasattr(estime.EventLog, name), name
    for name in ("append", "load", "version", "rollback", "save_branch", "branches",
                 "load_branch"):
        assert hasattr(estime.EventStore, name), name
    for name in ("state_at", "final", "track", "first", "bisect", "blame", "diff"):
        assert hasattr(estime.Replay, name), name


def test_error_hierarchy():
    for name in ("LogFormatError", "ConcurrencyError", "ImmutableLogError", "BranchError",
                 "NondeterminismError"):
        assert issubclass(getattr(estime.errors, name), estime.errors.EstimeError)
    assert issubclass(estime.LogFormatError, ValueError)


def test_core_imports_nothing_from_jupyter():
    code = ("import sys, estime, estime.charts; "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('ipywidgets', 'anywidget', 'IPython', 'ipykernel', 'jupyterlab', 'traitlets')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_import_leaves_heavy_optional_libraries_for_later():
    """`import estime` (scripts, the command line) does not load pandas (only on request,
    `to_pandas`), sqlite-utils (it loads pandas; the store imports it when opened) or the
    charting stack."""
    code = ("import sys, estime; "
            "bad = [m for m in ('pandas', 'sqlite_utils', 'altair', 'vl_convert') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
