"""Query budgets of a signed payment callback, per provider (sandbox, Alipay, WeChat Pay).

An accepted success runs what exactly once needs and no more:
  the charge named by the callback (its id and rental's),
  BEGIN, the rental row locked, the charge locked, is the event known,
  the receipt stored (one INSERT … ON CONFLICT DO NOTHING: no savepoint),
  the callback audited, the charge made PAID and the move audited,
  the order's ledger rows read and its figures stored, the payer's notice,
  COMMIT: ``ACCEPTED``.
The same callback again stops once the event is known: the charge, BEGIN, the
two locks, the receipt check, the "duplicate" audit row, COMMIT: ``DUPLICATE``.
"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services
from accounts.models import CallbackReceipt, Notification, Payment
from accounts.tests.payment_support import callback_events, callback_url, signed_body, success_payload
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

ACCEPTED = 13
DUPLICATE = 7


def _sandbox(charge, fakes):
    from accounts.providers import sandbox

    body = signed_body(success_payload(charge, event_id="evt_budget"))
    return "application/json", {sandbox.SIGNATURE_HEADER: sandbox.signature_header(body)}, body


def _alipay(charge, fakes):
    fakes["alipay"].pay(charge.transaction_id, "2900.00")
    body = fakes["alipay"].notify(charge.transaction_id, "2900.00", notify_id="n-budget")
    return "application/x-www-form-urlencoded", {}, body


def _wechatpay(charge, fakes):
    headers, body = fakes["wechatpay"].pay(charge.transaction_id)
    return "application/json", headers, body


NOTICES = {"sandbox": _sandbox, "alipay": _alipay, "wechatpay": _wechatpay}
METHODS = {"sandbox": Payment.Method.ALIPAY, "alipay": Payment.Method.ALIPAY, "wechatpay": Payment.Method.WECHAT}


@pytest.fixture(params=sorted(NOTICES))
def provider(request):
    return request.param


@pytest.fixture
def notice(provider, request, customer, vehicle):
    """(charge, content type, headers, body) of a signed success for a new charge of ``provider``."""
    fakes = {}
    if provider == "alipay":
        fakes["alipay"] = request.getfixturevalue("fake_alipay")
    if provider == "wechatpay":
        fakes["wechatpay"] = request.getfixturevalue("wechat_gateway")
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    charge = services.start_payment(rental=rental, method=METHODS[provider], user=customer.user)
    assert charge.provider == provider and charge.amount == Decimal("2900.00")
    return (charge, *NOTICES[provider](charge, fakes))


def _post(client, provider, content_type, headers, body):
    with CaptureQueriesContext(connection) as queries:
        response = client.generic("POST", callback_url(provider), data=body, content_type=content_type, headers=headers)
    assert response.status_code in (200, 204), response.content
    return len(queries.captured_queries)


def test_an_accepted_callback_runs_only_what_exactly_once_needs(client, provider, notice):
    charge, content_type, headers, body = notice

    statements = _post(client, provider, content_type, headers, body)

    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    assert CallbackReceipt.objects.filter(payment=charge).count() == 1
    assert Notification.objects.filter(notification_type=Notification.Type.PAYMENT_SUCCESS).count() == 1
    assert charge.rental.__class__.objects.get(pk=charge.rental_id).amount_paid == Decimal("2900.00")
    assert statements <= ACCEPTED, f"{provider}: {statements} statements"


def test_a_duplicate_callback_stops_at_the_receipt(client, provider, notice):
    charge, content_type, headers, body = notice
    _post(client, provider, content_type, headers, body)

    statements = _post(client, provider, content_type, headers, body)

    assert [event.payload["verdict"] for event in callback_events(payment=charge)] == ["accepted", "duplicate"]
    assert CallbackReceipt.objects.filter(payment=charge).count() == 1
    assert Notification.objects.filter(notification_type=Notification.Type.PAYMENT_SUCCESS).count() == 1
    assert statements <= DUPLICATE, f"{provider}: {statements} statements"
