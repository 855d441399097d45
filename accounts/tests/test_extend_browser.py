"""A customer extends an ongoing order on a phone, in Chinese, and pays the
difference in the sandbox (SPEC §19): order page → extension page → price
preview → confirm → pay page for the difference → sandbox checkout → back on
the order, nothing left to pay. axe-core finds no serious WCAG 2.1 AA
violation on any page of the path. Screenshots go to test-artifacts/screenshots/."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Payment
from accounts.tests.accessibility import assert_no_serious_axe_violations
from accounts.tests.assertions import assert_ledger_consistent
from accounts.tests.factories import PaymentFactory
from accounts.tests.test_money_pages_browser import assert_no_horizontal_scroll, shot
from customers.tests.factories import TEST_PASSWORD, CustomerFactory, UserFactory
from rentals.models import Rental
from rentals.tests.factories import RentalFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser):
    context = browser.new_context(
        locale="zh-CN", extra_http_headers={"Accept-Language": "zh-hans"}, viewport={"width": 390, "height": 844}
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def ongoing(vehicle):
    """Picked up a day ago for three days, paid in full (¥2,900)."""
    customer = CustomerFactory(user=UserFactory(username="driver"))
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    rental = RentalFactory(customer=customer, vehicle=vehicle, start_time=start, end_time=start + timedelta(days=3))
    PaymentFactory(rental=rental, amount=Decimal("2900.00"), paid_at=start - timedelta(hours=1))
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.ONGOING, picked_up_at=start)
    rental.refresh_from_db()
    rental.refresh_financials()
    return rental


def _checked(page, name: str) -> None:
    assert_no_horizontal_scroll(page)
    assert_no_serious_axe_violations(page, name)
    shot(page, f"extend-phone-zh-{name}")


def test_a_customer_extends_an_ongoing_order_and_pays_the_difference(page, live_server, ongoing):
    rental = ongoing
    new_end = timezone.localtime(rental.end_time + timedelta(days=1))
    page.goto(f"{live_server.url}/accounts/login/?next=/accounts/orders/{rental.pk}/")
    page.fill("#id_username", "driver")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"**/accounts/orders/{rental.pk}/")
    _checked(page, "01-order")

    page.click("#extend-button")
    page.wait_for_selector("#extend-form")
    assert "新的还车时间" in page.content()
    page.fill("#id_new_end_time", new_end.strftime("%Y-%m-%dT%H:%M"))
    page.click("#extend-preview-button")
    page.wait_for_selector("#extend-preview")
    assert page.get_attribute("#preview-difference", "data-amount") == "300.00"
    assert page.get_attribute("#preview-total-amount", "data-amount") == "1200.00"
    assert "差价" in page.text_content("#extend-preview")
    _checked(page, "02-preview")
    rental.refresh_from_db()
    assert rental.end_time != new_end  # nothing saved by the preview

    page.click("#extend-confirm")
    page.wait_for_selector("#payment-form")
    assert page.get_attribute("#amount-due", "data-amount") == "300.00"
    _checked(page, "03-pay-the-difference")
    page.check("input[name=payment_method][value=ALIPAY]")
    page.click("#pay-submit")
    page.wait_for_selector("#sandbox-form")
    assert page.get_attribute("#charge-amount", "data-amount") == "300.00"
    page.click("button[name=outcome][value=succeeded]")
    page.wait_for_url(f"**/accounts/orders/{rental.pk}/")

    assert page.text_content("[data-summary=remaining_amount]").strip() == "¥0.00"
    assert new_end.strftime("%Y-%m-%d %H:%M") in page.content()
    _checked(page, "04-paid")
    rental.refresh_from_db()
    assert (rental.status, rental.end_time, rental.total_amount) == (Rental.Status.ONGOING, new_end, Decimal("1200.00"))
    charge = rental.payments.filter(transaction_type=Payment.TransactionType.CHARGE).latest("pk")
    assert (charge.amount, charge.status) == (Decimal("300.00"), Payment.Status.PAID)
    assert assert_ledger_consistent(rental)["paid"] == Decimal("3200.00")
