"""The bank dataset: accounts, deposits, withdrawals, transfers, the recorded commands and a
decider that re-decides them (see :func:`bank`, :func:`bank_commands`, :func:`bank_decider`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import orjson
import polars as pl

from estime.datasets._common import SECOND, canonical_log, epoch_us
from estime.log import EventLog

__all__ = ["bank", "bank_commands", "bank_decider", "bank_pivotal_deposit"]

_FIRST = ("Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "John",
          "Katherine", "Linus", "Margaret", "Niklaus", "Radia", "Ken", "Hedy", "Tim",
          "Sophie", "Dennis", "Annie", "Claude")
_LAST = ("Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus",
         "Johnson", "Torvalds", "Hamilton", "Wirth", "Perlman", "Thompson", "Lamarr",
         "Berners-Lee", "Wilson", "Ritchie", "Easley", "Shannon")
_START = epoch_us(2024, 1, 1, 8)
_HORIZON_S = 90 * 24 * 3600  # the whole log spans about one quarter, whatever its size
_INSUFFICIENT = "insufficient funds"
_INSUFFICIENT_TRANSFER = "insufficient funds for transfer"

Decide = Callable[[Any, Mapping[str, Any]], list[dict[str, Any]]]
Evolve = Callable[[Any, Any], Any]


_KINDS = ("OpenAccount", "Deposit", "Withdraw", "Transfer")
_OPEN, _DEPOSIT, _WITHDRAW, _TRANSFER = range(4)


def _check_sizes(accounts: int, events: int) -> None:
    if not isinstance(accounts, int) or accounts < 1:
        raise ValueError(f"accounts must be a positive int, got {accounts!r}")
    if not isinstance(events, int) or events < accounts:
        raise ValueError(f"events must be an int >= accounts ({accounts}): every account "
                         f"needs its AccountOpened event; got {events!r}")


def _decisions(accounts: int, events: int, draws: np.ndarray) -> dict[str, list[Any]]:
    """The hot loop: choose each command and decide it; only ints and bools are recorded.

    Per command: ``kind`` (0 open, 1 deposit, 2 withdraw, 3 transfer), ``acc``, ``amt``,
    ``peer`` (transfer target or -1), ``ok`` and ``bal`` (the balance before the command).
    Per account: ``owner`` and ``currency``. :func:`decide` implements the same rules one
    command at a time; the tests check both agree on every event.
    """
    u_op, u_acc, u_oth, u_amt, _, u_act = (draws[:, k].tolist() for k in range(6))
    balance = [0] * accounts
    currency: list[str] = []
    owner: list[str] = []
    by_currency: dict[str, list[int]] = {"EUR": [], "USD": [], "GBP": []}
    position = [0] * accounts
    # preallocated (a command decides at least one event) and written by index: faster
    # than append in this loop, which dominates the generator's time at 1M events
    kind = [_OPEN] * events
    acc = [0] * events
    amt = [0] * events
    peer = [-1] * events
    oks = [True] * events
    bals = [0] * events
    open_until = max(accounts, int(events * 0.3))
    n = opened = i = 0
    while n < events:
        uo, ua, ux, um, ut = u_op[i], u_acc[i], u_oth[i], u_amt[i], u_act[i]
        if opened < accounts and (opened * open_until < accounts * (n + 1)
                                  or events - n <= accounts - opened):
            a = opened
            opened += 1
            cur = "EUR" if um < 0.8 else "USD" if um < 0.92 else "GBP"
            owner.append(f"{_FIRST[int(ux * len(_FIRST))]} {_LAST[int(ua * len(_LAST))]}")
            currency.append(cur)
            position[a] = len(by_currency[cur])
            by_currency[cur].append(a)
            acc[i] = a
            i += 1
            n += 1
            continue
        a = int(ua * opened)
        bal = balance[a]
        peers = by_currency[currency[a]]
        if uo >= 0.66 and (events - n < 2 or len(peers) < 2):
            uo = 0.0  # no room / no partner for a transfer: make it a deposit
        elif uo >= 0.36 and bal < 10 and ux < 0.8:
            uo = 0.0  # an empty account mostly sees a deposit first
        acc[i] = a
        bals[i] = bal
        if uo < 0.36:
            kind[i] = _DEPOSIT
            amount = 5 * (1 + int(um * 200))
            balance[a] = bal + amount
        elif uo < 0.66:
            kind[i] = _WITHDRAW
            if ux < 0.85 and bal >= 10:  # mostly a share of the balance, now and then too much
                amount = 5 * max(1, int(bal * (0.2 + 0.85 * um) / 5))
            else:
                amount = 5 * (1 + int(um * 100))
            if amount <= bal:
                balance[a] = bal - amount
            else:
                oks[i] = False
        else:
            kind[i] = _TRANSFER
            j = int(ux * (len(peers) - 1))
            peer[i] = b = peers[j + 1] if j >= position[a] else peers[j]
            if ut < 0.8 and bal >= 10:
                amount = 5 * max(1, int(bal * (0.1 + 0.8 * um) / 5))
            else:
                amount = 5 * (1 + int(um * 80))
            if amount <= bal:
                balance[a] = bal - amount
                balance[b] += amount
                n += 1
            else:
                oks[i] = False
        amt[i] = amount
        i += 1
        n += 1
    return {"kind": kind[:i], "acc": acc[:i], "amt": amt[:i], "peer": peer[:i], "ok": oks[:i],
            "bal": bals[:i],
            "owner": owner, "currency": currency}


def _str(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.String)


def _frames(accounts: int, events: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(events frame in canonical columns, commands frame), built column-wise with polars."""
    _check_sizes(accounts, events)
    draws = np.random.default_rng(seed).random((events, 6))
    d = _decisions(accounts, events, draws)
    ncmd = len(d["kind"])
    gap2 = 2 * max(1, _HORIZON_S // events)
    gaps = (draws[:ncmd, 4] * gap2).astype(np.int64) + 1
    width = max(5, len(str(accounts)))
    names = pl.Series([f"account-{i + 1:0{width}d}" for i in range(accounts)])
    acc = pl.Series(d["acc"], dtype=pl.Int64)
    peer = pl.Series(d["peer"], dtype=pl.Int64)
    cmd = pl.DataFrame({
        "i": np.arange(1, ncmd + 1, dtype=np.int64),
        "kind": pl.Series(d["kind"], dtype=pl.Int64),
        "stream": names.gather(acc),
        "to": names.gather(peer.clip(0)),
        "amt": pl.Series(d["amt"], dtype=pl.Int64),
        "ok": pl.Series(d["ok"], dtype=pl.Boolean),
        "bal": pl.Series(d["bal"], dtype=pl.Int64),
        "owner": pl.Series(d["owner"], dtype=pl.String).gather(acc),
        "cur": pl.Series(d["currency"], dtype=pl.String).gather(acc),
        "ut": draws[:ncmd, 5],
        "time_us": _START + SECOND * np.cumsum(gaps),
    })
    kind = pl.col("kind")
    ut = pl.col("ut")

    def two(e: pl.Expr) -> pl.Expr:  # int(e) as two digits, like f"{int(e):02d}"
        return e.cast(pl.Int64).cast(pl.String).str.zfill(2)

    n_events = pl.when((kind == _TRANSFER) & pl.col("ok")).then(2).otherwise(1)
    tid = pl.concat_str(pl.lit("tr-"), _str("i").str.zfill(7))
    amount = _str("amt")
    cmd = cmd.with_columns(
        pl.concat_str(pl.lit("cmd-"), _str("i").str.zfill(7)).alias("command_id"),
        (n_events.cum_sum() - n_events).alias("at_seq"),
        pl.when(kind == _OPEN).then(pl.concat_str(pl.lit("teller-"), two(ut * 12 + 1)))
        .when((kind == _DEPOSIT) & (ut >= 0.6)).then(
            pl.concat_str(pl.lit("teller-"), two(ut * 12 + 1)))
        .when(kind <= _WITHDRAW).then(pl.concat_str(pl.lit("atm-"), two(ut * 40 + 1)))
        .when(ut < 0.5).then(pl.lit("mobile-app"))
        .otherwise(pl.lit("online-banking")).alias("actor"),
        pl.when(kind == _OPEN).then(pl.concat_str(
            pl.lit('{"owner":"'), "owner", pl.lit('","currency":"'), "cur", pl.lit('"}')))
        .when(kind == _TRANSFER).then(pl.concat_str(
            pl.lit('{"to":"'), "to", pl.lit('","amount":'), amount,
            pl.lit(',"transfer_id":"'), tid, pl.lit('"}')))
        .otherwise(pl.concat_str(pl.lit('{"amount":'), amount, pl.lit("}"))).alias("data"),
        kind.replace_strict(list(range(4)), list(_KINDS), return_dtype=pl.String).alias("type"),
        pl.col("time_us").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("time"),
    )
    rejected = pl.concat_str(
        pl.lit('{"amount":'), amount, pl.lit(',"balance":'), _str("bal"),
        pl.lit(',"reason":"'),
        pl.when(kind == _WITHDRAW).then(pl.lit(_INSUFFICIENT))
        .otherwise(pl.lit(_INSUFFICIENT_TRANSFER)), pl.lit('"}'))
    primary = cmd.select(
        "i", pl.lit(0).alias("sub"), "stream",
        pl.when(kind == _OPEN).then(pl.lit("AccountOpened"))
        .when(kind == _DEPOSIT).then(pl.lit("MoneyDeposited"))
        .when(~pl.col("ok")).then(pl.lit("WithdrawalRejected"))
        .when(kind == _WITHDRAW).then(pl.lit("MoneyWithdrawn"))
        .otherwise(pl.lit("TransferSent")).alias("type"),
        "time", pl.when(pl.col("ok")).then(pl.col("data")).otherwise(rejected).alias("data"),
        pl.col("command_id").alias("cause"), "command_id", "actor",
    )
    received = cmd.filter((kind == _TRANSFER) & pl.col("ok")).select(
        "i", pl.lit(1).alias("sub"), pl.col("to").alias("stream"),
        pl.lit("TransferReceived").alias("type"), "time",
        pl.concat_str(pl.lit('{"from":"'), "stream", pl.lit('","amount":'), amount,
                      pl.lit(',"transfer_id":"'), tid, pl.lit('"}')).alias("data"),
        pl.concat_str("command_id", pl.lit("/TransferSent")).alias("cause"),
        "command_id", "actor",
    )
    ev = pl.concat([primary, received]).sort("i", "sub")
    frame = ev.select(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("seq"),
        "stream",
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("stream").alias("version"),
        "type", "time", "data",
        pl.concat_str(pl.lit('{"causation_id":"'), "cause", pl.lit('","correlation_id":"'),
                      "command_id", pl.lit('","actor":"'), "actor", pl.lit('"}')).alias("meta"),
        pl.concat_str("command_id", pl.lit("/"), "type").alias("event_id"),
        pl.lit(1, pl.Int64).alias("schema_version"),
    )
    commands = cmd.select("command_id", "at_seq", "time", "stream", "type", "data", "actor",
                          pl.col("ok").alias("accepted"))
    return frame, commands


def bank(accounts: int = 100, events: int = 2_000, seed: int = 0) -> EventLog:
    """A deterministic bank log of exactly ``events`` events over ``accounts`` streams.

    Streams ``account-00001``, ...; event types (payload fields):

    - ``AccountOpened {owner, currency}``; ``MoneyDeposited {amount}``; ``MoneyWithdrawn {amount}``
    - ``TransferSent {to, amount, transfer_id}`` on the sender, immediately followed by
      ``TransferReceived {from, amount, transfer_id}`` on the receiver (whose
      ``meta.causation_id`` is the TransferSent's event_id)
    - ``WithdrawalRejected {amount, balance, reason}`` for a Withdraw or Transfer command the
      balance could not cover.

    Amounts are ints; balances never go negative. Every event's meta has ``causation_id``
    (the command id, or the TransferSent for a TransferReceived), ``correlation_id`` (the
    command id) and ``actor``. The event_id is ``"<command_id>/<type>"``: deterministic, so
    handling a command twice yields the same ids (an idempotent append). All accounts are
    opened within the first ~30% of the log; time starts at 2024-01-01 08:00 UTC and the log
    spans about 90 days at any size. The recorded commands are :func:`bank_commands`.

    >>> log = bank(accounts=5, events=40)
    >>> len(log), log.streams[0], log.event(1).type
    (40, 'account-00001', 'AccountOpened')
    """
    return canonical_log(_frames(accounts, events, seed)[0])


def bank_commands(accounts: int = 100, events: int = 2_000, seed: int = 0) -> pl.DataFrame:
    """The commands behind :func:`bank` with the same arguments, one row per command.

    Columns: ``command_id`` (``cmd-0000001``...), ``at_seq`` (the seq of the last event
    before the command was handled; 0 for the first), ``time``, ``stream``, ``type``
    (``OpenAccount {owner, currency}``, ``Deposit {amount}``, ``Withdraw {amount}``,
    ``Transfer {to, amount, transfer_id}``), ``data`` (JSON text), ``actor`` and
    ``accepted`` (False when the decision was a WithdrawalRejected). The events a command
    decided carry its ``command_id`` as ``meta.causation_id``.

    >>> bank_commands(accounts=5, events=40)["type"][0]
    'OpenAccount'
    """
    return _frames(accounts, events, seed)[1]


# --------------------------------------------------------------------------- the decider


def _field(event: Any, name: str) -> Any:
    return event[name] if isinstance(event, Mapping) else getattr(event, name)


def initial() -> dict[str, dict[str, Any]]:
    """A fresh bank state: ``{stream: {"owner", "currency", "balance"}}`` (empty)."""
    return {}


def evolve(state: dict[str, dict[str, Any]], event: Any) -> dict[str, dict[str, Any]]:
    """Fold one bank event (an :class:`~estime.Event` or a mapping) into ``state``.

    Mutates ``state`` in place and returns it (the projection-handler convention).
    Events of accounts that are not open change nothing.
    """
    etype = _field(event, "type")
    stream = _field(event, "stream")
    data = _field(event, "data")
    if etype == "AccountOpened":
        state[stream] = {"owner": data["owner"], "currency": data["currency"], "balance": 0}
        return state
    account = state.get(stream)
    if account is None:
        return state
    if etype in ("MoneyDeposited", "TransferReceived"):
        account["balance"] += data["amount"]
    elif etype in ("MoneyWithdrawn", "TransferSent"):
        account["balance"] -= data["amount"]
    return state


def decide(state: Mapping[str, Mapping[str, Any]],
           command: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The events a bank command decides on ``state`` (which is not changed).

    ``command`` is a row of :func:`bank_commands` as a mapping (``command_id``, ``stream``,
    ``type``, ``data`` as JSON text or a dict, ``actor``, ``time``). Each event is a dict
    with ``stream``, ``type``, ``data``, ``meta``, ``event_id`` (``"<command_id>/<type>"``)
    and ``time`` (the command's), ready for ``EventLog.from_records``. Commands the state
    cannot satisfy are decided as rejections: ``WithdrawalRejected`` for missing funds,
    ``CommandRejected {command, reason}`` for an unknown/closed account, an account opened
    twice or a cross-currency transfer (never in the generated log; only counterfactuals
    produce it).
    """
    cid = command["command_id"]
    ctype = command["type"]
    stream = command["stream"]
    data = command["data"]
    if isinstance(data, (str, bytes)):
        data = orjson.loads(data)
    actor = command.get("actor")
    time = command.get("time")

    def event(stream: str, etype: str, payload: dict[str, Any],
              cause: str | None = None) -> dict[str, Any]:
        return {"stream": stream, "type": etype, "data": payload,
                "meta": {"causation_id": cause or cid, "correlation_id": cid, "actor": actor},
                "event_id": f"{cid}/{etype}", "time": time}

    def rejected(reason: str) -> list[dict[str, Any]]:
        return [event(stream, "CommandRejected", {"command": ctype, "reason": reason})]

    account = state.get(stream)
    if ctype == "OpenAccount":
        if account is not None:
            return rejected("account already open")
        return [event(stream, "AccountOpened",
                      {"owner": data["owner"], "currency": data["currency"]})]
    if ctype not in ("Deposit", "Withdraw", "Transfer"):
        raise ValueError(f"command {cid}: unknown bank command type {ctype!r}; expected "
                         "OpenAccount, Deposit, Withdraw or Transfer")
    amount = data["amount"]
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError(f"command {cid}: amount must be a positive int, got {amount!r}")
    if account is None:
        return rejected(f"no open account {stream}")
    balance = account["balance"]
    if ctype == "Deposit":
        return [event(stream, "MoneyDeposited", {"amount": amount})]
    if ctype == "Withdraw":
        if amount > balance:
            return [event(stream, "WithdrawalRejected",
                          {"amount": amount, "balance": balance, "reason": _INSUFFICIENT})]
        return [event(stream, "MoneyWithdrawn", {"amount": amount})]
    to = data["to"]
    target = state.get(to)
    if target is None:
        return rejected(f"no open account {to}")
    if target["currency"] != account["currency"]:
        return rejected(f"currency mismatch: {account['currency']} to {target['currency']}")
    if amount > balance:
        return [event(stream, "WithdrawalRejected",
                      {"amount": amount, "balance": balance, "reason": _INSUFFICIENT_TRANSFER})]
    sent = event(stream, "TransferSent",
                 {"to": to, "amount": amount, "transfer_id": data["transfer_id"]})
    received = event(to, "TransferReceived",
                     {"from": stream, "amount": amount, "transfer_id": data["transfer_id"]},
                     cause=sent["event_id"])
    return [sent, received]


def bank_decider() -> tuple[Decide, Evolve, Callable[[], dict[str, dict[str, Any]]]]:
    """``(decide, evolve, initial)``: the bank's rules as plain functions.

    ``decide(state, command) -> [event dicts]`` never changes ``state``;
    ``evolve(state, event) -> state`` folds one event (in place); ``initial()`` makes an empty
    state. Re-deciding every row of :func:`bank_commands` in order, evolving the state with
    each decided event, reproduces :func:`bank`'s events exactly (stream, type, data, meta,
    event_id, time). ``estime.Decider(decide, evolve, initial)`` wraps them.

    >>> decide, evolve, initial = bank_decider()
    >>> state = evolve(initial(), {"type": "AccountOpened", "stream": "a",
    ...                            "data": {"owner": "Ada", "currency": "EUR"}})
    >>> [e["type"] for e in decide(state, {"command_id": "c1", "type": "Withdraw",
    ...                                    "stream": "a", "data": '{"amount": 5}'})]
    ['WithdrawalRejected']
    """
    return decide, evolve, initial


def bank_pivotal_deposit(accounts: int = 100, events: int = 2_000,
                         seed: int = 0) -> dict[str, Any] | None:
    """The earliest deposit whose removal turns a later accepted withdrawal into a rejection.

    Re-decides the recorded commands without each deposit in turn (with
    :func:`bank_decider`) and returns, for the first deposit that flips a later ``Withdraw``
    from ``MoneyWithdrawn`` to ``WithdrawalRejected``: ``stream``, ``deposit_command_id``,
    ``deposit_seq``, ``deposit_event_id``, ``deposit_amount``, ``withdrawal_command_id``,
    ``withdrawal_seq``, ``withdrawal_event_id``, ``withdrawal_amount`` and
    ``balance_without_deposit`` (the balance the withdrawal would have met); None if no
    deposit in the first half of the commands does. Meant for notebook-sized logs.

    >>> case = bank_pivotal_deposit()
    >>> case["stream"], case["deposit_seq"], case["withdrawal_seq"]
    ('account-00001', 2, 5)
    """
    frame, recorded = _frames(accounts, events, seed)
    seq_of = dict(zip(frame["event_id"].to_list(), frame["seq"].to_list()))
    commands = [dict(row, data=orjson.loads(row["data"]), time=None)
                for row in recorded.iter_rows(named=True)]
    state = initial()
    for j, cmd in enumerate(commands[: len(commands) // 2]):
        if cmd["type"] == "Deposit":
            what_if = copy.deepcopy(state)
            for later in commands[j + 1:]:
                decided = decide(what_if, later)
                for e in decided:
                    evolve(what_if, e)
                if (later["type"] == "Withdraw" and later["stream"] == cmd["stream"]
                        and later["accepted"] and decided[0]["type"] == "WithdrawalRejected"):
                    deposit_id = f"{cmd['command_id']}/MoneyDeposited"
                    withdrawn_id = f"{later['command_id']}/MoneyWithdrawn"
                    return {
                        "stream": cmd["stream"],
                        "deposit_command_id": cmd["command_id"],
                        "deposit_seq": seq_of[deposit_id],
                        "deposit_event_id": deposit_id,
                        "deposit_amount": cmd["data"]["amount"],
                        "withdrawal_command_id": later["command_id"],
                        "withdrawal_seq": seq_of[withdrawn_id],
                        "withdrawal_event_id": withdrawn_id,
                        "withdrawal_amount": later["data"]["amount"],
                        "balance_without_deposit": decided[0]["data"]["balance"],
                    }
        for e in decide(state, cmd):
            evolve(state, e)
    return None
