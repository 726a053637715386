"""The exceptions estime raises, documented in one place.

Every error derives from :class:`EstimeError`, so ``except estime.errors.EstimeError``
catches anything estime raised on purpose. Messages say what was wrong, where (file,
line, seq, stream, field) and what to do about it.

=========================  =================================================================
``EstimeError``            base class of every estime error
``LogFormatError``         input that is not a valid event log: a missing column, a seq that
                           does not increase, a duplicate (stream, version) or event_id, an
                           unparsable time, a payload that is not JSON, a malformed file line.
                           Also a ``ValueError``.
``ConcurrencyError``       an append whose ``expected_version`` is not the stream's version
``ImmutableLogError``      an attempt to change or delete stored events, or to append an event
                           whose event_id is already stored with other content
``BranchError``            an edit of a branch at or before its fork point, or of a seq that
                           does not exist
``ProjectionError``        a projection handler raised; names projection, handler, seq, stream
                           and type, with the original exception chained
``NondeterminismError``    a projection that does not give the same state twice (wall-clock
                           time, randomness, uuid4, mutating the event, ...)
``UpcastError``            an upcaster registered twice, or one that fails on an event
``UnsafeInputError``       input that would need executing or unpickling data to be read
=========================  =================================================================
"""

from __future__ import annotations

__all__ = [
    "BranchError",
    "ConcurrencyError",
    "EstimeError",
    "ImmutableLogError",
    "LogFormatError",
    "NondeterminismError",
    "ProjectionError",
    "UnsafeInputError",
    "UpcastError",
]


class EstimeError(Exception):
    """Base class of every error estime raises on purpose."""


class LogFormatError(EstimeError, ValueError):
    """The input is not a valid event log; the message names the file/row/line and field."""


class ConcurrencyError(EstimeError):
    """An append's ``expected_version`` did not match the stream's current version.

    Attributes ``stream``, ``expected`` and ``actual`` say what was found.
    """

    def __init__(self, message: str, *, stream: str = "", expected: int | None = None,
                 actual: int = 0) -> None:
        super().__init__(message)
        self.stream = stream
        self.expected = expected
        self.actual = actual


class ImmutableLogError(EstimeError):
    """Something tried to change or delete stored events; the log is append-only."""


class BranchError(EstimeError, ValueError):
    """A branch edit that cannot be applied (at or before the fork point, unknown seq, ...)."""


class ProjectionError(EstimeError):
    """A projection handler raised while folding an event (original exception chained)."""


class NondeterminismError(EstimeError):
    """A projection gave different states for the same events, or used a nondeterministic source."""


class UpcastError(EstimeError):
    """An upcaster was registered twice or failed on an event."""


class UnsafeInputError(LogFormatError):
    """Reading the input would require unpickling or executing data; estime refuses."""
