"""estime: temporal analysis of event-sourced logs.

Load an event log into a polars frame, replay projections to any point, diff checkpoints,
fork what-if branches and find the events behind an outcome.
"""

from estime import errors
from estime.check import check_determinism
from estime.diff import Diff, diff
from estime.errors import (
    BranchError,
    ConcurrencyError,
    EstimeError,
    ImmutableLogError,
    LogFormatError,
    NondeterminismError,
)
from estime.log import Event, EventLog
from estime.projection import Projection, Replay, replay
from estime.upcast import Upcasters

__version__ = "0.1.0"

__all__ = [
    "BranchError",
    "ConcurrencyError",
    "Diff",
    "EstimeError",
    "Event",
    "EventLog",
    "ImmutableLogError",
    "LogFormatError",
    "NondeterminismError",
    "Projection",
    "Replay",
    "Upcasters",
    "check_determinism",
    "diff",
    "errors",
    "replay",
]
