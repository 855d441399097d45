"""SPEC §19 on the pages: the booking, order and cancel pages show the policy
and what cancelling costs now (Chinese and English); the staff cancel page
defaults to the policy's fee and refuses a higher one; the policy admin keeps
used versions fixed."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from rentals.models import CancellationPolicy, Rental
from rentals.tests.clock import END, NOW, START
from rentals.tests.factories import book, pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked(time_machine, customer, vehicle):
    """A paid ¥2,900 booking (3 × ¥300 + ¥2,000 deposit) made two hours before
    NOW; free cancellation ends at NOW = START − 24 h."""
    time_machine.move_to(NOW - timedelta(hours=2), tick=False)
    rental = book(customer, vehicle)
    pay(rental)
    return rental


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client


def _cancel_page(client, rental, lang="en"):
    return client.get(reverse("rentals:cancel", args=[rental.pk]), HTTP_ACCEPT_LANGUAGE=lang).content.decode()


# --- customer pages ------------------------------------------------------------------


def test_the_cancel_page_says_free_until_when_in_both_languages(customer_client, booked, time_machine):
    time_machine.move_to(NOW, tick=False)

    en = _cancel_page(customer_client, booked)
    assert 'id="cancel-cost-now" data-tier="free" data-amount="0.00"' in en
    assert "Free cancellation until 03-01 09:00. After that, cancelling costs ¥300.00." in en
    assert "Free cancellation until 24 hours before pick-up." in en
    assert "After that, cancelling costs 1 day's rent after your member discount, at most the rental fee." in en
    assert 'id="refund-preview" data-amount="2900.00"' in en
    zh = _cancel_page(customer_client, booked, "zh-hans")
    assert "免费取消截至 03-01 09:00。此后取消收取 ¥300.00。" in zh
    assert "取消政策（第 1 版）" in zh
    assert "取车前 24 小时之前可免费取消。" in zh


def test_after_the_window_the_cancel_page_shows_the_fee_and_the_cancel_charges_it(
    customer_client, booked, time_machine, assert_ledger
):
    time_machine.move_to(NOW + timedelta(seconds=1), tick=False)

    en = _cancel_page(customer_client, booked)
    assert "Free cancellation ended at 03-01 09:00. Cancelling now costs ¥300.00." in en
    assert 'id="cancel-fee" data-amount="300.00">¥300.00' in en
    assert 'id="refund-preview" data-amount="2600.00">¥2,600.00' in en
    assert "现在取消收取 ¥300.00。" in _cancel_page(customer_client, booked, "zh-hans")

    response = customer_client.post(reverse("rentals:cancel", args=[booked.pk]), {"reason": "Plans changed"})

    assert response.status_code == 302
    booked.refresh_from_db()
    assert (booked.status, booked.cancellation_fee) == (Rental.Status.CANCELLED, Decimal("300.00"))
    assert booked.money_figures().refunded == Decimal("2600.00")
    assert_ledger(booked)


def test_an_unpaid_booking_is_shown_as_cancelling_free(customer_client, customer, vehicle, time_machine):
    time_machine.move_to(START - timedelta(hours=3), tick=False)
    rental = book(customer, vehicle)

    en = _cancel_page(customer_client, rental)

    assert 'data-tier="late" data-amount="0.00"' in en
    assert "Cancelling now costs ¥0.00. Nothing has been paid, so cancelling is free." in en


def test_the_order_page_shows_the_policy_while_the_order_can_be_cancelled(customer_client, booked, time_machine):
    time_machine.move_to(NOW - timedelta(hours=1), tick=False)
    url = booked.get_absolute_url()

    body = customer_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="cancel-policy" data-policy-version="1"' in body
    assert "Free cancellation until 03-01 09:00." in body
    assert "免费取消截至 03-01 09:00。" in customer_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    customer_client.post(reverse("rentals:cancel", args=[booked.pk]), {"reason": "Plans changed"})
    assert 'id="cancel-policy"' not in customer_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_booking_page_shows_the_policy_in_force_and_the_quote_the_cost(customer_client, vehicle, time_machine):
    time_machine.move_to(NOW, tick=False)
    CancellationPolicy.objects.create(version=2, effective_from=NOW - timedelta(days=1), free_until_hours=48)

    page = customer_client.get(reverse("rentals:new", args=[vehicle.pk]), HTTP_ACCEPT_LANGUAGE="en")
    body = page.content.decode()
    assert 'id="cancel-policy" data-policy-version="2"' in body
    assert "Free cancellation until 48 hours before pick-up." in body
    assert "If the car is never picked up, 1 day's rent is kept." in body

    params = {
        "start_time": (START + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        "end_time": (END + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        "pickup_location": vehicle.location_id,
        "return_location": vehicle.location_id,
    }
    quote = customer_client.get(reverse("rentals:quote", args=[vehicle.pk]), params, HTTP_ACCEPT_LANGUAGE="en")
    assert quote.json()["cancellation"] == {
        "policy_version": 2,
        "free_until": "03-03 09:00",
        "late_fee": "300.00",
        "text": "Free cancellation until 03-03 09:00; after that, cancelling costs ¥300.00.",
    }
    zh = customer_client.get(reverse("rentals:quote", args=[vehicle.pk]), params, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert zh.json()["cancellation"]["text"] == "免费取消截至 03-03 09:00；此后取消收取 ¥300.00。"


# --- the staff cancel page -----------------------------------------------------------


def _staff_cancel(client, rental, fee, action="_confirm"):
    return client.post(
        reverse("admin:rentals_rental_cancel", args=[rental.pk]),
        {"reason": "Customer called", "cancellation_fee": fee, action: "1"},
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_the_staff_cancel_page_defaults_to_the_policys_fee(staff_client, booked, time_machine):
    time_machine.move_to(START - timedelta(hours=2), tick=False)

    page = staff_client.get(reverse("admin:rentals_rental_cancel", args=[booked.pk]), HTTP_ACCEPT_LANGUAGE="en")

    assert page.context["form"]["cancellation_fee"].value() == Decimal("300.00")
    body = page.content.decode()
    assert 'id="policy-fee-now" data-amount="300.00" data-ceiling="300.00"' in body
    assert "Now: late cancellation, the policy's fee is ¥300.00 (staff may lower it, not raise it)." in body


def test_the_staff_cancel_page_refuses_a_higher_fee_with_a_message(staff_client, booked, time_machine):
    time_machine.move_to(START - timedelta(hours=2), tick=False)

    for action in ("_preview", "_confirm"):
        response = _staff_cancel(staff_client, booked, "300.01", action)
        assert response.status_code == 200
        assert (
            "Under policy version 1 this cancellation costs at most ¥300.00 now; staff may lower the fee but not "
            "raise it (except for a no-show)."
        ) in response.content.decode().replace("&#x27;", "'")
    booked.refresh_from_db()
    assert booked.status == Rental.Status.PENDING

    assert _staff_cancel(staff_client, booked, "").status_code == 302  # empty: the policy's fee
    booked.refresh_from_db()
    assert booked.cancellation_fee == Decimal("300.00")


def test_for_a_no_show_staff_may_charge_the_no_show_fee(staff_client, booked, time_machine):
    CancellationPolicy.objects.create(version=2, effective_from=NOW, no_show_fee_days=2)  # later: not this booking's
    booked.refresh_from_db()
    assert booked.policy.version == 1
    time_machine.move_to(START + timedelta(hours=1), tick=False)

    assert "at most ¥300.00 now" in _staff_cancel(staff_client, booked, "600").content.decode()
    assert _staff_cancel(staff_client, booked, "300").status_code == 302
    booked.refresh_from_db()
    assert (booked.status, booked.cancellation_fee) == (Rental.Status.CANCELLED, Decimal("300.00"))


# --- the policy admin ----------------------------------------------------------------


def _change_url(policy):
    return reverse("admin:rentals_cancellationpolicy_change", args=[policy.pk])


def test_a_used_version_is_read_only_in_the_admin_and_cant_be_deleted(staff_client, booked):
    policy = booked.policy

    page = staff_client.get(_change_url(policy), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'name="free_until_hours"' not in page
    assert 'class="deletelink"' not in page and 'name="_save"' not in page
    assert "Bookings use this version, so it can&#x27;t be changed or deleted." in page

    changed = staff_client.post(_change_url(policy), {"version": 1, "free_until_hours": 1, "_save": "1"})
    assert changed.status_code == 302
    delete_url = reverse("admin:rentals_cancellationpolicy_delete", args=[policy.pk])
    assert staff_client.post(delete_url, {"post": "yes"}).status_code == 302

    policy.refresh_from_db()
    assert policy.free_until_hours == 24
    assert CancellationPolicy.objects.filter(pk=policy.pk).exists()


def test_staff_add_a_new_version_and_may_edit_or_delete_it_while_unused(staff_client, booked):
    add = staff_client.get(reverse("admin:rentals_cancellationpolicy_add"))
    assert add.context["adminform"].form.initial["version"] == 2
    form = {
        "version": 2,
        "effective_from_0": "2026-03-01",
        "effective_from_1": "12:00:00",
        "free_until_hours": 48,
        "late_cancel_fee_days": 2,
        "no_show_fee_days": 2,
        "early_return_fee_percent": 20,
        "_save": "1",
    }
    assert staff_client.post(reverse("admin:rentals_cancellationpolicy_add"), form).status_code == 302
    version_2 = CancellationPolicy.objects.get(version=2)
    assert version_2.free_until_hours == 48

    page = staff_client.get(_change_url(version_2)).content.decode()
    assert 'name="free_until_hours"' in page and 'class="deletelink"' in page
    assert staff_client.post(_change_url(version_2), {**form, "free_until_hours": 36}).status_code == 302
    version_2.refresh_from_db()
    assert version_2.free_until_hours == 36
    delete_url = reverse("admin:rentals_cancellationpolicy_delete", args=[version_2.pk])
    assert staff_client.post(delete_url, {"post": "yes"}).status_code == 302
    assert not CancellationPolicy.objects.filter(version=2).exists()
