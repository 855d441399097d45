"""update_expired_rentals (SPEC §9): status moves by time only, in bulk, cars included."""

from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import translation

from accounts.models import Notification, Payment
from accounts.tests.factories import PaymentFactory
from rentals.models import Rental, RentalEvent
from rentals.tests.factories import RentalFactory, paid
from vehicles.models import Vehicle

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def _frozen_clock_in_english(time_machine):
    time_machine.move_to(NOW, tick=False)
    with translation.override("en"):
        yield


def _rental(status, start, days=3, pay=True):
    rental = RentalFactory(status=status, start_time=start, end_time=start + days * DAY)
    return paid(rental) if pay else rental


def _run(*args) -> str:
    out = StringIO()
    call_command("update_expired_rentals", *args, stdout=out)
    return out.getvalue()


def test_moves_statuses_by_time_with_cars_audit_and_notice():
    # given
    started = _rental(Rental.Status.PENDING, NOW - DAY)
    never_picked_up = _rental(Rental.Status.PENDING, NOW - 5 * DAY)
    late = _rental(Rental.Status.ONGOING, NOW - 4 * DAY)
    future = _rental(Rental.Status.PENDING, NOW + DAY)
    still_out = _rental(Rental.Status.ONGOING, NOW - DAY)
    completed = _rental(Rental.Status.COMPLETED, NOW - 10 * DAY)
    unpaid = _rental(Rental.Status.PENDING, NOW - DAY, pay=False)

    # when
    output = _run()

    # then
    expected = {
        started: "ONGOING",
        never_picked_up: "OVERDUE",
        late: "OVERDUE",
        future: "PENDING",
        still_out: "ONGOING",
        completed: "COMPLETED",
        unpaid: "CANCELLED",
    }
    for rental, status in expected.items():
        rental.refresh_from_db()
        assert rental.status == status, rental
    for rental in (started, never_picked_up, late):
        assert rental.vehicle.status == Vehicle.Status.RENTED
        assert (
            RentalEvent.objects.filter(rental=rental, event="status_by_time", to_status=expected[rental]).count() == 1
        )
    assert Vehicle.objects.get(pk=future.vehicle_id).status == Vehicle.Status.AVAILABLE
    assert Vehicle.objects.get(pk=completed.vehicle_id).status == Vehicle.Status.AVAILABLE
    assert set(
        Notification.objects.filter(notification_type=Notification.Type.RENTAL_OVERDUE).values_list(
            "rental_id", flat=True
        )
    ) == {never_picked_up.pk, late.pk}
    assert Vehicle.objects.get(pk=unpaid.vehicle_id).status == Vehicle.Status.AVAILABLE
    assert RentalEvent.objects.get(rental=unpaid, event="lapsed").to_status == "CANCELLED"
    assert "Unpaid bookings released: 1" in output
    assert "PENDING → ONGOING: 1" in output
    assert "PENDING/ONGOING → OVERDUE: 2" in output


def test_touches_no_money():
    late = _rental(Rental.Status.ONGOING, NOW - 4 * DAY)
    done = _rental(Rental.Status.COMPLETED, NOW - 10 * DAY)
    PaymentFactory(rental=done, amount=Decimal("2900.00"))  # deposit owed back, figures stale
    before = list(Rental.objects.filter(pk=done.pk).values())

    _run()

    assert list(Rental.objects.filter(pk=done.pk).values()) == before
    assert not Payment.objects.filter(transaction_type=Payment.TransactionType.REFUND).exists()
    late.refresh_from_db()
    assert late.status == Rental.Status.OVERDUE


def test_dry_run_counts_and_writes_nothing():
    _rental(Rental.Status.PENDING, NOW - DAY)
    _rental(Rental.Status.ONGOING, NOW - 4 * DAY)
    before = list(Rental.objects.order_by("pk").values())

    output = _run("--dry-run")

    assert "DRY RUN" in output
    assert "PENDING → ONGOING: 1" in output
    assert "PENDING/ONGOING → OVERDUE: 1" in output
    assert list(Rental.objects.order_by("pk").values()) == before
    assert not RentalEvent.objects.exists()


def test_second_run_moves_nothing():
    _rental(Rental.Status.PENDING, NOW - DAY)
    _rental(Rental.Status.ONGOING, NOW - 4 * DAY)
    _run()
    events = RentalEvent.objects.count()

    output = _run()

    assert "PENDING → ONGOING: 0" in output
    assert "PENDING/ONGOING → OVERDUE: 0" in output
    assert RentalEvent.objects.count() == events


def test_works_in_bulk_batches(django_assert_max_num_queries):
    for _ in range(12):
        _rental(Rental.Status.ONGOING, NOW - 4 * DAY)

    # unpaid bookings to release: one empty candidates query; per batch of 5:
    # savepoint, candidates, lock cars, lock rentals, update rentals, update
    # cars, insert events, insert notices, release — three batches, then one
    # empty candidates query for each of the two moves; on PostgreSQL also
    # taking and releasing the run's advisory lock
    lock = 2 if connection.vendor == "postgresql" else 0
    with django_assert_max_num_queries(1 + 3 * 9 + 2 * 3 + lock):
        output = _run("--batch-size", "5")

    assert "PENDING/ONGOING → OVERDUE: 12" in output
    assert Rental.objects.filter(status=Rental.Status.OVERDUE).count() == 12


def test_verbosity_zero_is_silent():
    _rental(Rental.Status.PENDING, NOW - DAY)

    assert _run("--verbosity", "0") == ""
    assert Rental.objects.get().status == Rental.Status.ONGOING
