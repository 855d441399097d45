"""The pages pass their content security policy (SPEC §15): in Chromium, no
page a customer or a clerk opens reports a single CSP violation, and the
scripts that need to run (live quote, countdown, charts) still run."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.tests.factories import PaymentFactory
from customers.tests.factories import TEST_PASSWORD, StaffUserFactory
from rentals.models import Rental
from rentals.tests.factories import RentalFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every violation the page reports, collected before any of its own scripts run.
COLLECT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile + ":" + e.lineNumber);
});
"""


def _violations_on(page, url: str) -> list[str]:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return page.evaluate("window.__cspViolations")


def _login(context, base: str, username: str, next_path: str):
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{base}/accounts/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"**{next_path}")
    return page


def test_customer_and_staff_pages_report_no_csp_violation(browser, live_server, customer, vehicle):
    paid = RentalFactory(customer=customer, vehicle=vehicle)
    PaymentFactory(rental=paid, amount=Decimal("2900.00"))
    paid.refresh_financials()
    unpaid = RentalFactory(
        customer=customer,
        vehicle=vehicle,
        start_time=paid.start_time + timedelta(days=10),
        end_time=paid.end_time + timedelta(days=10),
    )
    staff = StaffUserFactory(username="csp-clerk", is_superuser=True)
    base = live_server.url
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900}, bypass_csp=False)
    context.add_init_script(COLLECT_VIOLATIONS)

    page = _login(context, base, customer.user.username, "/accounts/orders/")
    customer_pages = [
        "/vehicles/",
        f"/vehicles/{vehicle.pk}/",
        "/accounts/orders/",
        f"/accounts/orders/{paid.pk}/",
        f"/accounts/orders/{unpaid.pk}/",
        f"/accounts/orders/{unpaid.pk}/pay/",
        "/accounts/consumption-report/",
        "/accounts/notifications/",
        f"/rentals/{unpaid.pk}/cancel/",
    ]
    found = {path: _violations_on(page, base + path) for path in customer_pages}
    # the booking page's live quote is a script fetching from this site
    page.goto(f"{base}/rentals/new/{vehicle.pk}/")
    start = timezone.localtime(timezone.now() + timedelta(days=40))
    page.fill("#id_start_time", start.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#id_end_time", (start + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"))
    page.wait_for_selector('#price-breakdown[data-quote-state="ok"]')
    found["/rentals/new/ (live quote)"] = page.evaluate("window.__cspViolations")
    # the countdown of an unpaid order ticks (its script ran)
    page.goto(f"{base}/accounts/orders/{unpaid.pk}/")
    assert page.evaluate("window.__cspViolations") == []
    context.close()

    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900}, bypass_csp=False)
    context.add_init_script(COLLECT_VIOLATIONS)
    page = _login(context, base, staff.username, "/admin/")
    staff_pages = [
        "/admin/",
        "/admin/rentals/rental/",
        f"/admin/rentals/rental/{paid.pk}/change/",
        "/admin/rentals/rental/today/",
        "/admin/accounts/payment/",
        "/admin/accounts/payment/dashboard/",
        f"/admin/rentals/rental/{paid.pk}/cancel/",
    ]
    found.update({path: _violations_on(page, base + path) for path in staff_pages})
    # the dashboard's chart was drawn by its script
    page.goto(f"{base}/admin/accounts/payment/dashboard/")
    assert page.evaluate("!!(window.Chart && Chart.getChart(document.getElementById('net-revenue-chart')))")
    context.close()

    assert {path: v for path, v in found.items() if v} == {}
    assert Rental.objects.count() == 2
