"""Hourly cost estimate of a ModelDeployment from the operator's price table (pure, exact decimals).

cost per hour = ready replicas x (vCPUs x cpuHourly + GiB x memoryGiBHourly + GPUs x gpuHourly[type])

The requests are the pods' limits too (Guaranteed QoS), so they are what a node reserves for each replica.
Without a price table, or when the table has no price for the model's GPU type, there is no estimate
(``None``): the status then leaves ``cost`` out rather than showing a misleading figure.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from modeldeploy.config import Pricing
from modeldeploy.quantity import parse_quantity
from modeldeploy.spec import Resources

GIB = Decimal(2) ** 30


def replica_hourly(pricing: Pricing, resources: Resources) -> Decimal | None:
    """The price of one replica per hour, or None when it cannot be priced."""
    cpu = parse_quantity(resources.cpu)
    memory = parse_quantity(resources.memory)
    if cpu is None or memory is None:
        return None
    total = cpu * _decimal(pricing.cpu_hourly) + memory / GIB * _decimal(pricing.memory_gib_hourly)
    if resources.gpu is not None:
        price = pricing.gpu_hourly.get(resources.gpu.type)
        if price is None:
            return None
        total += resources.gpu.count * _decimal(price)
    return total


def hourly_cost(pricing: Pricing | None, resources: Resources, ready_replicas: int) -> dict[str, str] | None:
    """``status.cost`` for ``ready_replicas`` replicas: ``{"hourly": "1.23", "currency": "USD"}`` or None."""
    if pricing is None:
        return None
    per_replica = replica_hourly(pricing, resources)
    if per_replica is None:
        return None
    return {"hourly": format_amount(per_replica * max(ready_replicas, 0)), "currency": pricing.currency}


def format_amount(amount: Decimal) -> str:
    """Two decimals ("1.23"); small non-zero amounts keep four so that they do not read as free."""
    cents = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if amount and not cents:
        return str(amount.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))
    return str(cents)


def _decimal(value: float) -> Decimal:
    # Through str: Decimal(0.1) would carry the binary float's error into the sum.
    return Decimal(str(value))
