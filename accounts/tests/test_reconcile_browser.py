"""A finance clerk reviews a day's reconciliation in a real browser: the
dashboard's reconciliation block, the open discrepancies, resolving one with a
note; WCAG 2.1 AA (axe: no serious or critical violation), Chinese and English,
the discrepancy page also at phone width."""

from datetime import date
from decimal import Decimal

import pytest

from accounts.models import Discrepancy, Payment
from accounts.reconciliation import service
from accounts.tests.accessibility import assert_no_serious_axe_violations
from accounts.tests.factories import PaymentFactory
from accounts.tests.statements import at, wechat_bill
from customers.tests.factories import TEST_PASSWORD
from rentals.tests.admin_support import ensure_finance_group, staff_in_group

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DAY = date(2026, 3, 1)


@pytest.mark.parametrize("language, locale", [("zh-hans", "zh-CN"), ("en", "en-US")])
def test_a_finance_clerk_resolves_a_discrepancy(browser, live_server, language, locale):
    ensure_finance_group()
    staff_in_group("finance", username="books")
    PaymentFactory(
        provider="wechatpay", payment_method=Payment.Method.WECHAT, transaction_id="PAYHERE1",
        amount=Decimal("300.00"), paid_at=at(DAY, 10),
    )  # fmt: skip
    run = service.reconcile(provider="wechatpay", day=DAY, data=wechat_bill([]))
    (d,) = run.discrepancies.all()
    base = live_server.url
    context = browser.new_context(
        locale=locale, viewport={"width": 1280, "height": 900}, extra_http_headers={"Accept-Language": locale}
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "books")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/admin/")

    page.goto(f"{base}/admin/accounts/payment/dashboard/")
    row = page.locator('#reconciliation-runs tr[data-provider="wechatpay"]')
    assert row.count() == 1 and "2026-03-01" in row.inner_text()
    assert "1" in page.inner_text("#reconciliation-open")
    assert_no_serious_axe_violations(page, f"finance dashboard ({language})")

    page.click("#reconciliation-open a")
    page.wait_for_selector("#result_list")
    assert "PAYHERE1" in page.inner_text("#result_list")
    assert_no_serious_axe_violations(page, f"open discrepancies ({language})")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/admin/accounts/discrepancy/{d.pk}/change/")
    assert_no_serious_axe_violations(page, f"discrepancy at phone width ({language})")
    page.check("#id_resolved")
    page.fill("#id_note", "Charged twice by the terminal; refunded at the desk")
    page.click('input[name="_save"]')
    page.wait_for_selector("#result_list, .messagelist")
    d.refresh_from_db()
    assert d.resolved and d.note.startswith("Charged twice") and d.resolved_by.username == "books"
    context.close()
    assert Discrepancy.objects.filter(resolved=False).count() == 0
