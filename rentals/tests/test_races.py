"""Concurrent requests against the locking services, on PostgreSQL row locks
(SPEC §5: "also under concurrent requests"; a refund is never written twice).

Each test starts its threads at one barrier so the calls really overlap, and
every thread closes its own database connection.
"""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection
from django.utils import timezone, translation

from accounts.models import Payment
from accounts.services import record_counter_payment
from accounts.tests.assertions import assert_ledger_consistent
from accounts.tests.factories import PaymentFactory
from rentals.exceptions import BookingConflict, InvalidTransition
from rentals.models import Rental
from rentals.services import cancel_rental, create_rental, pickup_rental, process_return
from vehicles.models import Vehicle

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_at_once(calls):
    """Run each zero-argument callable in its own thread, all released together.

    Returns one ("ok", value) or ("error", exception) per call, in call order.
    """
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def worker(index, call):
        close_old_connections()
        try:
            barrier.wait(timeout=10)
            # the active language is per thread: read messages in English
            with translation.override("en"):
                results[index] = ("ok", call())
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            results[index] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    return results


def _split(results):
    oks = [value for kind, value in results if kind == "ok"]
    errors = [value for kind, value in results if kind == "error"]
    return oks, errors


def _start():
    return timezone.now().replace(microsecond=0) + timedelta(days=1)


def _paid_rental(customer, vehicle, amount="2900.00", start=None, return_location=None) -> Rental:
    start = start or _start()
    rental = create_rental(
        customer=customer,
        vehicle=vehicle,
        start_time=start,
        end_time=start + timedelta(days=3),
        pickup_location=vehicle.location,
        return_location=return_location,
    )
    PaymentFactory(rental=rental, amount=Decimal(amount))
    rental.refresh_financials()
    return rental


def test_eight_overlapping_bookings_of_one_car_make_one_rental(vehicle, customer):
    from customers.tests.factories import CustomerFactory

    customers = [customer] + [CustomerFactory() for _ in range(7)]
    start = _start()

    def book(i):
        # every period overlaps every other one
        return lambda: create_rental(
            customer=customers[i],
            vehicle=Vehicle.objects.get(pk=vehicle.pk),
            start_time=start + timedelta(hours=i),
            end_time=start + timedelta(days=2, hours=i),
            pickup_location=vehicle.location,
        )

    results = run_at_once([book(i) for i in range(8)])

    oks, errors = _split(results)
    assert len(oks) == 1, results
    assert len(errors) == 7
    for error in errors:
        assert isinstance(error, BookingConflict), repr(error)
        assert error.messages[0].startswith("This car is already booked from ")
    assert Rental.objects.filter(vehicle=vehicle).count() == 1
    assert Rental.objects.get().pk == oks[0].pk


def test_six_concurrent_cancels_write_one_refund(customer, vehicle):
    # two days ahead: inside the free cancellation window (SPEC §19)
    rental = _paid_rental(customer, vehicle, start=_start() + timedelta(days=1))

    results = run_at_once(
        [
            lambda: cancel_rental(
                rental=Rental.objects.get(pk=rental.pk), reason="Plans changed", by_user=customer.user
            )
            for _ in range(6)
        ]
    )

    oks, errors = _split(results)
    assert len(oks) == 1, results
    assert oks[0].amount == Decimal("2900.00")
    assert len(errors) == 5
    assert all(isinstance(error, InvalidTransition) for error in errors), errors
    refunds = Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND)
    assert refunds.count() == 1
    rental.refresh_from_db()
    assert rental.status == Rental.Status.CANCELLED
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


def test_a_double_cancel_after_the_free_window_charges_the_fee_once(customer, vehicle, staff_user):
    # starts in 12 hours: the policy's fee is one day's rent, ¥300 (SPEC §19)
    rental = _paid_rental(customer, vehicle, start=timezone.now().replace(microsecond=0) + timedelta(hours=12))

    results = run_at_once(
        [
            lambda user=user: cancel_rental(
                rental=Rental.objects.get(pk=rental.pk), reason="Plans changed", by_user=user
            )
            for user in (customer.user, customer.user, staff_user, staff_user)
        ]
    )

    oks, errors = _split(results)
    assert len(oks) == 1 and len(errors) == 3, results
    assert all(isinstance(error, InvalidTransition) for error in errors), errors
    rental.refresh_from_db()
    assert rental.status == Rental.Status.CANCELLED
    assert rental.cancellation_fee == Decimal("300.00")
    refunds = Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND)
    assert [refund.amount for refund in refunds] == [Decimal("2600.00")]
    assert rental.money_figures().net_paid == Decimal("300.00")
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


def test_a_return_racing_a_cancel_only_one_wins(customer, vehicle, staff_user, other_location):
    # starts within the hand-over window (EARLY_PICKUP_MINUTES)
    rental = _paid_rental(customer, vehicle, start=timezone.now().replace(microsecond=0) + timedelta(minutes=30))
    pickup_rental(rental=rental, by_user=staff_user)
    returned_at = timezone.now()

    results = run_at_once(
        [
            lambda: process_return(
                rental=Rental.objects.get(pk=rental.pk),
                returned_at=returned_at,
                location=other_location,
                by_user=staff_user,
            ),
            lambda: cancel_rental(
                rental=Rental.objects.get(pk=rental.pk),
                reason="No-show",
                by_user=staff_user,
                cancellation_fee=Decimal("300"),
            ),
        ]
    )

    oks, errors = _split(results)
    assert len(oks) == 1 and len(errors) == 1, results
    assert isinstance(errors[0], InvalidTransition), repr(errors[0])
    rental.refresh_from_db()
    refunds = list(
        Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND).values_list(
            "amount", flat=True
        )
    )
    if results[0][0] == "ok":  # the return won
        assert rental.status == Rental.Status.COMPLETED
        # back on its first day of three (SPEC §19 early return): a day's rent ¥300 +
        # 20 % of the two unused days' ¥600 + the ¥200 one-way fee are kept of ¥2,900
        assert refunds == [Decimal("2280.00")]
    else:
        assert rental.status == Rental.Status.CANCELLED
        assert refunds == [Decimal("2600.00")]
    vehicle.refresh_from_db()
    assert vehicle.status == Vehicle.Status.AVAILABLE
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


def test_concurrent_refund_deposit_calls_refund_once(customer, vehicle):
    rental = _paid_rental(customer, vehicle)
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.COMPLETED, actual_return_time=timezone.now())

    results = run_at_once([lambda: Rental.objects.get(pk=rental.pk).refund_deposit() for _ in range(6)])

    oks, errors = _split(results)
    assert errors == []
    assert [r.amount for r in oks if r is not None] == [Decimal("2000.00")]
    assert Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND).count() == 1
    assert_ledger_consistent(rental)


def test_concurrent_counter_payments_never_overpay(customer, vehicle, staff_user):
    start = _start()
    rental = create_rental(
        customer=customer,
        vehicle=vehicle,
        start_time=start,
        end_time=start + timedelta(days=3),
        pickup_location=vehicle.location,
    )

    results = run_at_once(
        [
            lambda: record_counter_payment(
                rental=Rental.objects.get(pk=rental.pk), amount=Decimal("2000"), method="CASH", by_user=staff_user
            )
            for _ in range(4)
        ]
    )

    oks, errors = _split(results)
    assert len(oks) == 1, results
    assert all(isinstance(error, ValidationError) for error in errors), errors
    rental.refresh_from_db()
    assert rental.amount_paid == Decimal("2000.00")
    assert_ledger_consistent(rental)


def test_two_clerks_handing_over_a_re_priced_order_refund_the_dropped_fee_once(
    customer, vehicle, staff_user, other_location
):
    # booked X → Y and paid in full; the car has meanwhile come back to Y, so the
    # hand-over drops the one-way fee and refunds it
    start = timezone.now().replace(microsecond=0) + timedelta(minutes=30)
    rental = _paid_rental(customer, vehicle, "3100.00", start=start, return_location=other_location)
    assert rental.order_total == Decimal("3100.00")
    Vehicle.objects.filter(pk=vehicle.pk).update(location=other_location)

    results = run_at_once(
        [lambda: pickup_rental(rental=Rental.objects.get(pk=rental.pk), by_user=staff_user) for _ in range(4)]
    )

    oks, errors = _split(results)
    assert len(oks) == 1 and len(errors) == 3, results
    assert all(isinstance(error, InvalidTransition) for error in errors), errors
    refunds = Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND)
    assert list(refunds.values_list("amount", flat=True)) == [Decimal("200.00")]
    rental.refresh_from_db()
    assert (rental.status, rental.pickup_location_id, rental.cross_location_fee) == (
        Rental.Status.ONGOING,
        other_location.pk,
        Decimal("0.00"),
    )
    assert_ledger_consistent(rental)


def test_booking_racing_an_overdue_refresh_never_puts_two_rentals_on_one_car(customer, vehicle, staff_user):
    # A is on the road and past its end; concurrent bookings of the car from now on
    # are all refused, whether or not A's status has been refreshed yet
    start = timezone.now().replace(microsecond=0) + timedelta(minutes=30)
    a = _paid_rental(customer, vehicle, start=start)
    pickup_rental(rental=a, by_user=staff_user)
    Rental.objects.filter(pk=a.pk).update(
        end_time=timezone.now() - timedelta(hours=23), start_time=timezone.now() - timedelta(days=3)
    )
    begin = timezone.now() + timedelta(hours=1)

    results = run_at_once(
        [
            lambda: create_rental(
                customer=customer,
                vehicle=Vehicle.objects.get(pk=vehicle.pk),
                start_time=begin,
                end_time=begin + timedelta(days=1),
                pickup_location=vehicle.location,
            )
            for _ in range(3)
        ]
    )

    oks, errors = _split(results)
    assert oks == [] and all(isinstance(error, BookingConflict) for error in errors), results
    assert Rental.objects.filter(vehicle=vehicle).count() == 1
