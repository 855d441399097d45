"""A walk-in at the counter in a real browser (Playwright + Chromium): the
clerk finds nobody by the ID card number, adds the customer, books a car
standing at the store, takes cash, hands the car over, takes it back and
prints the receipt; the PDF holds every figure and transaction id of the
order page. The walk-in page is axe-core clean (WCAG 2.1 AA)."""

import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Payment
from accounts.tests.accessibility import assert_no_serious_axe_violations, require_axe
from accounts.tests.test_receipts import ledger_figures
from car_rental_system.money import format_cny
from customers.tests.factories import TEST_PASSWORD
from rentals.models import Rental
from rentals.tests.admin_support import fill_pickup_check, fill_return_check, staff_in_group
from rentals.tests.test_staff_browser import ensure_counter_group, shot
from rentals.tests.test_walk_in import NEW_ID
from vehicles.tests.factories import VehicleFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _weasyprint_or_skip() -> None:
    try:
        import weasyprint  # noqa: F401
    except OSError as error:
        pytest.skip(f"WeasyPrint can't load the Pango library (apt-get install libpango-1.0-0): {error}")


def _pdf_text(body: bytes) -> str:
    import pypdf

    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(body)).pages)


def _book_walk_in(page, base, vehicle) -> None:
    page.goto(f"{base}/admin/rentals/rental/today/")
    page.click("#walk-in-link")
    page.wait_for_selector("#walk-in-form")
    assert_no_serious_axe_violations(page, "walk-in page")
    page.select_option("#id_store", str(vehicle.location_id))
    page.fill("#id_id_card_number", NEW_ID)
    page.fill("#id_name", "王小明")
    page.fill("#id_phone", "139 1234 5678")
    page.fill("#id_driver_license_number", "310101199001011234")
    page.select_option("#id_vehicle", str(vehicle.pk))
    page.select_option("#id_return_location", str(vehicle.location_id))
    page.click("#walk-in-preview-button")
    page.wait_for_selector("#walk-in-preview")
    assert page.inner_text("#walk-in-order-total").strip() == "¥2,300.00"  # 1 day × ¥300 + ¥2,000 deposit
    assert_no_serious_axe_violations(page, "walk-in page with its preview")
    shot(page, "walk-in-01-preview")
    page.click("#walk-in-confirm-button")
    page.wait_for_selector("#counter-payment-form")


def test_a_clerk_books_a_walk_in_takes_cash_hands_over_takes_back_and_prints(browser, live_server, location):
    require_axe()
    _weasyprint_or_skip()
    ensure_counter_group()
    staff_in_group("counter", username="desk")
    vehicle = VehicleFactory(location=location)
    base = live_server.url
    context = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN"})
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "desk")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/admin/")

    _book_walk_in(page, base, vehicle)
    rental = Rental.objects.get()
    assert rental.customer.user is None and rental.customer.phone == "13912345678"
    page.check("#id_method_0")  # cash
    page.click("#counter-payment-button")
    page.wait_for_selector("#rental-action-pickup")
    page.click("#rental-action-pickup")
    fill_pickup_check(page)
    page.click("#pickup-confirm-button")
    page.wait_for_selector("#rental-action-return")
    page.click("#rental-action-return")
    page.fill("#id_returned_at", (timezone.localtime() + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M"))
    fill_return_check(page)
    page.click("#return-preview-button")
    page.click("#return-confirm-button")
    page.wait_for_selector("#rental-receipt")
    rental.refresh_from_db()
    assert rental.status == Rental.Status.COMPLETED
    shot(page, "walk-in-02-order-after-return")

    order_page = page.inner_text("#content")
    receipt = context.request.get(f"{base}{page.get_attribute('#rental-receipt', 'href')}")
    assert receipt.status == 200 and receipt.headers["content-type"] == "application/pdf"
    text = _pdf_text(receipt.body())
    for name, shown in ledger_figures(rental).items():
        assert shown in order_page, f"{name} {shown} not on the order page"
        assert shown in text, f"{name} {shown} missing from the receipt"
    payments = list(rental.payments.all())
    assert any(p.payment_method == Payment.Method.CASH and p.status == Payment.Status.PAID for p in payments)
    for payment in payments:
        assert payment.transaction_id in order_page
        assert payment.transaction_id in text
        signed = ("−" if payment.transaction_type == Payment.TransactionType.REFUND else "") + format_cny(
            payment.amount
        )
        assert signed in text
    assert re.search(r"王小明", text)
    context.close()
