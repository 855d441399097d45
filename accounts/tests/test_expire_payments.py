"""``expire_payments`` / accounts.services.expire_stale_payments (SPEC §6, §9)."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone, translation

from accounts import services
from accounts.models import Payment, PaymentEvent
from accounts.tests.payment_support import ledger_snapshot
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db


def _charge(rental):
    return services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=rental.customer.user)


def _run(**kwargs) -> str:
    out = StringIO()
    with translation.override("en"):
        call_command("expire_payments", stdout=out, **kwargs)
    return out.getvalue()


def test_expires_pending_charges_past_their_window_and_a_second_run_changes_nothing(
    customer, vehicle, time_machine, assert_ledger
):
    # given: one charge past its window, one opened later and still inside it
    old_rental = RentalFactory(customer=customer, vehicle=vehicle)
    old = _charge(old_rental)
    time_machine.move_to(timezone.now() + timedelta(minutes=20))
    young_rental = RentalFactory(
        customer=customer,
        vehicle=vehicle,
        start_time=old_rental.end_time + timedelta(days=1),
        end_time=old_rental.end_time + timedelta(days=2),
    )
    young = _charge(young_rental)
    time_machine.move_to(timezone.now() + timedelta(minutes=11))

    # when
    first = _run()
    after_first = ledger_snapshot()
    second = _run()

    # then
    old.refresh_from_db()
    young.refresh_from_db()
    assert old.status == Payment.Status.EXPIRED
    assert old.failure_reason
    assert young.status == Payment.Status.PENDING
    assert "Expired 1 charge(s)." in first and old.transaction_id in first
    assert "No charges to expire." in second
    assert ledger_snapshot() == after_first
    assert PaymentEvent.objects.filter(payment=old, event="charge_expired", to_status="EXPIRED").count() == 1
    assert_ledger(old_rental)
    assert_ledger(young_rental)


def test_a_charge_within_its_ttl_is_untouched(customer, vehicle, time_machine):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    charge = _charge(rental)
    time_machine.move_to(timezone.now() + timedelta(minutes=29))
    before = ledger_snapshot()

    assert services.expire_stale_payments() == []

    assert ledger_snapshot() == before
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING


def test_paid_failed_and_closed_charges_are_never_expired(customer, vehicle, time_machine, assert_ledger):
    from accounts.tests.factories import PaymentFactory

    rental = RentalFactory(customer=customer, vehicle=vehicle)
    paid = PaymentFactory(rental=rental, amount=Decimal("100.00"), expires_at=timezone.now())
    failed = PaymentFactory(rental=rental, status=Payment.Status.FAILED, paid_at=None, expires_at=timezone.now())
    rental.refresh_financials()
    time_machine.move_to(timezone.now() + timedelta(hours=2))

    assert services.expire_stale_payments() == []

    paid.refresh_from_db()
    failed.refresh_from_db()
    assert (paid.status, failed.status) == (Payment.Status.PAID, Payment.Status.FAILED)
    assert_ledger(rental)


def test_after_expiry_the_order_is_payable_again(customer, vehicle, time_machine, assert_ledger):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    old = _charge(rental)
    time_machine.move_to(timezone.now() + timedelta(minutes=31))
    services.expire_stale_payments()

    new = _charge(rental)

    assert new.pk != old.pk and new.status == Payment.Status.PENDING
    assert_ledger(rental)


def test_quiet_with_verbosity_zero_and_dry_run_writes_nothing(customer, vehicle, time_machine):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    charge = _charge(rental)
    time_machine.move_to(timezone.now() + timedelta(minutes=31))

    dry = _run(dry_run=True)
    assert "1 charge(s) would expire" in dry
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING

    assert _run(verbosity=0) == ""
    charge.refresh_from_db()
    assert charge.status == Payment.Status.EXPIRED
