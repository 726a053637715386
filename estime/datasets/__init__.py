"""Deterministic generators of the shipped datasets, at any size (``estime.datasets``).

Every generator is seeded and uses a fixed clock, so the same arguments give the same log
on every run and machine; small copies ship in the repository's ``datasets/`` directory
(``datasets/make.py`` regenerates them, ``datasets/README.md`` describes them).

- :func:`bank` — accounts, deposits, withdrawals and transfer pairs linked by causation;
  :func:`bank_commands` the recorded commands (some rejected); :func:`bank_decider` the
  ``(decide, evolve, initial)`` functions that re-decide them; :func:`bank_pivotal_deposit`
  the early deposit whose removal turns a later withdrawal into a rejection.
- :func:`orders` — web-shop orders with placed / paid / shipped / cancelled / refunded
  lifecycles.
- :func:`agent_run` — a planner and an executor agent with one planted fault (a stale cached
  tool result), its failure, an ``estime.RolledBack`` marker and the recovery;
  :func:`agent_fault` locates the fault, :func:`agent_projection_spec` /
  :func:`agent_projection` define the projection that exposes it and :func:`agent_failed`
  the outcome.

>>> from estime import datasets
>>> datasets.bank() == datasets.bank()
True
>>> log = datasets.agent_run()
>>> fault = datasets.agent_fault(log)
>>> log.event(fault["stale_seq"]).data["cached"], fault["rollback_to"] < fault["stale_seq"]
(True, True)
"""

from estime.datasets._agent import (
    agent_failed,
    agent_fault,
    agent_projection,
    agent_projection_spec,
    agent_run,
)
from estime.datasets._bank import bank, bank_commands, bank_decider, bank_pivotal_deposit
from estime.datasets._orders import orders

__all__ = [
    "agent_failed",
    "agent_fault",
    "agent_projection",
    "agent_projection_spec",
    "agent_run",
    "bank",
    "bank_commands",
    "bank_decider",
    "bank_pivotal_deposit",
    "orders",
]
