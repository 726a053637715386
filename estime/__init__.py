"""estime: temporal analysis of event-sourced logs.

Load an event log into a polars frame, replay projections to any point, diff checkpoints,
fork what-if branches and find the events behind an outcome. The core imports nothing from
Jupyter; the notebook widgets live in :mod:`estime.widgets`.
"""

from estime import datasets, errors
from estime.branch import Branch
from estime.check import check_determinism
from estime.compare import Comparison, ComparisonTable, compare
from estime.decider import Decider
from estime.diff import Diff, diff
from estime.errors import (
    BranchError,
    ConcurrencyError,
    EstimeError,
    ImmutableLogError,
    LogFormatError,
    NondeterminismError,
)
from estime.io import (
    langgraph_lineages,
    read_cloudevents,
    read_csv,
    read_eventsourcing,
    read_jsonl,
    read_langgraph,
    read_parquet,
)
from estime.log import Event, EventLog
from estime.projection import Projection, Replay, replay
from estime.rootcause import Culprits, causes, compensate, culprits, effects
from estime.store import EventStore
from estime.upcast import Upcasters

__version__ = "0.1.0"

__all__ = [
    "Branch",
    "BranchError",
    "Comparison",
    "ComparisonTable",
    "ConcurrencyError",
    "Culprits",
    "Decider",
    "Diff",
    "EstimeError",
    "Event",
    "EventLog",
    "EventStore",
    "ImmutableLogError",
    "LogFormatError",
    "NondeterminismError",
    "Projection",
    "Replay",
    "Upcasters",
    "causes",
    "check_determinism",
    "compare",
    "compensate",
    "culprits",
    "datasets",
    "diff",
    "effects",
    "errors",
    "langgraph_lineages",
    "read_cloudevents",
    "read_csv",
    "read_eventsourcing",
    "read_jsonl",
    "read_langgraph",
    "read_parquet",
    "replay",
]
