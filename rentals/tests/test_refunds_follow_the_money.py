"""Refunds follow the money (SPEC §16, §11): each refund row gives back one
PAID charge, newest first, at most what is left of it, by that charge's method
to its payer; cash goes back at the counter."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from accounts.models import Notification, Payment
from accounts.providers import sandbox
from accounts.selectors import charges_left, refund_method, split_refund
from accounts.services import (
    expire_stale_payments,
    handle_callback,
    record_counter_payment,
    record_manual_refund,
    start_payment,
)
from accounts.tests.assertions import assert_ledger_consistent
from accounts.tests.factories import PaymentFactory
from accounts.tests.payment_support import deliver, success_payload
from rentals.models import CancellationPolicy, Rental
from rentals.ops import update_historical_orders
from rentals.services import cancel_rental
from rentals.tests.clock import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _free_cancellation_until_half_a_day_before():
    """These refunds come from cancels made a little after the booking, inside
    the free window of this policy version: the whole payment comes back."""
    CancellationPolicy.objects.create(
        version=2, effective_from=datetime(2020, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")), free_until_hours=12
    )


@pytest.fixture
def rental(booked_rental):
    return booked_rental


def _refunds(rental):
    return list(
        Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND)
        .select_related("refund_of")
        .order_by("id")
    )


def test_a_second_provider_is_refunded_after_the_first_got_its_late_success_back(
    rental, customer, client, frozen_clock, settings
):
    """The finding: an Alipay charge expires, the customer pays by WeChat,
    Alipay's late success is refunded to Alipay; the cancel then went to
    Alipay again (twice what came in there) and WeChat was never reversed."""
    settings.PAYMENT_TTL_MINUTES = 10
    alipay = start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    frozen_clock.move_to(NOW + timedelta(minutes=11), tick=False)
    assert expire_stale_payments() == [alipay.transaction_id]
    wechat = start_payment(rental=rental, method=Payment.Method.WECHAT, user=customer.user)
    assert deliver(client, success_payload(wechat, event_id="wx-1")).status_code == 200
    assert deliver(client, success_payload(alipay, event_id="ali-late")).status_code == 200
    [late_refund] = _refunds(rental)
    assert (late_refund.payment_method, late_refund.amount, late_refund.refund_of_id) == (
        "ALIPAY",
        Decimal("2900.00"),
        alipay.pk,
    )

    client.force_login(customer.user)
    response = client.post(reverse("rentals:cancel", args=[rental.pk]), {"reason": "Plans changed"})

    assert response.status_code == 302
    late, cancel = _refunds(rental)
    assert (cancel.payment_method, cancel.amount, cancel.refund_of_id) == ("WECHAT", Decimal("2900.00"), wechat.pk)
    rental.refresh_from_db()
    assert rental.status == Rental.Status.CANCELLED
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


def test_a_refund_larger_than_one_charge_is_split_per_charge(rental, customer, staff_user):
    # two online charges (money taken at the counter waits for staff, SPEC §17)
    PaymentFactory(rental=rental, amount=Decimal("100.00"), payment_method=Payment.Method.BANK, paid_at=NOW)
    PaymentFactory(
        rental=rental,
        amount=Decimal("2800.00"),
        payment_method=Payment.Method.WECHAT,
        paid_at=NOW + timedelta(minutes=1),
    )
    rental.refresh_financials()

    refund = cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)

    assert [(r.payment_method, r.amount, r.refund_of.payment_method) for r in _refunds(rental)] == [
        ("WECHAT", Decimal("2800.00"), "WECHAT"),
        ("BANK", Decimal("100.00"), "BANK"),
    ]
    assert refund.payment_method == "WECHAT"
    notice = Notification.objects.get(notification_type=Notification.Type.ORDER_CANCELLED)
    assert "¥2,900.00 will be refunded." in notice.message_text
    assert_ledger_consistent(rental)


def test_a_customers_own_cancel_leaves_cash_for_the_counter(rental, customer, staff_user, client):
    """The finding: a cash payment was "refunded" online (CASH, REFUNDED) with
    nobody at the counter, and the notice said "back to your Cash"."""
    record_counter_payment(rental=rental, amount=Decimal("100"), method=Payment.Method.CASH, by_user=staff_user)
    PaymentFactory(
        rental=rental,
        amount=Decimal("2800.00"),
        payment_method=Payment.Method.WECHAT,
        paid_at=NOW + timedelta(minutes=1),
    )
    rental.refresh_financials()
    client.force_login(customer.user)

    response = client.post(
        reverse("rentals:cancel", args=[rental.pk]), {"reason": "Plans changed"}, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 302
    [wechat] = _refunds(rental)
    assert (wechat.payment_method, wechat.amount) == ("WECHAT", Decimal("2800.00"))
    rental.refresh_from_db()
    assert rental.requires_manual_refund is True
    assert rental.money_figures().refund_due == Decimal("100.00")
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL
    notice = Notification.objects.get(notification_type=Notification.Type.ORDER_CANCELLED)
    assert "¥2,800.00 will be refunded." in notice.message_text
    assert f"¥100.00 will be handed back to you at the {rental.pickup_location.name} counter." in notice.message_text
    assert_ledger_consistent(rental)

    # the clerk hands the cash back: the order is square
    record_manual_refund(rental=rental, amount=Decimal("100"), reason="Cash at the counter", by_user=staff_user)
    rental.refresh_from_db()
    assert rental.requires_manual_refund is False
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert _refunds(rental)[-1].payment_method == "CASH"
    assert_ledger_consistent(rental)


def test_staff_at_the_counter_hand_cash_back_at_once(rental, staff_user):
    record_counter_payment(rental=rental, amount=Decimal("2900"), method=Payment.Method.CASH, by_user=staff_user)

    refund = cancel_rental(rental=rental, reason="Customer at the desk", by_user=staff_user)

    assert (refund.payment_method, refund.amount, refund.status, refund.provider) == (
        "CASH",
        Decimal("2900.00"),
        "REFUNDED",
        "internal",
    )
    rental.refresh_from_db()
    assert rental.requires_manual_refund is False
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED


def test_the_nightly_command_splits_the_same_way_and_leaves_cash(frozen_clock, customer, vehicle, staff_user):
    rental = Rental.objects.create(
        customer=customer,
        vehicle=vehicle,
        pickup_location=vehicle.location,
        return_location=vehicle.location,
        start_time=NOW - timedelta(days=5),
        end_time=NOW - timedelta(days=2),
        status=Rental.Status.COMPLETED,
    )
    PaymentFactory(
        rental=rental, amount=Decimal("500.00"), payment_method=Payment.Method.CASH, paid_at=NOW - timedelta(days=6)
    )
    PaymentFactory(
        rental=rental,
        amount=Decimal("1000.00"),
        payment_method=Payment.Method.ALIPAY,
        paid_at=NOW - timedelta(days=5, hours=2),
    )
    PaymentFactory(
        rental=rental,
        amount=Decimal("1400.00"),
        payment_method=Payment.Method.WECHAT,
        paid_at=NOW - timedelta(days=5, hours=1),
    )
    rental.refresh_financials()

    summary = update_historical_orders(rental_id=rental.pk)

    # the deposit (2,000) goes back newest charge first: WeChat 1,400, Alipay 600
    assert [(r.payment_method, r.amount) for r in _refunds(rental)] == [
        ("WECHAT", Decimal("1400.00")),
        ("ALIPAY", Decimal("600.00")),
    ]
    assert [r.amount for r in summary.refunds] == [Decimal("1400.00"), Decimal("600.00")]
    assert summary.manual == []
    assert_ledger_consistent(rental)


def test_the_nightly_command_flags_cash_for_the_counter(frozen_clock, customer, vehicle):
    rental = Rental.objects.create(
        customer=customer,
        vehicle=vehicle,
        pickup_location=vehicle.location,
        return_location=vehicle.location,
        start_time=NOW - timedelta(days=5),
        end_time=NOW - timedelta(days=2),
        status=Rental.Status.COMPLETED,
    )
    PaymentFactory(rental=rental, amount=Decimal("2900.00"), payment_method=Payment.Method.CASH)
    rental.refresh_financials()

    summary = update_historical_orders(rental_id=rental.pk)

    assert _refunds(rental) == []
    assert [(m.rental_id, m.amount) for m in summary.manual] == [(rental.pk, Decimal("2000.00"))]
    rental.refresh_from_db()
    assert rental.requires_manual_refund is True
    assert_ledger_consistent(rental)


# --- the online parts go through the provider (SPEC §11) ---------------------------------


def test_the_online_part_waits_for_the_provider_while_cash_waits_for_the_counter(
    rental, customer, staff_user, settings
):
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "hold"
    record_counter_payment(rental=rental, amount=Decimal("100"), method=Payment.Method.CASH, by_user=staff_user)
    wechat = PaymentFactory(
        rental=rental,
        amount=Decimal("2800.00"),
        payment_method=Payment.Method.WECHAT,
        paid_at=NOW + timedelta(minutes=1),
    )
    rental.refresh_financials()

    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)

    [online] = _refunds(rental)
    # created PENDING, asked of the sandbox after commit with its REF id as the key: PROCESSING
    assert (online.provider, online.status, online.refund_of_id) == ("sandbox", "PROCESSING", wechat.pk)
    asked = sandbox.book_entry("refund", online.transaction_id)
    assert (asked["charge"], asked["amount"], asked["requests"]) == (wechat.transaction_id, "2800.00", 1)
    rental.refresh_from_db()
    assert (rental.amount_refund_in_flight, rental.amount_refunded) == (Decimal("2800.00"), Decimal("0.00"))
    assert rental.money_figures().refund_due == Decimal("100.00")  # the cash, for the counter
    assert rental.requires_manual_refund is True
    assert_ledger_consistent(rental)

    headers, body = sandbox.build_callback(
        transaction_id=online.transaction_id, status="refunded", amount=online.amount, event_id="evt-wx-refund"
    )
    assert handle_callback(provider="sandbox", headers=headers, body=body)[0] == 200
    record_manual_refund(rental=rental, amount=Decimal("100"), reason="Cash at the counter", by_user=staff_user)

    rental.refresh_from_db()
    assert [r.status for r in _refunds(rental)] == ["REFUNDED", "REFUNDED"]
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


def test_the_nightly_command_asks_the_provider_and_never_resends_a_refused_refund(
    frozen_clock, customer, vehicle, settings
):
    rental = Rental.objects.create(
        customer=customer,
        vehicle=vehicle,
        pickup_location=vehicle.location,
        return_location=vehicle.location,
        start_time=NOW - timedelta(days=5),
        end_time=NOW - timedelta(days=2),
        status=Rental.Status.COMPLETED,
    )
    PaymentFactory(rental=rental, amount=Decimal("2900.00"), payment_method=Payment.Method.ALIPAY)
    rental.refresh_financials()
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "refund_failed"

    summary = update_historical_orders(rental_id=rental.pk)

    [refund] = _refunds(rental)
    assert [r.amount for r in summary.refunds] == [Decimal("2000.00")]
    assert (refund.status, refund.failure_reason) == ("FAILED", sandbox.REFUND_REFUSAL)
    assert sandbox.book_entry("refund", refund.transaction_id)["requests"] == 1
    rental.refresh_from_db()
    assert rental.money_figures().refund_due == Decimal("2000.00")
    assert_ledger_consistent(rental)

    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "refunded"
    again = update_historical_orders(rental_id=rental.pk)

    assert again.refunds == [] and again.failed_refunds == [rental.pk]
    assert len(_refunds(rental)) == 1
    assert_ledger_consistent(rental)


# --- the pure rule --------------------------------------------------------------------


def _charge(pk, method, amount, hours_ago, user_id=1):
    return (pk, method, user_id, Decimal(amount), NOW - timedelta(hours=hours_ago))


def test_charges_left_take_linked_refunds_from_their_charge_and_others_by_method():
    charges = [_charge(1, "ALIPAY", "1000", 3), _charge(2, "WECHAT", "500", 2), _charge(3, "ALIPAY", "300", 1)]
    refunds = [
        (1, "ALIPAY", Decimal("400")),  # tied to charge 1
        (None, "WECHAT", Decimal("200")),  # an older row: from the newest WeChat charge
        (None, "CASH", Decimal("350")),  # no cash charge: from the newest of any (300 of 3, 50 of 2)
    ]

    left = charges_left(charges=charges, refunds=refunds)

    assert [(c.charge_id, c.left) for c in left] == [(2, Decimal("250.00")), (1, Decimal("600.00"))]


def test_split_refund_goes_newest_first_and_never_past_a_charge():
    left = charges_left(charges=[_charge(1, "CASH", "100", 2), _charge(2, "WECHAT", "2800", 1)], refunds=[])

    parts = split_refund(charges=left, amount=Decimal("2900"))

    assert [(p.charge_id, p.method, p.amount) for p in parts] == [
        (2, "WECHAT", Decimal("2800")),
        (1, "CASH", Decimal("100")),
    ]
    assert [p.amount for p in split_refund(charges=left, amount=Decimal("50"), first_charge_id=1)] == [Decimal("50")]
    assert split_refund(charges=left, amount=Decimal("0")) == []


def test_refund_method_is_the_newest_charge_with_money_left(rental):
    PaymentFactory(
        rental=rental, amount=Decimal("100.00"), payment_method=Payment.Method.ALIPAY, paid_at=NOW - timedelta(hours=1)
    )
    wechat = PaymentFactory(rental=rental, amount=Decimal("200.00"), payment_method=Payment.Method.WECHAT, paid_at=NOW)
    rental.refresh_financials()
    assert refund_method(rental=rental) == "WECHAT"

    PaymentFactory(
        rental=rental,
        amount=Decimal("200.00"),
        transaction_type="REFUND",
        status="REFUNDED",
        transaction_id="REFTESTWX",
        refund_of=wechat,
        payment_method="WECHAT",
    )

    assert refund_method(rental=rental) == "ALIPAY"
