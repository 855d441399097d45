"""The sandbox in production (SPEC §16 Production): with DEBUG off it works
only when switched on with a secret of its own; otherwise ``manage.py check``
fails naming the sandbox, and its checkout page and callback answer 404."""

from decimal import Decimal

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse

from accounts import services
from accounts.checks import check_payment_sandbox
from accounts.models import Payment, PaymentEvent
from accounts.providers.sandbox import DEV_SECRET
from accounts.tests.payment_support import deliver, ledger_snapshot, success_payload
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def charge(customer, vehicle):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    return services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)


def _ids(messages) -> set[str]:
    return {message.id for message in messages}


def test_check_fails_with_an_error_when_the_sandbox_is_off_in_production(settings):
    settings.DEBUG = False
    settings.PAYMENT_PROVIDER = "sandbox"
    settings.PAYMENT_SANDBOX_ENABLED = False

    messages = check_payment_sandbox()

    assert _ids(messages) == {"accounts.E001"}
    assert all(isinstance(m, checks.Error) and m.level == checks.ERROR for m in messages)
    assert "sandbox" in messages[0].msg
    with pytest.raises(SystemCheckError, match="sandbox"):
        call_command("check")


def test_check_fails_when_the_sandbox_keeps_the_public_development_secret(settings):
    settings.DEBUG = False
    settings.PAYMENT_SANDBOX_ENABLED = True
    settings.PAYMENT_SANDBOX_SECRET = DEV_SECRET

    messages = check_payment_sandbox()

    assert _ids(messages) == {"accounts.E002"}
    assert messages[0].level == checks.ERROR and "sandbox" in messages[0].msg
    with pytest.raises(SystemCheckError, match="accounts.E002"):
        call_command("check")


def test_check_passes_with_the_sandbox_switched_on_and_a_secret_of_its_own(settings):
    settings.DEBUG = False
    settings.PAYMENT_SANDBOX_ENABLED = True
    settings.PAYMENT_SANDBOX_SECRET = "a-long-secret-of-our-own"
    assert check_payment_sandbox() == []
    call_command("check")


def test_check_passes_in_development_with_the_default_secret(settings):
    settings.DEBUG = True
    settings.PAYMENT_SANDBOX_ENABLED = False
    settings.PAYMENT_SANDBOX_SECRET = DEV_SECRET
    assert check_payment_sandbox() == []


@pytest.mark.parametrize(
    ("enabled", "secret"),
    [(False, "a-long-secret-of-our-own"), (True, DEV_SECRET), (False, DEV_SECRET)],
)
def test_a_switched_off_sandbox_callback_is_404_and_pays_nothing(client, charge, settings, enabled, secret):
    # given a charge opened while the sandbox was on; a signature made with the
    # secret that is now configured (the published one, in two of the cases)
    settings.DEBUG = False
    settings.PAYMENT_SANDBOX_ENABLED = enabled
    settings.PAYMENT_SANDBOX_SECRET = secret
    before = ledger_snapshot()
    events_before = PaymentEvent.objects.count()

    response = deliver(client, success_payload(charge))

    assert response.status_code == 404
    assert ledger_snapshot() == before
    assert PaymentEvent.objects.count() == events_before
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING


def test_a_switched_off_sandbox_checkout_page_is_404(client, charge, settings):
    client.force_login(charge.rental.customer.user)
    url = reverse("payments:sandbox_checkout", args=[charge.transaction_id])
    settings.DEBUG = False
    settings.PAYMENT_SANDBOX_ENABLED = True
    settings.PAYMENT_SANDBOX_SECRET = DEV_SECRET

    assert client.get(url).status_code == 404
    assert client.post(url, {"outcome": "succeeded"}).status_code == 404
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING


def test_a_switched_off_sandbox_opens_no_checkout(client, customer, vehicle, settings):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    client.force_login(customer.user)
    settings.DEBUG = False
    settings.PAYMENT_SANDBOX_ENABLED = False

    response = client.post(
        reverse("accounts:pay", args=[rental.pk]),
        {"payment_method": Payment.Method.ALIPAY, "expected_amount": "2900.00"},
    )

    # no method is offered (each would land on the switched-off sandbox), so none is accepted
    assert response.status_code == 200
    assert response.context["methods"] == []
    assert response.context["form"].errors["payment_method"]
    assert 'id="no-payment-method"' in response.content.decode()
    assert not Payment.objects.filter(rental=rental).exists()


def test_a_switched_on_sandbox_with_its_own_secret_still_pays(client, charge, settings):
    settings.DEBUG = False
    settings.PAYMENT_SANDBOX_ENABLED = True
    settings.PAYMENT_SANDBOX_SECRET = "a-long-secret-of-our-own"

    response = deliver(client, success_payload(charge))

    assert response.status_code == 200
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    assert charge.amount == Decimal("2900.00")
