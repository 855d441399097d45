"""The consumption report shows money on its way back apart (SPEC §11): a
refund in progress is neither spent nor refunded yet, so 实际消费 (what will
not come back) leaves it out, on the order, in the totals and in the CSV."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts import services
from accounts.figures import value_of
from accounts.models import Payment
from accounts.providers import sandbox
from accounts.tests.factories import PaymentFactory
from rentals.models import Rental
from rentals.services import cancel_rental
from rentals.tests.admin_support import NOW
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def cancelled_with_refund_on_hold(frozen, customer, vehicle, staff_user, settings):
    """Paid ¥2,900, handed over an hour ago and ended by staff with a ¥640 fee
    (up to the order total once the car is out, SPEC §19): ¥2,260 asked back
    of the provider, not yet confirmed."""
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "hold"
    start = NOW - timedelta(hours=1)
    rental = RentalFactory(
        customer=customer, vehicle=vehicle, start_time=start, status=Rental.Status.ONGOING, picked_up_at=start
    )
    PaymentFactory(rental=rental, amount=Decimal("2900.00"))
    rental.refresh_financials()
    cancel_rental(rental=rental, reason="车辆故障", cancellation_fee=Decimal("640.00"), by_user=staff_user)
    rental.refresh_from_db()
    assert rental.amount_refund_in_flight == Decimal("2260.00")
    return rental


def _cell(html: str, attribute: str) -> str:
    return html.split(f"{attribute}>")[1].split("<")[0]


def _report(client, language: str) -> str:
    return client.get(reverse("accounts:consumption_report"), HTTP_ACCEPT_LANGUAGE=language).content.decode()


@pytest.mark.parametrize(
    "language, explained",
    [
        ("zh-hans", "+ 退款中 ¥2,260.00。实际消费是不会退还的部分；退款中的款项正在退还给您"),
        ("en", "+ refunds in progress ¥2,260.00. Spent is what you will not get back; a refund in progress is on its"),
    ],
)
def test_a_refund_in_progress_is_not_counted_as_spent(
    client, customer, cancelled_with_refund_on_hold, language, explained
):
    rental = cancelled_with_refund_on_hold
    client.force_login(customer.user)

    html = _report(client, language)

    order = html.split(f'data-order-id="{rental.pk}"')[1]
    assert _cell(order, 'data-figure="spent"') == "¥640.00"
    assert _cell(order, 'data-figure="refund_in_flight"') == "¥2,260.00"
    assert _cell(order, 'data-figure="refunded"') == "¥0.00"
    assert _cell(html, 'data-total="spent"') == "¥640.00"
    assert _cell(html, 'data-total="refund_in_flight"') == "¥2,260.00"
    assert explained in html
    assert value_of("spent", rental) == Decimal("640.00")


def test_the_csv_shows_the_refund_in_progress_apart(client, customer, cancelled_with_refund_on_hold):
    client.force_login(customer.user)
    response = client.get(reverse("accounts:consumption_report_csv"), {"year": 2026}, HTTP_ACCEPT_LANGUAGE="en")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    header, order, total = rows[0], rows[1], rows[-1]
    assert header[-1] == "Refund in progress"
    for row in (order, total):
        values = dict(zip(header, row, strict=True))
        assert (values["Spent"], values["Refund in progress"], values["Refunded"]) == ("640.00", "2260.00", "0.00")


def test_once_confirmed_the_money_reads_refunded_and_spent_stays(client, customer, cancelled_with_refund_on_hold):
    rental = cancelled_with_refund_on_hold
    client.force_login(customer.user)
    before = _report(client, "zh-hans").split(f'data-order-id="{rental.pk}"')[1]
    assert (_cell(before, 'data-figure="spent"'), _cell(before, 'data-figure="refund_in_flight"')) == (
        "¥640.00",
        "¥2,260.00",
    )
    refund = Payment.objects.get(rental=rental, transaction_type=Payment.TransactionType.REFUND)
    headers, body = sandbox.build_callback(
        transaction_id=refund.transaction_id, status="refunded", amount=refund.amount, event_id="evt-back"
    )
    assert services.handle_callback(provider="sandbox", headers=headers, body=body)[0] == 200

    html = _report(client, "zh-hans")

    order = html.split(f'data-order-id="{rental.pk}"')[1]
    assert _cell(order, 'data-figure="spent"') == "¥640.00"
    assert _cell(order, 'data-figure="refunded"') == "¥2,260.00"
    assert 'data-figure="refund_in_flight"' not in html and 'data-total="refund_in_flight"' not in html
    assert _cell(html, 'data-total="spent"') == "¥640.00"
