"""The orders dataset: one stream per order, each following a sensible lifecycle."""

from __future__ import annotations

from typing import Any

import orjson

from estime._normalize import event_ids_for
from estime.datasets._common import SECOND, Draws, build_log, epoch_us
from estime.log import EventLog

__all__ = ["orders"]

_CATALOG = (
    ("SKU-1001", "Espresso beans 1kg", 2490),
    ("SKU-1002", "Pour-over kettle", 5900),
    ("SKU-1003", "Burr grinder", 12900),
    ("SKU-1004", "Paper filters (100)", 590),
    ("SKU-1005", "Ceramic mug", 1450),
    ("SKU-1006", "Milk frother", 3490),
    ("SKU-1007", "Coffee scale", 2990),
    ("SKU-1008", "Cold brew jar", 2190),
    ("SKU-1009", "Tamper", 1990),
    ("SKU-1010", "Cleaning tablets", 890),
)
_CARRIERS = ("DHL", "UPS", "PostNL", "DPD")
_METHODS = ("card", "card", "card", "paypal", "bank-transfer")
_START = epoch_us(2024, 3, 1)
_SEC = 1  # lifecycle gaps are in whole seconds
_MINUTE = 60
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR


def orders(orders: int = 200, seed: int = 0) -> EventLog:
    """A deterministic log of ``orders`` web-shop orders (streams ``order-00001``, ...).

    Lifecycle of each order (payload fields; money in integer cents, EUR):

    - ``OrderPlaced {customer, currency, channel}``, then 1-4 ``ItemAdded {sku, name,
      quantity, unit_price}`` and sometimes an ``ItemRemoved {sku, quantity}``;
    - either ``OrderCancelled {reason: "cart abandoned"}`` (no payment), or
      ``PaymentAuthorized {payment_id, amount, method}`` (amount = the basket's total) followed
      by either ``OrderCancelled`` + ``OrderRefunded {payment_id, amount, reason}``, or
      ``OrderShipped {carrier, tracking_number}`` + ``OrderDelivered {carrier}`` and, for a
      few, a later ``OrderRefunded`` (a return).

    Meta: ``correlation_id`` is the order's OrderPlaced event_id; ``causation_id`` is the
    event that led to this one (the OrderPlaced for items, the ItemAdded an ItemRemoved
    undoes, the payment for a shipment, ...) and null for OrderPlaced, the root;
    ``actor`` is ``customer:...``, ``payment-service``, ``warehouse``, ``carrier:...``,
    ``support`` or ``system:cart-expiry``. Orders are placed over 30 days from 2024-03-01
    and their events interleave in time order. Event ids are estime's default UUIDv5 of
    (stream, version).

    >>> log = orders(orders=3)
    >>> log.event(1).type, sorted(log.streams)
    ('OrderPlaced', ['order-00001', 'order-00002', 'order-00003'])
    """
    if not isinstance(orders, int) or orders < 1:
        raise ValueError(f"orders must be a positive int, got {orders!r}")
    r = Draws(seed)
    width = max(5, len(str(orders)))
    customers = max(10, orders // 3)
    rows: list[tuple[int, int, int, str, str, str, int | None]] = []
    for k in range(orders):
        rows.extend(_lifecycle(k, r, customers))
    rows.sort(key=lambda row: row[:3])
    streams = [f"order-{row[1] + 1:0{width}d}" for row in rows]
    versions = [row[2] for row in rows]
    ids = event_ids_for(streams, versions)
    id_of = {(s, v): eid for s, v, eid in zip(streams, versions, ids)}
    metas = []
    for s, row in zip(streams, rows):
        cause = None if row[6] is None else id_of[(s, row[6])]
        metas.append(orjson.dumps({"causation_id": cause, "correlation_id": id_of[(s, 1)],
                                   "actor": row[5]}).decode())
    return build_log(stream=streams, version=versions, type=[row[3] for row in rows],
                     time_us=[row[0] for row in rows], data=[row[4] for row in rows],
                     meta=metas, event_id=ids)


def _lifecycle(k: int, r: Draws,
               customers: int) -> list[tuple[int, int, int, str, str, str, int | None]]:
    """One order's events: (time_us, order, version, type, data JSON, actor, cause version)."""
    out: list[tuple[int, int, int, str, str, str, int | None]] = []
    t = _START + r.below(30 * 24 * 3600) * SECOND
    customer = f"customer-{1 + r.below(customers):04d}"
    me = f"customer:{customer}"

    def add(etype: str, data: dict[str, Any], actor: str, cause: int | None,
            gap_lo: int, gap_hi: int) -> int:
        nonlocal t
        t += (gap_lo + r.below(gap_hi - gap_lo)) * SECOND
        out.append((t, k, len(out) + 1, etype, orjson.dumps(data).decode(), actor, cause))
        return len(out)

    placed = add("OrderPlaced", {"customer": customer, "currency": "EUR",
                                 "channel": r.pick(("web", "web", "app"))}, me, None, 0, 1)
    basket: dict[str, tuple[int, int, int]] = {}  # sku -> (quantity, unit_price, version)
    for _ in range(r.between(1, 4)):
        sku, name, price = r.pick([c for c in _CATALOG if c[0] not in basket])
        qty = r.between(1, 3)
        v = add("ItemAdded", {"sku": sku, "name": name, "quantity": qty, "unit_price": price},
                me, placed, 10 * _SEC, 5 * _MINUTE)
        basket[sku] = (qty, price, v)
    last = len(out)
    if len(basket) >= 2 and r.chance(0.2):
        sku = r.pick(sorted(basket))
        qty, _, v = basket.pop(sku)
        last = add("ItemRemoved", {"sku": sku, "quantity": qty}, me, v, 10 * _SEC,
                   3 * _MINUTE)
    fate = r.u()
    if fate < 0.08:
        add("OrderCancelled", {"reason": "cart abandoned"}, "system:cart-expiry", last,
            _DAY, _DAY + _HOUR)
        return out
    total = sum(q * p for q, p, _ in basket.values())
    payment_id = f"pay-{k + 1:06d}"
    paid = add("PaymentAuthorized", {"payment_id": payment_id, "amount": total,
                                     "method": r.pick(_METHODS)},
               "payment-service", last, 30 * _SEC, 20 * _MINUTE)
    if fate < 0.15:
        cancelled = add("OrderCancelled", {"reason": "customer changed their mind"}, me, paid,
                        10 * _MINUTE, 6 * _HOUR)
        add("OrderRefunded", {"payment_id": payment_id, "amount": total,
                              "reason": "cancelled before shipping"},
            "payment-service", cancelled, _MINUTE, 30 * _MINUTE)
        return out
    carrier = r.pick(_CARRIERS)
    shipped = add("OrderShipped", {"carrier": carrier, "tracking_number":
                                   f"{carrier[:2].upper()}{r.hex(10).upper()}"},
                  "warehouse", paid, 2 * _HOUR, 48 * _HOUR)
    delivered = add("OrderDelivered", {"carrier": carrier}, f"carrier:{carrier}", shipped,
                    _DAY, 4 * _DAY)
    if fate > 0.94:
        add("OrderRefunded", {"payment_id": payment_id, "amount": total,
                              "reason": "returned"}, "support", delivered, 2 * _DAY,
            10 * _DAY)
    return out
