"""The pure price rules of SPEC §4 (rentals/pricing.py) and the money helper."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from car_rental_system.money import format_cny, quantize_money
from rentals import pricing

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)


def _quote(**overrides):
    kwargs = {
        "daily_rate": Decimal("300.00"),
        "deposit_amount": Decimal("2000.00"),
        "member_level": "REGULAR",
        "start_time": START,
        "end_time": START + timedelta(days=3),
        "pickup_location_id": 1,
        "return_location_id": 1,
    }
    kwargs.update(overrides)
    return pricing.quote(**kwargs)


# --- days ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "days"),
    [
        (timedelta(minutes=1), 1),
        (timedelta(hours=23, minutes=59), 1),
        (timedelta(days=1), 1),
        (timedelta(days=1, seconds=1), 2),
        (timedelta(days=3), 3),
        (timedelta(days=3, hours=1), 4),
        (timedelta(days=90), 90),
    ],
)
def test_rental_days_round_up_started_days(delta, days):
    assert pricing.rental_days(START, START + delta) == days


def test_rental_days_is_at_least_one():
    assert pricing.rental_days(START, START) == 1
    assert pricing.rental_days(START, START - timedelta(hours=5)) == 1


def test_whole_days_of_nothing_is_zero():
    assert pricing.whole_days(timedelta(0)) == 0
    assert pricing.whole_days(-timedelta(days=2)) == 0


# --- member discounts, deposit ----------------------------------------------------


@pytest.mark.parametrize(
    ("level", "discount", "total", "deposit"),
    [
        ("REGULAR", "0.00", "900.00", "2000.00"),
        ("SILVER", "45.00", "855.00", "2000.00"),
        ("GOLD", "90.00", "810.00", "2000.00"),
        ("VIP", "135.00", "765.00", "0.00"),
    ],
)
def test_member_levels(level, discount, total, deposit):
    q = _quote(member_level=level)
    assert q.days == 3
    assert q.base_rent == Decimal("900.00")
    assert q.discount_amount == Decimal(discount)
    assert q.total_amount == Decimal(total)
    assert q.deposit == Decimal(deposit)
    assert q.order_total == Decimal(total) + Decimal(deposit)


def test_unknown_member_level_gets_no_discount():
    q = _quote(member_level="PLATINUM")
    assert q.discount_amount == Decimal("0.00")
    assert q.total_amount == Decimal("900.00")


def test_discount_rounds_half_up_to_the_cent():
    # 1 day × 0.10 at SILVER 5 % = 0.005 → 0.01 (half-up, not banker's 0.00)
    q = _quote(daily_rate=Decimal("0.10"), member_level="SILVER", end_time=START + timedelta(hours=2))
    assert q.discount_amount == Decimal("0.01")
    assert q.total_amount == Decimal("0.09")
    # 333.33 × 3 = 999.99; GOLD 10 % = 99.999 → 100.00
    q = _quote(daily_rate=Decimal("333.33"), member_level="GOLD")
    assert q.base_rent == Decimal("999.99")
    assert q.discount_amount == Decimal("100.00")
    assert q.total_amount == Decimal("899.99")


def test_member_discounts_come_from_settings(settings):
    settings.MEMBER_DISCOUNTS = {"REGULAR": Decimal("0.20")}
    q = _quote()
    assert q.discount_amount == Decimal("180.00")
    assert q.total_amount == Decimal("720.00")


def test_quote_amounts_are_decimals_with_two_places():
    q = _quote(member_level="SILVER", return_location_id=2)
    for name in (
        "daily_rate",
        "base_rent",
        "discount_amount",
        "total_amount",
        "deposit",
        "cross_location_fee",
        "order_total",
    ):
        value = getattr(q, name)
        assert isinstance(value, Decimal), name
        assert value.as_tuple().exponent == -2, name
    assert q.as_dict()["order_total"] == Decimal("3055.00")


# --- one-way fee ------------------------------------------------------------------


def test_cross_location_fee_only_when_stores_differ():
    assert _quote().cross_location_fee == Decimal("0.00")
    q = _quote(return_location_id=2)
    assert q.cross_location_fee == Decimal("200.00")
    assert q.order_total == Decimal("3100.00")


def test_cross_location_fee_none_without_return_store():
    assert pricing.cross_location_fee_for(1, None) == Decimal("0.00")


def test_cross_location_fee_from_settings(settings):
    settings.CROSS_LOCATION_FEE = Decimal("88.5")
    assert pricing.cross_location_fee_for(1, 2) == Decimal("88.50")


# --- overdue fee ------------------------------------------------------------------


END = START + timedelta(days=3)


@pytest.mark.parametrize(
    ("late", "fee"),
    [
        (None, "0.00"),
        (-timedelta(hours=5), "0.00"),
        (timedelta(0), "0.00"),
        (timedelta(minutes=50), "0.00"),
        (timedelta(hours=1), "0.00"),  # exactly the grace: still free
        (timedelta(hours=1, seconds=1), "450.00"),
        (timedelta(minutes=61), "450.00"),
        (timedelta(hours=24), "450.00"),
        (timedelta(hours=24, seconds=1), "900.00"),
        (timedelta(hours=26), "900.00"),
        (timedelta(days=5), "2250.00"),
    ],
)
def test_overdue_fee(late, fee):
    returned_at = None if late is None else END + late
    assert pricing.overdue_fee_for(END, returned_at, Decimal("300.00")) == Decimal(fee)


def test_overdue_fee_uses_settings(settings):
    settings.OVERDUE_GRACE = timedelta(hours=3)
    settings.OVERDUE_RATE = Decimal("2")
    assert pricing.overdue_fee_for(END, END + timedelta(hours=3), Decimal("300.00")) == Decimal("0.00")
    assert pricing.overdue_fee_for(END, END + timedelta(hours=4), Decimal("300.00")) == Decimal("600.00")


def test_overdue_fee_rounds_half_up():
    # 1 day × 0.33 × 1.5 = 0.495 → 0.50
    assert pricing.overdue_fee_for(END, END + timedelta(hours=2), Decimal("0.33")) == Decimal("0.50")


# --- the money helper ---------------------------------------------------------------


def test_quantize_money_rounds_half_up_and_refuses_floats():
    assert quantize_money(Decimal("2.345")) == Decimal("2.35")
    assert quantize_money(Decimal("2.344")) == Decimal("2.34")
    assert quantize_money(Decimal("-2.345")) == Decimal("-2.35")
    assert quantize_money("7") == Decimal("7.00")
    assert quantize_money(3) == Decimal("3.00")
    assert quantize_money(None) == Decimal("0.00")
    with pytest.raises(TypeError):
        quantize_money(0.1)


def test_format_cny():
    assert format_cny(Decimal("1234.5")) == "¥1,234.50"
    assert format_cny(Decimal("0")) == "¥0.00"
    assert format_cny(Decimal("-20")) == "-¥20.00"
    assert format_cny(Decimal("1234567.891")) == "¥1,234,567.89"


# --- the ledger figures of §4 (Rental.figures_for is pure: no query) -------------------


def _rental(status, **amounts):
    from rentals.models import Rental

    values = {
        "total_amount": Decimal("900.00"),
        "deposit": Decimal("2000.00"),
        "cross_location_fee": Decimal("0.00"),
        "overdue_fee": Decimal("0.00"),
        "damage_fee": Decimal("0.00"),
        "cancellation_fee": Decimal("0.00"),
    }
    values.update({k: Decimal(v) for k, v in amounts.items()})
    return Rental(status=status, start_time=START, end_time=END, **values)


@pytest.mark.parametrize(
    ("status", "amounts", "paid", "refunded", "remaining", "refund_due", "settlement"),
    [
        ("PENDING", {}, "0", "0", "2900.00", "0.00", "UNSETTLED"),
        ("PENDING", {}, "2900", "0", "0.00", "0.00", "PARTIAL"),  # paid in full but still open
        ("ONGOING", {}, "1000", "0", "1900.00", "0.00", "PARTIAL"),
        # remaining is on net paid: a refunded amount is owed again while active
        ("OVERDUE", {}, "2900", "100", "100.00", "0.00", "PARTIAL"),
        ("COMPLETED", {}, "2900", "0", "0.00", "2000.00", "PARTIAL"),  # the deposit is due back
        ("COMPLETED", {}, "2900", "2000", "0.00", "0.00", "SETTLED"),
        ("COMPLETED", {"overdue_fee": "900"}, "2900", "1100", "0.00", "0.00", "SETTLED"),
        ("COMPLETED", {"damage_fee": "2500"}, "2900", "0", "500.00", "0.00", "PARTIAL"),
        ("COMPLETED", {}, "0", "0", "900.00", "0.00", "UNSETTLED"),
        ("CANCELLED", {}, "0", "0", "0.00", "0.00", "SETTLED"),  # square without paying
        ("CANCELLED", {}, "2900", "2900", "0.00", "0.00", "SETTLED"),
        ("CANCELLED", {}, "2900", "0", "0.00", "2900.00", "PARTIAL"),  # walk-in waiting for a manual refund
        ("CANCELLED", {"cancellation_fee": "300"}, "2900", "2600", "0.00", "0.00", "SETTLED"),
        ("CANCELLED", {"cancellation_fee": "300"}, "0", "0", "300.00", "0.00", "UNSETTLED"),
    ],
)
def test_figures_for(status, amounts, paid, refunded, remaining, refund_due, settlement):
    figures = _rental(status, **amounts).figures_for(Decimal(paid), Decimal(refunded))
    assert figures.net_paid == Decimal(paid) - Decimal(refunded)
    assert figures.remaining == Decimal(remaining)
    assert figures.refund_due == Decimal(refund_due)
    assert figures.settlement_status == settlement


def test_apply_figures_sets_and_clears_settled_at():

    rental = _rental("CANCELLED")
    moment = datetime(2026, 3, 1, tzinfo=UTC)

    changed = rental.apply_figures(rental.figures_for(Decimal("0"), Decimal("0")), now=moment)
    assert rental.settlement_status == "SETTLED"
    assert rental.settled_at == moment
    assert set(changed) == {"settlement_status", "settled_at"}

    # staying SETTLED keeps the first moment
    assert rental.apply_figures(rental.figures_for(Decimal("0"), Decimal("0")), now=moment + timedelta(days=1)) == []
    assert rental.settled_at == moment

    # a late payment makes it owe a refund: no longer SETTLED
    changed = rental.apply_figures(rental.figures_for(Decimal("50"), Decimal("0")))
    assert rental.settlement_status == "PARTIAL"
    assert rental.settled_at is None
    assert set(changed) == {"amount_paid", "settlement_status", "settled_at"}
