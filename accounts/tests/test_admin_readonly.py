"""No admin path can add, change or delete a ledger row or its audit trail —
not even a superuser's: money moves only through the staff pages."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import CallbackReceipt, Payment, PaymentEvent
from accounts.tests.factories import PaymentEventFactory, PaymentFactory
from rentals.models import Rental
from rentals.tests.admin_support import staff_in_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(db):
    payment = PaymentFactory(amount=Decimal("2900.00"))
    payment.rental.refresh_financials()
    event = PaymentEventFactory(payment=payment, event="callback_received", payload={"verdict": "accepted"})
    receipt = CallbackReceipt.objects.create(provider="sandbox", event_id="evt_1", payment=payment)
    return {"payment": payment, "paymentevent": event, "callbackreceipt": receipt}


def snapshot():
    return (
        list(Payment.objects.order_by("id").values_list("id", "amount", "status", "transaction_type", "description")),
        list(PaymentEvent.objects.order_by("id").values_list("id", "event", "payload")),
        list(CallbackReceipt.objects.order_by("id").values_list("id", "event_id")),
        list(Rental.objects.order_by("id").values_list("id", "amount_paid", "status")),
    )


@pytest.fixture(params=["superuser", "finance", "counter"])
def user(request, staff_user):
    if request.param == "superuser":
        return staff_user
    user = staff_in_group(request.param)
    # Even someone granted the model permissions by hand can't write here.
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="accounts",
            codename__in=[
                f"{verb}_{model}"
                for verb in ("add", "change", "delete")
                for model in ("payment", "paymentevent", "callbackreceipt")
            ],
        )
    )
    return user


@pytest.mark.parametrize("model", ["payment", "paymentevent", "callbackreceipt"])
def test_add_change_and_delete_urls_refuse(client, user, ledger, model):
    client.force_login(user)
    obj = ledger[model]
    before = snapshot()
    add = reverse(f"admin:accounts_{model}_add")
    change = reverse(f"admin:accounts_{model}_change", args=[obj.pk])
    delete = reverse(f"admin:accounts_{model}_delete", args=[obj.pk])
    forged = {
        "amount": "1.00",
        "status": "REFUNDED",
        "transaction_id": "PAYFORGED",
        "event": "forged",
        "event_id": "forged",
        "provider": "sandbox",
        "rental": obj.pk,
        "payment": obj.pk,
        "post": "yes",
    }

    assert client.get(add).status_code == 403
    assert client.post(add, forged).status_code == 403
    assert client.post(change, forged).status_code == 403
    assert client.get(delete).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize("model", ["payment", "paymentevent", "callbackreceipt"])
def test_change_page_is_view_only(client, staff_user, ledger, model):
    client.force_login(staff_user)
    obj = ledger[model]

    response = client.get(reverse(f"admin:accounts_{model}_change", args=[obj.pk]), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert b'name="_save"' not in response.content
    assert b'name="amount"' not in response.content


@pytest.mark.parametrize("model", ["payment", "paymentevent", "callbackreceipt"])
def test_bulk_delete_action_is_not_offered_and_does_nothing(client, user, ledger, model):
    client.force_login(user)
    obj = ledger[model]
    url = reverse(f"admin:accounts_{model}_changelist")
    before = snapshot()

    page = client.get(url)
    response = client.post(url, {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"})

    assert page.status_code == 200
    action_form = page.context.get("action_form")
    offered = [name for name, _label in action_form.fields["action"].choices] if action_form else []
    assert "delete_selected" not in offered
    assert response.status_code in (200, 302)
    assert snapshot() == before


def test_rental_change_form_cannot_write_money(client, staff_user, ledger):
    client.force_login(staff_user)
    rental = ledger["payment"].rental
    before = snapshot()
    url = reverse("admin:rentals_rental_change", args=[rental.pk])

    response = client.post(
        url,
        {
            "amount_paid": "0.00",
            "total_amount": "1.00",
            "status": "CANCELLED",
            "payments-TOTAL_FORMS": "1",
            "payments-INITIAL_FORMS": "1",
            "payments-0-id": ledger["payment"].pk,
            "payments-0-DELETE": "on",
        },
    )
    add = client.post(reverse("admin:rentals_rental_add"), {"customer": rental.customer_id})
    delete = client.post(reverse("admin:rentals_rental_delete", args=[rental.pk]), {"post": "yes"})

    assert (response.status_code, add.status_code, delete.status_code) == (403, 403, 403)
    assert snapshot() == before
