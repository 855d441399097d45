"""The customer's whole payment path in a real browser: order → pay page →
sandbox checkout → back on the order, paid; and a failure that the order page
explains and offers to retry."""

from decimal import Decimal

import pytest

from accounts.models import Payment
from accounts.tests.assertions import assert_ledger_consistent
from customers.tests.factories import TEST_PASSWORD, CustomerFactory, UserFactory
from rentals.tests.factories import RentalFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def page(browser):
    context = browser.new_context(
        locale="en-US", extra_http_headers={"Accept-Language": "en"}, viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def rental(vehicle):
    customer = CustomerFactory(user=UserFactory(username="payer"))
    return RentalFactory(customer=customer, vehicle=vehicle)


def _log_in_and_open_the_order(page, live_server, rental):
    page.goto(f"{live_server.url}/accounts/login/?next=/accounts/orders/{rental.pk}/")
    page.fill("#id_username", "payer")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"**/accounts/orders/{rental.pk}/")


def _go_to_the_sandbox(page, live_server, rental, method="WECHAT"):
    page.click("#pay-button")  # on the order page
    page.wait_for_selector("#payment-form")
    assert page.get_attribute("#amount-due", "data-amount") == "2900.00"
    page.check(f"input[name=payment_method][value={method}]")
    page.click("#pay-submit")
    page.wait_for_selector("#sandbox-form")
    assert page.get_attribute("#charge-amount", "data-amount") == "2900.00"


def test_pay_successfully_then_the_order_shows_it_paid(page, live_server, rental):
    _log_in_and_open_the_order(page, live_server, rental)
    _go_to_the_sandbox(page, live_server, rental)

    page.click("button[name=outcome][value=succeeded]")
    page.wait_for_url(f"**/accounts/orders/{rental.pk}/")

    assert page.text_content("[data-summary=remaining_amount]").strip() == "¥0.00"
    charge = Payment.objects.get(rental=rental)
    row = page.locator(f".transaction[data-transaction-id='{charge.transaction_id}']")
    assert row.get_attribute("data-status") == "PAID"
    assert page.locator("#pay-button").count() == 0
    assert "Payment of ¥2,900.00 received" in page.content()
    assert charge.payment_method == "WECHAT"
    assert assert_ledger_consistent(rental)["paid"] == Decimal("2900.00")


def test_a_failed_payment_is_explained_on_the_order_and_can_be_paid_again(page, live_server, rental):
    _log_in_and_open_the_order(page, live_server, rental)
    _go_to_the_sandbox(page, live_server, rental, method="ALIPAY")

    page.fill("#id_failure_reason", "Insufficient balance")
    page.click("button[name=outcome][value=failed]")
    page.wait_for_url(f"**/accounts/orders/{rental.pk}/")

    assert "the payment provider declined the payment" in page.text_content("#payment-failure")
    assert "Insufficient balance" not in page.content()  # the provider's words are for staff
    assert page.get_attribute("#pay-button", "href") == f"/accounts/orders/{rental.pk}/pay/"
    assert Payment.objects.get(rental=rental).status == Payment.Status.FAILED

    # and paying again works
    _go_to_the_sandbox(page, live_server, rental)
    page.click("button[name=outcome][value=succeeded]")
    page.wait_for_url(f"**/accounts/orders/{rental.pk}/")
    assert page.text_content("[data-summary=remaining_amount]").strip() == "¥0.00"
    assert page.locator("#payment-failure").count() == 0
    assert assert_ledger_consistent(rental)["paid"] == Decimal("2900.00")
