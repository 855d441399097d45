"""WeChat Pay Native in a real browser: the pay page shows the QR code of the
order's code_url, waits (under the site's content security policy) and moves
on to "paid" by itself once WeChat Pay's notification has arrived."""

import urllib.request
from pathlib import Path

import pytest

from accounts.models import Payment
from accounts.tests.accessibility import assert_no_serious_axe_violations
from customers.tests.factories import TEST_PASSWORD, CustomerFactory, UserFactory
from rentals.tests.factories import RentalFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path("/tmp/wechatpay-screens")


@pytest.fixture
def rental(vehicle):
    customer = CustomerFactory(user=UserFactory(username="wxpayer"))
    return RentalFactory(customer=customer, vehicle=vehicle)


def _context(browser, *, language="en", phone=False, csp=True):
    locale = "zh-CN" if language == "zh" else "en-US"
    viewport = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
    context = browser.new_context(
        locale=locale, viewport=viewport, extra_http_headers={"Accept-Language": locale}, bypass_csp=not csp
    )
    context.set_default_timeout(15000)
    return context


def _open_the_qr_page(page, live_server, rental):
    page.goto(f"{live_server.url}/accounts/login/?next=/accounts/orders/{rental.pk}/pay/")
    page.fill("#id_username", "wxpayer")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#payment-form")
    page.check("input[name=payment_method][value=WECHAT]")
    page.click("#pay-submit")
    page.wait_for_selector("#wechat-qr")


def _post_notification(live_server, headers, body) -> int:
    request = urllib.request.Request(
        f"{live_server.url}/api/payments/callback/wechatpay/",
        data=body,
        headers={**headers, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def test_desktop_wechat_pay_shows_a_qr_code_and_moves_on_to_paid_by_itself(
    browser, live_server, rental, wechat_gateway
):
    context = _context(browser, csp=True)
    page = context.new_page()
    csp_errors = []
    page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    _open_the_qr_page(page, live_server, rental)

    charge = Payment.objects.get(rental=rental)
    assert charge.provider == "wechatpay"
    assert page.get_attribute("#charge-amount", "data-amount") == "2900.00"
    qr = page.locator("#wechat-qr")
    assert qr.is_visible()
    assert page.evaluate("document.getElementById('wechat-qr').naturalWidth") > 0  # the SVG rendered
    box = qr.bounding_box()
    assert box["width"] >= 200 and box["height"] >= 200
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "desktop-qr.png"), full_page=True)

    # The customer scans and pays; WeChat Pay notifies the site.
    headers, body = wechat_gateway.pay(charge.transaction_id)
    assert _post_notification(live_server, headers, body) == 204

    page.wait_for_url(f"**/payments/{charge.transaction_id}/return/")
    assert "Payment received" in page.text_content("#payment-result")
    page.screenshot(path=str(SCREENSHOTS / "desktop-paid.png"), full_page=True)
    assert csp_errors == []
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    context.close()


@pytest.mark.parametrize("language, phone", [("zh", False), ("en", False), ("zh", True)])
def test_the_qr_page_is_accessible(browser, live_server, rental, wechat_gateway, language, phone):
    context = _context(browser, language=language, phone=phone, csp=False)
    page = context.new_page()
    _open_the_qr_page(page, live_server, rental)

    assert_no_serious_axe_violations(page, f"WeChat Pay QR page ({language}{', phone' if phone else ''})")
    assert page.get_attribute("html", "lang").startswith("zh" if language == "zh" else "en")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"qr-{language}{'-phone' if phone else ''}.png"), full_page=True)
    # No horizontal scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    context.close()
