"""What a page previews is what the service then does: the cancel and return
previews (``rentals.selectors``) against the ledger rows the services write."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Payment
from rentals import selectors, services
from rentals.models import Rental
from rentals.services import cancel_rental, pickup_rental, process_return
from rentals.tests.admin_support import RETURN_CHECK
from rentals.tests.clock import END, START
from rentals.tests.factories import book, pay

pytestmark = pytest.mark.django_db


def _refund_rows(rental: Rental) -> list[tuple[Decimal, str, int | None]]:
    """(amount, method, receiver) of every refund the service wrote that gives money back."""
    return sorted(
        Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND)
        .exclude(status=Payment.Status.FAILED)
        .values_list("amount", "payment_method", "user_id")
    )


def _preview_rows(preview) -> list[tuple[Decimal, str, int | None]]:
    return sorted((p.amount, p.method, p.to.pk if p.to else None) for p in preview.parts if p.to is not None)


def _counter(preview) -> Decimal:
    return sum((p.amount for p in preview.parts if p.to is None), Decimal("0.00"))


# --- cancelling --------------------------------------------------------------------------


def test_free_cancel_page_preview_is_what_the_customer_gets_back(client, frozen_clock, customer, vehicle):
    rental = book(customer, vehicle)
    pay(rental, "1000.00", payment_method=Payment.Method.WECHAT)
    pay(rental, "1900.00", payment_method=Payment.Method.ALIPAY)
    client.force_login(customer.user)
    url = reverse("rentals:cancel", args=[rental.pk])

    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    preview = page.context["preview"]
    assert page.context["refund_preview"] == preview.refund == Decimal("2900.00")

    client.post(url, {"reason": "Plans changed"})

    rental.refresh_from_db()
    assert rental.status == Rental.Status.CANCELLED
    assert _refund_rows(rental) == _preview_rows(preview)
    assert sum(row[0] for row in _refund_rows(rental)) == preview.refund
    assert rental.money_figures().remaining == preview.still_owed == Decimal("0.00")


def test_customer_cancel_preview_leaves_cash_for_the_store_as_the_service_does(frozen_clock, customer, vehicle):
    rental = book(customer, vehicle)
    pay(rental, "500.00", payment_method=Payment.Method.CASH, provider="counter")
    pay(rental, "2400.00", payment_method=Payment.Method.ALIPAY)
    preview = services.cancel_preview(rental=rental, at_counter=False)

    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)

    rental.refresh_from_db()
    assert _refund_rows(rental) == _preview_rows(preview)
    assert _counter(preview) == Decimal("500.00")
    assert rental.requires_manual_refund
    assert rental.money_figures().refund_due == _counter(preview)


@pytest.mark.parametrize(
    ("fee", "started"),
    [(Decimal("0.00"), False), (Decimal("300.00"), False), (Decimal("450.00"), True), (Decimal("2900.00"), True)],
)
def test_staff_cancel_preview_with_a_fee_is_what_the_service_refunds(
    frozen_clock, customer, vehicle, staff_user, fee, started
):
    rental = book(customer, vehicle)
    pay(rental, "2000.00", payment_method=Payment.Method.WECHAT)
    pay(rental, "900.00", payment_method=Payment.Method.CASH, provider="counter")
    if started:
        frozen_clock.move_to(START, tick=False)
        pickup_rental(rental=rental, by_user=staff_user)
        frozen_clock.move_to(START + timedelta(hours=5), tick=False)
    else:  # within a day of the start: the policy's fee is one day's rent, ¥300 (SPEC §19)
        frozen_clock.move_to(START - timedelta(hours=2), tick=False)
    reason, fee = services.check_cancellation(rental=rental, reason="No-show", cancellation_fee=fee, by_user=staff_user)
    preview = services.cancel_preview(rental=rental, reason=reason, fee=fee)

    cancel_rental(rental=rental, reason=reason, cancellation_fee=fee, by_user=staff_user)

    rental.refresh_from_db()
    assert rental.cancellation_fee == preview.fee
    assert preview.refund == Decimal("2900.00") - fee
    assert _refund_rows(rental) == _preview_rows(preview)
    assert _counter(preview) == Decimal("0.00")
    assert rental.money_figures().refund_due == Decimal("0.00")
    assert rental.money_figures().remaining == preview.still_owed


# --- returning ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("returned_after_end", "damage", "other_store"),
    [
        (timedelta(hours=-2), Decimal("0.00"), False),  # on time
        (timedelta(hours=30), Decimal("0.00"), False),  # late: two started days of overdue fee
        (timedelta(0), Decimal("800.00"), False),  # damage within the deposit
        (timedelta(hours=3), Decimal("2500.00"), True),  # late, damage above the deposit, one-way
    ],
)
def test_return_preview_is_what_the_return_charges_and_refunds(
    frozen_clock, customer, vehicle, staff_user, other_location, returned_after_end, damage, other_store
):
    rental = book(customer, vehicle)
    pay(rental, payment_method=Payment.Method.ALIPAY)
    frozen_clock.move_to(START, tick=False)
    pickup_rental(rental=rental, by_user=staff_user)
    when = END + returned_after_end
    frozen_clock.move_to(when, tick=False)
    store = other_location if other_store else rental.return_location
    preview = services.return_preview(rental=rental, returned_at=when, location=store, damage_fee=damage)

    process_return(rental=rental, returned_at=when, location=store, damage_fee=damage, by_user=staff_user)

    rental.refresh_from_db()
    figures = rental.money_figures()
    assert (rental.overdue_fee, rental.cross_location_fee, rental.damage_fee) == (
        preview.overdue_fee,
        preview.cross_location_fee,
        preview.damage_fee,
    )
    assert figures.order_total == preview.order_total
    assert figures.owed == preview.owed
    assert sum((row[0] for row in _refund_rows(rental)), Decimal("0.00")) == preview.deposit_refund
    assert figures.remaining == preview.still_owed
    assert rental.requires_manual_refund == preview.needs_manual_refund
    if returned_after_end > timedelta(hours=24):
        assert preview.overdue_fee > 0
    if damage > Decimal("2000.00"):
        assert preview.still_owed > 0 and preview.deposit_refund == 0


def test_staff_return_page_preview_is_what_the_return_does(staff_client, frozen_clock, customer, vehicle, staff_user):
    rental = book(customer, vehicle)
    pay(rental, payment_method=Payment.Method.WECHAT)
    frozen_clock.move_to(START, tick=False)
    pickup_rental(rental=rental, by_user=staff_user)
    when = END + timedelta(hours=26)
    frozen_clock.move_to(when, tick=False)
    url = reverse("admin:rentals_rental_return", args=[rental.pk])
    post = {
        **RETURN_CHECK,
        "returned_at": when.astimezone(START.tzinfo).strftime("%Y-%m-%dT%H:%M"),
        "location": rental.return_location_id,
        "damage_fee": "150.00",
    }

    preview = staff_client.post(url, {**post, "_preview": "1"}).context["preview"]
    staff_client.post(url, {**post, "_confirm": "1"})

    rental.refresh_from_db()
    assert rental.status == Rental.Status.COMPLETED
    assert rental.overdue_fee == preview.overdue_fee > 0
    assert sum((row[0] for row in _refund_rows(rental)), Decimal("0.00")) == preview.deposit_refund


# --- one can-cancel rule -------------------------------------------------------------------


def test_can_cancel_follows_the_clock_as_cancel_rental_does(client, frozen_clock, customer, vehicle, staff_user):
    from accounts.selectors import order_row
    from rentals.exceptions import InvalidTransition

    rental = book(customer, vehicle)
    pay(rental)
    assert selectors.can_cancel(rental=rental, by_user=customer.user)
    assert order_row(rental=rental).can_cancel

    frozen_clock.move_to(START + timedelta(minutes=1), tick=False)  # stored PENDING, on the road by the clock
    assert rental.status == Rental.Status.PENDING
    assert not selectors.can_cancel(rental=rental, by_user=customer.user)
    assert not order_row(rental=rental).can_cancel
    assert selectors.can_cancel(rental=rental, by_user=staff_user)
    with pytest.raises(InvalidTransition):
        services.check_cancellation(rental=rental, reason="late", by_user=customer.user)
    client.force_login(customer.user)
    response = client.get(reverse("rentals:cancel", args=[rental.pk]))
    assert response.status_code == 302
