"""SPEC §19 cancellation policy: the tiers at every boundary for every member
level, fees only from money paid, staff bounds, the booking's own version,
and versions that bookings use staying fixed.

The car is ¥300 a day with a ¥2,000 deposit (VIP: none), booked for the three
days of ``rentals.tests.clock`` (START = 2026-03-02 09:00 Shanghai) two hours
before NOW, so free cancellation ends exactly at NOW = START − 24 h."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import translation

from accounts.models import Payment
from accounts.tests.assertions import assert_ledger_consistent
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from rentals import selectors
from rentals.exceptions import InvalidTransition, RentalError
from rentals.models import CancellationPolicy, Rental, RentalEvent
from rentals.policies import FIRST_EFFECTIVE_FROM, PolicyInUse
from rentals.services import cancel_rental
from rentals.tests.clock import NOW, START
from rentals.tests.factories import book, pay

pytestmark = pytest.mark.django_db

ONE_SECOND = timedelta(seconds=1)

# member level → (a day's rent after discount, order total: 3 days' rent + deposit)
LEVELS = {
    Customer.MemberLevel.REGULAR: (Decimal("300.00"), Decimal("2900.00")),
    Customer.MemberLevel.SILVER: (Decimal("285.00"), Decimal("2855.00")),
    Customer.MemberLevel.GOLD: (Decimal("270.00"), Decimal("2810.00")),
    Customer.MemberLevel.VIP: (Decimal("255.00"), Decimal("765.00")),
}


@pytest.fixture(autouse=True)
def _in_english(time_machine):
    time_machine.move_to(NOW - timedelta(hours=2), tick=False)
    with translation.override("en"):
        yield


def _paid_booking(vehicle, level=Customer.MemberLevel.REGULAR, amount=None):
    customer = CustomerFactory(member_level=level)
    rental = book(customer, vehicle)
    if amount != Decimal("0"):
        pay(rental, amount)
    return rental


def _refunded(rental) -> Decimal:
    rows = Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND)
    return sum((row.amount for row in rows), Decimal("0.00"))


def _new_version(**terms) -> CancellationPolicy:
    version = CancellationPolicy.objects.order_by("-version").first().version + 1
    return CancellationPolicy.objects.create(version=version, effective_from=NOW - timedelta(hours=3), **terms)


# --- the tier table --------------------------------------------------------------------


@pytest.mark.parametrize("level", list(LEVELS))
def test_a_customer_cancel_exactly_when_the_free_window_ends_is_free(vehicle, time_machine, level):
    day_rent, order_total = LEVELS[level]
    rental = _paid_booking(vehicle, level)
    assert rental.order_total == order_total
    time_machine.move_to(START - timedelta(hours=24), tick=False)

    terms = selectors.cancel_terms(rental=rental)
    assert (terms.tier, terms.fee, terms.late_fee, terms.free_until) == ("free", Decimal("0"), day_rent, NOW)
    cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)

    rental.refresh_from_db()
    assert rental.cancellation_fee == Decimal("0.00")
    assert _refunded(rental) == order_total
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


@pytest.mark.parametrize("level", list(LEVELS))
def test_one_second_later_a_customer_cancel_costs_one_days_rent_after_discount(vehicle, time_machine, level):
    day_rent, order_total = LEVELS[level]
    rental = _paid_booking(vehicle, level)
    time_machine.move_to(START - timedelta(hours=24) + ONE_SECOND, tick=False)

    assert selectors.cancel_terms(rental=rental).tier == "late"
    cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)

    rental.refresh_from_db()
    assert rental.cancellation_fee == day_rent
    assert _refunded(rental) == order_total - day_rent
    assert rental.money_figures().net_paid == day_rent
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


@pytest.mark.parametrize("level", list(LEVELS))
def test_at_the_start_staff_get_the_late_fee_and_cant_raise_it(vehicle, staff_user, time_machine, level):
    day_rent, order_total = LEVELS[level]
    rental = _paid_booking(vehicle, level)
    time_machine.move_to(START, tick=False)

    with pytest.raises(RentalError) as refused:
        cancel_rental(rental=rental, reason="x", by_user=staff_user, cancellation_fee=day_rent + Decimal("0.01"))
    assert refused.value.code == "fee_above_policy"
    assert refused.value.messages == [
        f"Under policy version 1 this cancellation costs at most ¥{day_rent:,.2f} now; staff may lower the fee "
        "but not raise it (except for a no-show)."
    ]
    cancel_rental(rental=rental, reason="Called the store", by_user=staff_user)

    rental.refresh_from_db()
    assert rental.cancellation_fee == day_rent
    assert _refunded(rental) == order_total - day_rent
    assert_ledger_consistent(rental)


@pytest.mark.parametrize("level", list(LEVELS))
def test_after_the_start_a_no_show_costs_the_no_show_fee(vehicle, staff_user, time_machine, level):
    day_rent, order_total = LEVELS[level]
    rental = _paid_booking(vehicle, level)
    time_machine.move_to(START + ONE_SECOND, tick=False)

    with pytest.raises(InvalidTransition):  # the customer can't cancel any more
        cancel_rental(rental=rental, reason="Too late", by_user=rental.customer.user)
    terms = selectors.cancel_terms(rental=rental)
    assert (terms.tier, terms.fee, terms.ceiling) == ("no_show", day_rent, day_rent)
    cancel_rental(rental=rental, reason="Never came", by_user=staff_user)

    rental.refresh_from_db()
    assert rental.status == Rental.Status.CANCELLED
    assert rental.cancellation_fee == day_rent
    assert _refunded(rental) == order_total - day_rent
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


@pytest.mark.parametrize("level", list(LEVELS))
def test_a_fee_of_more_days_than_booked_is_at_most_the_rental_fee(vehicle, staff_user, time_machine, level):
    _new_version(late_cancel_fee_days=5, no_show_fee_days=4)
    day_rent, order_total = LEVELS[level]
    rental = _paid_booking(vehicle, level)
    time_machine.move_to(START - timedelta(hours=1), tick=False)

    terms = selectors.cancel_terms(rental=rental)
    assert terms.late_fee == terms.no_show_fee == rental.total_amount == 3 * day_rent
    cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)

    rental.refresh_from_db()
    assert rental.cancellation_fee == 3 * day_rent
    assert _refunded(rental) == order_total - 3 * day_rent
    assert_ledger_consistent(rental)


# --- only from money paid; who cancels -----------------------------------------------


def test_an_unpaid_booking_cancels_free_after_the_window(vehicle, time_machine):
    rental = _paid_booking(vehicle, amount=Decimal("0"))
    time_machine.move_to(NOW - timedelta(hours=2) + timedelta(minutes=10), tick=False)
    Rental.objects.filter(pk=rental.pk).update(start_time=START - timedelta(hours=20))  # inside the last day
    rental.refresh_from_db()

    assert selectors.cancel_terms(rental=rental).tier == "late"
    cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)

    rental.refresh_from_db()
    assert rental.cancellation_fee == Decimal("0.00")
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


def test_a_partly_paid_booking_keeps_at_most_what_was_paid(vehicle, time_machine):
    rental = _paid_booking(vehicle, amount=Decimal("100.00"))
    time_machine.move_to(START - timedelta(hours=2), tick=False)

    cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)

    rental.refresh_from_db()
    assert rental.cancellation_fee == Decimal("100.00")
    assert _refunded(rental) == Decimal("0.00")
    assert rental.money_figures().remaining == Decimal("0.00")
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


def test_a_cancel_with_no_user_costs_nothing(vehicle, time_machine):
    rental = _paid_booking(vehicle)
    time_machine.move_to(START - timedelta(hours=2), tick=False)

    cancel_rental(rental=rental, reason="Ops script")

    rental.refresh_from_db()
    assert rental.cancellation_fee == Decimal("0.00")
    assert _refunded(rental) == Decimal("2900.00")


def test_staff_may_lower_the_fee_and_the_audit_row_keeps_the_policys(vehicle, staff_user, time_machine):
    rental = _paid_booking(vehicle)
    time_machine.move_to(START - timedelta(hours=2), tick=False)

    cancel_rental(rental=rental, reason="Flight cancelled", by_user=staff_user, cancellation_fee=Decimal("100"))

    rental.refresh_from_db()
    assert rental.cancellation_fee == Decimal("100.00")
    assert _refunded(rental) == Decimal("2800.00")
    assert RentalEvent.objects.get(rental=rental, event="cancelled").payload == {
        "reason": "Flight cancelled",
        "cancellation_fee": "100.00",
        "policy_fee": "300.00",
        "fee_lowered": True,
    }


def test_within_the_free_window_staff_cant_charge_a_fee(vehicle, staff_user):
    rental = _paid_booking(vehicle)

    with pytest.raises(RentalError) as refused:
        cancel_rental(rental=rental, reason="x", by_user=staff_user, cancellation_fee=Decimal("0.01"))

    assert refused.value.code == "fee_above_policy"
    assert Rental.objects.get(pk=rental.pk).status == Rental.Status.PENDING


def test_a_no_show_fee_of_more_days_lets_staff_charge_above_the_late_fee(vehicle, staff_user, time_machine):
    _new_version(no_show_fee_days=2)
    rental = _paid_booking(vehicle)
    time_machine.move_to(START - timedelta(hours=1), tick=False)
    with pytest.raises(RentalError, match="at most ¥300.00 now"):
        cancel_rental(rental=rental, reason="x", by_user=staff_user, cancellation_fee=Decimal("600"))

    time_machine.move_to(START + timedelta(hours=2), tick=False)
    with pytest.raises(RentalError, match="at most ¥600.00 now"):
        cancel_rental(rental=rental, reason="x", by_user=staff_user, cancellation_fee=Decimal("600.01"))
    cancel_rental(rental=rental, reason="Never came", by_user=staff_user, cancellation_fee=Decimal("600"))

    rental.refresh_from_db()
    assert rental.cancellation_fee == Decimal("600.00")
    assert _refunded(rental) == Decimal("2300.00")
    assert_ledger_consistent(rental)


# --- the booking keeps its version ---------------------------------------------------------


def test_a_policy_change_never_alters_an_existing_bookings_fee(customer, vehicle, time_machine):
    earlier = _paid_booking(vehicle)
    assert earlier.policy.version == 1
    stricter = _new_version(free_until_hours=72, late_cancel_fee_days=2)
    later_policy_not_yet = CancellationPolicy.objects.create(
        version=stricter.version + 1, effective_from=START, late_cancel_fee_days=3
    )
    later = book(customer, vehicle, START + timedelta(days=5), START + timedelta(days=8))
    pay(later)
    assert later.policy == stricter  # the latest in force at booking, not one starting later
    time_machine.move_to(START - timedelta(hours=2), tick=False)

    cancel_rental(rental=earlier, reason="Plans changed", by_user=earlier.customer.user)

    earlier.refresh_from_db()
    assert earlier.cancellation_fee == Decimal("300.00")  # version 1: one day, after 24 h
    later_terms = selectors.cancel_terms(rental=later, now=START + timedelta(days=5) - timedelta(hours=48))
    assert (later_terms.tier, later_terms.fee) == ("late", Decimal("600.00"))  # version 2: two days, after 72 h
    assert CancellationPolicy.objects.in_force(START + ONE_SECOND) == later_policy_not_yet


def test_with_no_version_in_the_table_version_1_with_the_defaults_is_created_on_first_use(customer, vehicle):
    CancellationPolicy.objects.all().delete()

    rental = book(customer, vehicle)

    policy = CancellationPolicy.objects.get()
    assert rental.policy == policy
    assert (policy.version, policy.effective_from) == (1, FIRST_EFFECTIVE_FROM)
    assert (
        policy.free_until_hours,
        policy.late_cancel_fee_days,
        policy.no_show_fee_days,
        policy.early_return_fee_percent,
    ) == (24, 1, 1, 20)


def test_the_migration_gives_version_1_with_the_defaults():
    policy = CancellationPolicy.objects.get(version=1)
    assert (policy.free_until_hours, policy.late_cancel_fee_days, policy.no_show_fee_days) == (24, 1, 1)
    assert policy.early_return_fee_percent == 20


def test_a_used_version_cant_be_changed_or_deleted(vehicle):
    rental = _paid_booking(vehicle)
    policy = CancellationPolicy.objects.get(pk=rental.policy_id)

    policy.free_until_hours = 1
    with pytest.raises(PolicyInUse) as refused:
        policy.save()
    assert refused.value.messages == [
        "Policy version 1 applies to bookings and can't be changed or deleted; add a new version."
    ]
    with pytest.raises(PolicyInUse):
        policy.delete()

    policy.refresh_from_db()
    assert policy.free_until_hours == 24


def test_an_unused_version_can_be_changed_and_deleted():
    unused = _new_version(free_until_hours=48)

    unused.free_until_hours = 36
    unused.save()
    assert CancellationPolicy.objects.get(pk=unused.pk).free_until_hours == 36
    unused.delete()
    assert not CancellationPolicy.objects.filter(pk=unused.pk).exists()
