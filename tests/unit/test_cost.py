"""The hourly cost sum: ready replicas x (vCPU + GiB + GPU prices), exact decimals."""

from __future__ import annotations

from decimal import Decimal

from modeldeploy.config import Pricing
from modeldeploy.cost import format_amount, hourly_cost, replica_hourly
from modeldeploy.spec import GpuRequest, Resources

PRICING = Pricing(
    currency="EUR",
    gpu_hourly={"nvidia-tesla-t4": 0.35, "nvidia-a100": 3.67},
    cpu_hourly=0.048,
    memory_gib_hourly=0.0065,
)


def test_cpu_and_memory_per_replica() -> None:
    # 4 x 0.048 + 16 x 0.0065 = 0.192 + 0.104
    assert replica_hourly(PRICING, Resources(cpu="4", memory="16Gi")) == Decimal("0.296")


def test_millicores_and_mebibytes_are_fractions() -> None:
    # 0.5 x 0.048 + 0.5 x 0.0065
    assert replica_hourly(PRICING, Resources(cpu="500m", memory="512Mi")) == Decimal("0.02725")


def test_gpus_are_priced_by_type_and_count() -> None:
    resources = Resources(cpu="2", memory="8Gi", gpu=GpuRequest(count=2, type="nvidia-tesla-t4"))
    # 2 x 0.048 + 8 x 0.0065 + 2 x 0.35 = 0.096 + 0.052 + 0.70
    assert replica_hourly(PRICING, resources) == Decimal("0.848")


def test_total_is_per_ready_replica_rounded_to_cents() -> None:
    resources = Resources(cpu="2", memory="8Gi", gpu=GpuRequest(count=2, type="nvidia-tesla-t4"))
    assert hourly_cost(PRICING, resources, 3) == {"hourly": "2.54", "currency": "EUR"}  # 2.544
    assert hourly_cost(PRICING, resources, 0) == {"hourly": "0.00", "currency": "EUR"}


def test_public_list_price_examples() -> None:
    # An ml.m5.xlarge-class node (4 vCPU, 16 GiB) at about 1.00 USD/h; ml.t2.medium (2 vCPU, 4 GiB) ~0.25.
    pricing = Pricing(currency="USD", cpu_hourly=0.2, memory_gib_hourly=0.0125)
    assert hourly_cost(pricing, Resources(cpu="4", memory="16Gi"), 1) == {"hourly": "1.00", "currency": "USD"}
    assert hourly_cost(pricing, Resources(cpu="1", memory="4Gi"), 1) == {"hourly": "0.25", "currency": "USD"}


def test_no_price_table_means_no_estimate() -> None:
    assert hourly_cost(None, Resources(), 2) is None


def test_unpriced_gpu_type_means_no_estimate_rather_than_a_wrong_one() -> None:
    resources = Resources(gpu=GpuRequest(count=1, type="nvidia-l4"))
    assert hourly_cost(PRICING, resources, 1) is None


def test_tiny_amounts_do_not_read_as_free() -> None:
    assert format_amount(Decimal("0.00325")) == "0.0033"
    assert format_amount(Decimal("0")) == "0.00"
    assert format_amount(Decimal("12.345")) == "12.35"
