"""accounts.services.start_payment (SPEC §5 Paying, §8)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts import services
from accounts.exceptions import AmountChanged, NotPayable, PaymentError
from accounts.models import Payment, PaymentEvent
from customers.tests.factories import CustomerFactory, StaffUserFactory
from rentals.models import Rental
from rentals.services import cancel_rental
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rental(customer, vehicle):
    return RentalFactory(customer=customer, vehicle=vehicle)


def _start(rental, **kwargs):
    kwargs.setdefault("method", Payment.Method.ALIPAY)
    kwargs.setdefault("user", rental.customer.user)
    return services.start_payment(rental=rental, **kwargs)


def test_creates_one_pending_charge_for_the_remaining_amount(rental, assert_ledger):
    before = timezone.now()

    charge = _start(rental, expected_amount=Decimal("2900.00"))

    assert charge.status == Payment.Status.PENDING
    assert charge.transaction_type == Payment.TransactionType.CHARGE
    assert charge.amount == Decimal("2900.00")
    assert charge.user == rental.customer.user
    assert charge.provider == "sandbox"
    assert charge.transaction_id.startswith("PAY")
    assert charge.redirect_url == f"/payments/sandbox/{charge.transaction_id}/"
    assert before + timedelta(minutes=30) <= charge.expires_at <= timezone.now() + timedelta(minutes=30)
    created = PaymentEvent.objects.get(payment=charge, event="created")
    assert created.to_status == "PENDING" and created.payload["amount"] == "2900.00"
    # Nothing is paid until the provider says so.
    assert assert_ledger(rental)["paid"] == Decimal("0.00")


@override_settings(PAYMENT_TTL_MINUTES=5)
def test_the_payment_window_comes_from_settings(rental):
    charge = _start(rental)
    assert charge.expires_at <= timezone.now() + timedelta(minutes=5)


def test_a_double_submit_reuses_the_open_charge(rental, assert_ledger):
    first = _start(rental, expected_amount=Decimal("2900.00"))
    second = _start(rental, expected_amount=Decimal("2900.00"))

    assert second.pk == first.pk
    assert Payment.objects.filter(rental=rental).count() == 1
    assert PaymentEvent.objects.filter(event="created").count() == 1
    assert_ledger(rental)


def test_changing_the_method_replaces_the_open_charge(rental, assert_ledger):
    first = _start(rental, method=Payment.Method.ALIPAY)
    second = _start(rental, method=Payment.Method.WECHAT)

    first.refresh_from_db()
    assert second.pk != first.pk
    assert first.status == Payment.Status.CANCELLED
    assert second.payment_method == Payment.Method.WECHAT
    assert Payment.objects.filter(rental=rental, status__in=Payment.OPEN_STATUSES).count() == 1
    assert_ledger(rental)


def test_an_open_charge_whose_amount_is_stale_is_cancelled_and_replaced(rental, staff_user, assert_ledger):
    # given: an open online charge, then a counter payment of part of the order
    first = _start(rental)
    services.record_counter_payment(rental=rental, amount=Decimal("900.00"), method="CASH", by_user=staff_user)
    first.refresh_from_db()
    assert first.status == Payment.Status.CANCELLED  # the counter closed it

    # when
    second = _start(rental, expected_amount=Decimal("2000.00"))

    # then
    assert second.amount == Decimal("2000.00")
    assert second.pk != first.pk
    assert_ledger(rental)


def test_a_stale_open_charge_left_behind_is_replaced_not_reused(rental, staff_user, assert_ledger):
    from accounts.tests.factories import PendingChargeFactory

    # An open charge whose amount no longer equals remaining, however it got there.
    stale = PendingChargeFactory(rental=rental, amount=Decimal("1000.00"), provider="sandbox")

    fresh = _start(rental)

    stale.refresh_from_db()
    assert stale.status == Payment.Status.CANCELLED
    assert fresh.amount == Decimal("2900.00")
    assert_ledger(rental)


def test_an_open_charge_past_its_window_is_expired_and_replaced(rental, time_machine, assert_ledger):
    first = _start(rental)
    time_machine.move_to(timezone.now() + timedelta(minutes=31))

    second = _start(rental)

    first.refresh_from_db()
    assert first.status == Payment.Status.EXPIRED
    assert second.pk != first.pk
    assert_ledger(rental)


def test_a_changed_amount_charges_nothing_and_tells_the_user(rental, assert_ledger):
    with pytest.raises(AmountChanged) as exc:
        _start(rental, expected_amount=Decimal("2800.00"))

    assert "¥2,900.00" in " ".join(exc.value.messages)
    assert not Payment.objects.exists()
    assert not PaymentEvent.objects.exists()
    assert_ledger(rental)


def test_the_amount_is_the_servers_never_the_callers(rental):
    charge = _start(rental, expected_amount="2900.00")
    assert charge.amount == Decimal("2900.00")
    with pytest.raises(AmountChanged):
        _start(rental, expected_amount="1.00")


def test_a_partly_paid_order_pays_the_rest(rental, staff_user, assert_ledger):
    services.record_counter_payment(rental=rental, amount=Decimal("1000.00"), method="CASH", by_user=staff_user)
    charge = _start(rental, expected_amount=Decimal("1900.00"))
    assert charge.amount == Decimal("1900.00")
    assert_ledger(rental)


def test_only_the_orders_own_customer_may_pay(rental):
    stranger = CustomerFactory().user
    for user in (stranger, StaffUserFactory(), None):
        with pytest.raises(NotPayable):
            _start(rental, user=user)
    assert not Payment.objects.exists()


@pytest.mark.parametrize("method", ["CASH", "BITCOIN", ""])
def test_only_online_methods(rental, method):
    with pytest.raises(PaymentError):
        _start(rental, method=method)
    assert not Payment.objects.exists()


def test_a_cancelled_order_cannot_be_paid(rental, assert_ledger):
    cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)
    with pytest.raises(NotPayable):
        _start(rental)
    assert not Payment.objects.exists()
    assert_ledger(rental)


def test_an_order_that_owes_nothing_cannot_be_paid(rental, staff_user, assert_ledger):
    services.record_counter_payment(rental=rental, amount=Decimal("2900.00"), method="CASH", by_user=staff_user)
    with pytest.raises(NotPayable):
        _start(rental)
    with pytest.raises(AmountChanged):
        _start(rental, expected_amount=Decimal("2900.00"))
    assert Payment.objects.filter(status=Payment.Status.PENDING).count() == 0
    assert_ledger(rental)


@pytest.mark.parametrize("status", [Rental.Status.ONGOING, Rental.Status.OVERDUE, Rental.Status.COMPLETED])
def test_on_road_and_completed_orders_that_owe_money_can_be_paid(customer, vehicle, status, assert_ledger):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    Rental.objects.filter(pk=rental.pk).update(status=status)
    rental.refresh_from_db()
    expected = Decimal("900.00") if status == Rental.Status.COMPLETED else Decimal("2900.00")

    charge = _start(rental, expected_amount=expected)

    assert charge.amount == expected
    assert_ledger(rental)


def test_start_payment_query_budget(rental, django_assert_max_num_queries):
    # lock rental (+customer, car), ledger sums, lock open charges, savepoint +
    # insert charge, insert "created" event; reuse costs fewer.
    with django_assert_max_num_queries(10):
        _start(rental)
    with django_assert_max_num_queries(6):
        _start(rental)
