"""The customer's extension page and the staff's (SPEC §19): the preview
before confirming, the difference paid through the sandbox checkout like
any remaining amount, the refusals shown on the form (never a 500), and
another customer's order a 404.

Car: ¥300 a day, ¥2,000 deposit; a GOLD customer (10 %) booked three days.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Payment
from accounts.tests.assertions import assert_ledger_consistent
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from rentals.models import Rental
from rentals.services import cancel_rental, process_return
from rentals.tests.clock import END, NOW, START
from rentals.tests.factories import book, pay

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture(autouse=True)
def _frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def gold(db):
    return CustomerFactory(member_level=Customer.MemberLevel.GOLD)


@pytest.fixture
def rental(gold, vehicle):
    return book(gold, vehicle)


@pytest.fixture
def owner(client, gold):
    client.force_login(gold.user)
    return client


def _url(rental):
    return reverse("accounts:extend", args=[rental.pk])


def _sandbox_pay(client, rental, amount: str):
    """The pay page's form, then the sandbox checkout's success: a real signed callback."""
    response = client.post(
        reverse("accounts:pay", args=[rental.pk]), {"payment_method": "ALIPAY", "expected_amount": amount}
    )
    assert response.status_code == 302
    charge = Payment.objects.get(rental=rental, status=Payment.Status.PENDING)
    assert charge.amount == Decimal(amount)
    assert response["Location"] == reverse("payments:sandbox_checkout", args=[charge.transaction_id])
    done = client.post(response["Location"], {"outcome": "succeeded"})
    assert done.status_code == 302
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    return charge


def test_worked_example_an_ongoing_order_extended_and_the_difference_paid_in_the_sandbox(owner, rental, time_machine):
    _sandbox_pay(owner, rental, "2810.00")  # 900 − 90 + 2,000
    time_machine.move_to(START + timedelta(days=1), tick=False)
    rental.auto_update_status()
    assert rental.status == Rental.Status.ONGOING
    order_page = owner.get(rental.get_absolute_url(), **EN).content.decode()
    assert f'href="{_url(rental)}"' in order_page

    preview = owner.post(_url(rental), {"new_end_time": _local(END + timedelta(days=2)), "_preview": "1"}, **EN)

    html = preview.content.decode()
    assert preview.status_code == 200
    assert 'id="preview-difference" data-amount="540.00"' in html
    assert 'id="preview-total-amount" data-amount="1350.00"' in html
    assert 'id="preview-remaining" data-amount="540.00"' in html
    assert 'name="_confirm"' in html
    rental.refresh_from_db()
    assert rental.end_time == END  # a preview writes nothing

    confirmed = owner.post(_url(rental), {"new_end_time": _local(END + timedelta(days=2)), "_confirm": "1"})

    assert confirmed.status_code == 302
    assert confirmed["Location"] == reverse("accounts:pay", args=[rental.pk])
    pay_page = owner.get(confirmed["Location"], **EN).content.decode()
    assert 'name="expected_amount"' in pay_page and 'value="540.00"' in pay_page
    _sandbox_pay(owner, rental, "540.00")
    rental.refresh_from_db()
    assert (rental.amount_paid, rental.outstanding_amount) == (Decimal("3350.00"), Decimal("0.00"))
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL

    # Back on time at the new end: the deposit goes back and the order is square.
    returned_at = END + timedelta(days=2)
    time_machine.move_to(returned_at, tick=False)
    process_return(rental=rental, returned_at=returned_at, location=rental.pickup_location)
    rental.refresh_from_db()
    refunds = rental.payments.filter(transaction_type=Payment.TransactionType.REFUND)
    # The deposit goes back the way it came, over the two charges.
    assert sorted(refund.amount for refund in refunds) == [Decimal("540.00"), Decimal("1460.00")]
    assert {refund.status for refund in refunds} == {Payment.Status.REFUNDED}
    assert (rental.status, rental.settlement_status) == (Rental.Status.COMPLETED, Rental.SettlementStatus.SETTLED)
    assert rental.get_order_amount_breakdown()["order_total"] == Decimal("3350.00")
    assert_ledger_consistent(rental)


def test_the_page_names_the_next_free_time_when_another_booking_follows(owner, rental, vehicle):
    pay(rental)
    pay(book(CustomerFactory(), vehicle, END + timedelta(days=1), END + timedelta(days=2)))

    response = owner.post(_url(rental), {"new_end_time": _local(END + timedelta(days=3)), "_confirm": "1"}, **EN)

    assert response.status_code == 200
    assert "The car is booked for another order from 2026-03-06 09:00" in response.content.decode()
    assert "The car is free again from 2026-03-07 09:00." in response.content.decode()
    rental.refresh_from_db()
    assert rental.end_time == END and not rental.events.filter(event="extended").exists()


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "2026-02-30T10:00",
        "99999-01-01T00:00",
        "0001-01-01T00:00",
        "9999-12-31T23:59",
        "2026-03-04T09:00",
        "2026-02-01T09:00",
        "2026-03-04T09:00:00Z'; DROP",
    ],
)
def test_absurd_or_refused_times_are_form_errors_never_a_500(owner, rental, value):
    pay(rental)

    for action in ("_preview", "_confirm"):
        response = owner.post(_url(rental), {"new_end_time": value, action: "1"}, **EN)

        assert response.status_code == 200
        assert response.context["form"].errors, value
        assert 'name="_confirm"' not in response.content.decode()
    rental.refresh_from_db()
    assert rental.end_time == END


def test_beyond_max_rental_days_is_a_form_error(owner, rental):
    response = owner.post(
        _url(rental), {"new_end_time": _local(START + timedelta(days=90, minutes=1)), "_preview": "1"}, **EN
    )

    assert "A rental can last at most 90 days in all: the latest return time is 2026-05-31 09:00." in (
        response.content.decode()
    )


@pytest.mark.parametrize("closing", ["cancelled", "completed"])
def test_a_closed_order_offers_no_extension(owner, rental, time_machine, closing):
    pay(rental)
    if closing == "cancelled":
        cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)
    else:
        time_machine.move_to(START + timedelta(hours=2), tick=False)
        rental.auto_update_status()
        process_return(rental=rental, returned_at=START + timedelta(hours=2), location=rental.pickup_location)

    assert 'id="extend-button"' not in owner.get(rental.get_absolute_url()).content.decode()
    response = owner.post(_url(rental), {"new_end_time": _local(END + timedelta(days=1)), "_confirm": "1"})
    assert response.status_code == 302 and response["Location"] == rental.get_absolute_url()
    rental.refresh_from_db()
    assert rental.end_time == END


def test_another_customers_order_is_a_404(rental):
    stranger = Client()
    stranger.force_login(CustomerFactory().user)

    assert stranger.get(_url(rental)).status_code == 404
    assert (
        stranger.post(_url(rental), {"new_end_time": _local(END + timedelta(days=1)), "_confirm": "1"}).status_code
        == 404
    )
    rental.refresh_from_db()
    assert rental.end_time == END


def test_the_extension_form_is_csrf_protected(rental):
    guarded = Client(enforce_csrf_checks=True)
    guarded.force_login(rental.customer.user)

    response = guarded.post(_url(rental), {"new_end_time": _local(END + timedelta(days=1)), "_confirm": "1"})

    assert response.status_code == 403
    page = guarded.get(_url(rental)).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page
    rental.refresh_from_db()
    assert rental.end_time == END


def test_the_page_is_in_chinese_first(owner, rental):
    page = owner.get(_url(rental), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "新的还车时间" in page and "查看价格" in page


# --- staff ----------------------------------------------------------------------------


def test_staff_preview_then_confirm_in_the_admin(staff_client, rental):
    pay(rental)
    url = reverse("admin:rentals_rental_extend", args=[rental.pk])
    change = staff_client.get(reverse("admin:rentals_rental_change", args=[rental.pk]), **EN)
    assert url in change.content.decode()

    preview = staff_client.post(url, {"new_end_time": _local(END + timedelta(days=1)), "_preview": "1"}, **EN)

    html = preview.content.decode()
    assert 'id="preview-difference" data-amount="270.00"' in html  # one day at 300 − 10 %
    assert 'id="extend-confirm-button"' in html
    rental.refresh_from_db()
    assert rental.end_time == END

    done = staff_client.post(url, {"new_end_time": _local(END + timedelta(days=1)), "_confirm": "1"}, **EN)

    assert done.status_code == 302
    rental.refresh_from_db()
    assert (rental.end_time, rental.total_amount, rental.outstanding_amount) == (
        END + timedelta(days=1),
        Decimal("1080.00"),
        Decimal("270.00"),
    )
    event = rental.events.get(event="extended")
    assert event.actor.is_staff


def test_staff_see_the_refusal_on_the_form(staff_client, rental, vehicle):
    pay(rental)
    pay(book(CustomerFactory(), vehicle, END, END + timedelta(days=1)))
    url = reverse("admin:rentals_rental_extend", args=[rental.pk])

    response = staff_client.post(url, {"new_end_time": _local(END + timedelta(days=1)), "_preview": "1"}, **EN)

    assert response.status_code == 200
    assert "The car is free again from 2026-03-06 09:00." in response.content.decode()
    assert 'id="extend-confirm-button"' not in response.content.decode()


def test_staff_without_the_change_permission_get_403(client, rental):
    from customers.tests.factories import StaffUserFactory

    clerk = StaffUserFactory(username="viewer")
    client.force_login(clerk)

    assert client.get(reverse("admin:rentals_rental_extend", args=[rental.pk])).status_code == 403
