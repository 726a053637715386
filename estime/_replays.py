"""Replays cached on the log they fold, so branches, comparisons and culprit searches
reuse the parent's checkpoints instead of folding it again.

The cache lives in the EventLog object itself (a few replays per log, least recently used
first out), so it goes away with the log; it is keyed by the projection object, its
handlers and the replay options.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from estime.log import EventLog

if TYPE_CHECKING:
    from estime.branch import Branch
    from estime.projection import Projection, Replay
    from estime.upcast import Upcasters

__all__ = ["cached_replay", "replay_of"]

_CACHE_ATTR = "_estime_replays"
_CACHE_SIZE = 4


def _fingerprint(projection: Projection) -> tuple[Any, ...]:
    handlers = getattr(projection, "_handlers", {})
    return (id(projection), tuple(sorted((t, id(h)) for t, h in handlers.items())),
            id(getattr(projection, "_wildcard", None)), projection.per_stream,
            id(projection.initial))


def cached_replay(log: EventLog, projection: Projection, *, upcasters: Upcasters | None = None,
                  honour_rollbacks: bool = True, build: Any = None) -> Replay:
    """The replay of ``log`` through ``projection``, cached on the log (a few per log).

    The cache lives in the log object (so it goes when the log goes) and is keyed by the
    projection object, its handlers and the options; ``build()`` makes the replay on a miss.
    """
    from estime.projection import replay

    key = (_fingerprint(projection), id(upcasters), honour_rollbacks)
    cache: OrderedDict[Any, Replay] = vars(log).setdefault(_CACHE_ATTR, OrderedDict())
    rp = cache.get(key)
    if rp is not None and rp.projection is projection and rp.upcasters is upcasters:
        cache.move_to_end(key)
        return rp
    rp = build() if build is not None else replay(
        log, projection, upcasters=upcasters, honour_rollbacks=honour_rollbacks)
    cache[key] = rp
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
    return rp


def replay_of(x: EventLog | Branch, projection: Projection, *,
              upcasters: Upcasters | None = None, honour_rollbacks: bool = True) -> Replay:
    """The (cached) replay of a log or a branch; a branch reuses its parent's checkpoints."""
    from estime.branch import Branch

    if isinstance(x, Branch):
        return x.replay(projection, upcasters=upcasters, honour_rollbacks=honour_rollbacks)
    if not isinstance(x, EventLog):
        raise TypeError(f"expected an EventLog or a Branch, got {type(x).__name__}")
    return cached_replay(x, projection, upcasters=upcasters, honour_rollbacks=honour_rollbacks)
