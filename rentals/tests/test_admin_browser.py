"""A counter clerk processes a late one-way return with damage in the admin, in
a real browser; the customer then sees the deposit refund on their order page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Payment
from accounts.tests.assertions import assert_ledger_consistent
from customers.tests.factories import TEST_PASSWORD, CustomerFactory, StaffUserFactory, UserFactory
from rentals.models import Rental
from rentals.tests.admin_support import fill_return_check, ongoing_rental

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-US", extra_http_headers={"Accept-Language": "en"})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def test_return_in_the_admin_then_the_customer_sees_the_deposit_refund(page, live_server, vehicle, other_location):
    # given a customer who paid 2,900 and is bringing the car back 26 h late to another store
    StaffUserFactory(username="clerk", is_superuser=True)
    customer = CustomerFactory(user=UserFactory(username="driver"))
    start = timezone.now() - timedelta(days=3, hours=26)
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=start)
    assert rental.amount_paid == Decimal("2900.00")

    # the clerk logs in to the admin through its login form
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "clerk")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")

    # opens the rental and its return page
    page.goto(f"{live_server.url}/admin/rentals/rental/{rental.pk}/change/")
    page.click("#rental-action-return")
    page.wait_for_selector("#return-form")
    assert page.input_value("#id_returned_at")  # defaults to now, local time
    page.select_option("#id_location", str(other_location.pk))
    page.fill("#id_damage_fee", "300.00")
    page.fill("#id_note", "Scratch on the rear door")
    fill_return_check(page)

    # previews the fees, then confirms
    page.click("#return-preview-button")
    page.wait_for_selector("#return-preview")
    assert page.get_attribute("#preview-overdue-fee", "data-amount") == "900.00"
    assert page.get_attribute("#preview-cross-location-fee", "data-amount") == "200.00"
    assert page.get_attribute("#preview-deposit-refund", "data-amount") == "600.00"
    assert page.get_attribute("#preview-still-owed", "data-amount") == "0.00"
    rental.refresh_from_db()
    assert rental.status == Rental.Status.ONGOING  # the preview wrote nothing
    page.click("#return-confirm-button")
    page.wait_for_selector("ul.messagelist li.success")
    assert "/change/" in page.url

    rental.refresh_from_db()
    assert rental.status == Rental.Status.COMPLETED
    refund = rental.payments.get(transaction_type=Payment.TransactionType.REFUND)
    assert refund.amount == Decimal("600.00")
    assert_ledger_consistent(rental)
    # the admin's read-only ledger shows the refund row
    assert page.locator(f"text={refund.transaction_id}").count() >= 1

    # the customer logs in and reads the order page
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "driver")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-submit")
    page.wait_for_load_state()
    page.goto(f"{live_server.url}/accounts/orders/{rental.pk}/")
    page.wait_for_selector("#payment-summary")

    assert page.inner_text('[data-summary="refunded_amount"]').strip() == "¥600.00"
    assert page.inner_text('[data-summary="net_paid"]').strip() == "¥2,300.00"
    refund_row = page.locator(f'li.transaction[data-transaction-id="{refund.transaction_id}"]')
    assert refund_row.get_attribute("data-type") == "REFUND"
    assert refund_row.get_attribute("data-status") == "REFUNDED"
    assert "600.00" in refund_row.inner_text()
