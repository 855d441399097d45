"""Finance issues and rejects e-invoice requests in the admin (SPEC §20):
counter staff may not, the customer is told in their language, the list
filters by status, a month's requests download as CSV, and the finance
dashboard counts the requests waiting."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from accounts.models import Notification
from accounts.services import invoices
from accounts.tests.invoice_support import CREDIT_CODE, completed_with_fees
from customers.tests.factories import CustomerFactory
from rentals.tests.admin_support import NOW, staff_in_group
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

COMPANY = invoices.InvoiceDetails("COMPANY", "福州某某科技有限公司", CREDIT_CODE, "fin@example.com")


def issue_url(invoice):
    return reverse("admin:accounts_invoicerequest_issue", args=[invoice.pk])


def reject_url(invoice):
    return reverse("admin:accounts_invoicerequest_reject", args=[invoice.pk])


@pytest.fixture
def invoice(frozen, vehicle, customer, staff_user):
    rental = completed_with_fees(vehicle=vehicle, customer=customer, staff=staff_user)
    return invoices.request_invoice(rental=rental, details=COMPANY)


@pytest.fixture
def finance_user(db):
    return staff_in_group("finance")


@pytest.fixture
def finance_client(client, finance_user):
    client.force_login(finance_user)
    return client


@pytest.fixture
def counter_client(client):
    client.force_login(staff_in_group("counter"))
    return client


# --- issue and reject ----------------------------------------------------------------------


def test_finance_issues_an_invoice_and_the_customer_is_told(finance_client, finance_user, invoice, customer):
    page = finance_client.get(reverse("admin:accounts_invoicerequest_change", args=[invoice.pk]))
    assert page.status_code == 200
    assert f'href="{issue_url(invoice)}"' in page.content.decode()
    form_page = finance_client.get(issue_url(invoice))
    assert form_page.status_code == 200
    assert 'id="invoice-issue-form"' in form_page.content.decode()
    assert finance_client.get(reject_url(invoice)).status_code == 200

    response = finance_client.post(
        issue_url(invoice), {"invoice_number": "26352000000012345678", "issued_on": "2026-03-09"}
    )

    assert response.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.status, invoice.invoice_number, invoice.handled_by) == (
        "ISSUED",
        "26352000000012345678",
        finance_user,
    )
    assert invoice.issued_at.date() == NOW.date() - timedelta(days=1)
    notice = Notification.objects.get(user=customer.user, notification_type=Notification.Type.INVOICE_ISSUED)
    assert (notice.kind, notice.rental_id) == ("invoice_issued", invoice.rental_id)
    with translation.override("zh-hans"):
        assert notice.title_text == f"订单 #{invoice.rental_id} 的发票已开具"
        assert "26352000000012345678" in notice.message_text and "¥1,250.00" in notice.message_text
    with translation.override("en"):
        assert notice.title_text == f"Invoice for order #{invoice.rental_id} issued"
        assert "fin@example.com" in notice.message_text


def test_issued_today_is_stamped_now(finance_client, invoice):
    finance_client.post(issue_url(invoice), {"invoice_number": "A1", "issued_on": NOW.date().isoformat()})

    invoice.refresh_from_db()
    assert invoice.issued_at == NOW


def test_finance_rejects_with_a_reason_and_the_customer_is_told(finance_client, invoice, customer):
    response = finance_client.post(reject_url(invoice), {"reason": "抬头与税号不符"})

    assert response.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.status, invoice.reject_reason) == ("REJECTED", "抬头与税号不符")
    notice = Notification.objects.get(user=customer.user, notification_type=Notification.Type.INVOICE_REJECTED)
    with translation.override("en"):
        assert notice.title_text == f"Invoice request for order #{invoice.rental_id} rejected"
        assert notice.message_text.startswith("Reason: 抬头与税号不符.")
    with translation.override("zh-hans"):
        assert notice.message_text.startswith("原因：抬头与税号不符。")


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_rejection_needs_a_reason(finance_client, invoice, reason):
    response = finance_client.post(reject_url(invoice), {"reason": reason})

    assert response.status_code == 400
    assert "reason" in response.context["form"].errors
    invoice.refresh_from_db()
    assert invoice.status == "REQUESTED"
    assert not Notification.objects.filter(notification_type=Notification.Type.INVOICE_REJECTED).exists()


@pytest.mark.parametrize(
    "data",
    [
        {"invoice_number": "", "issued_on": "2026-03-09"},
        {"invoice_number": "12 34", "issued_on": "2026-03-09"},
        {"invoice_number": "=HYPERLINK()", "issued_on": "2026-03-09"},
        {"invoice_number": "1234", "issued_on": "2026-03-11"},  # tomorrow
        {"invoice_number": "1234", "issued_on": "2024-01-01"},
        {"invoice_number": "1234", "issued_on": "not a date"},
        {"invoice_number": "1" * 41, "issued_on": "2026-03-09"},
    ],
)
def test_an_issue_with_absurd_input_is_refused(finance_client, invoice, data):
    response = finance_client.post(issue_url(invoice), data)

    assert response.status_code == 400
    invoice.refresh_from_db()
    assert invoice.status == "REQUESTED"


def test_an_invoice_number_is_used_once(finance_client, invoice, staff_user):
    other = completed_with_fees(vehicle=VehicleFactory(), customer=CustomerFactory(), staff=staff_user)
    second = invoices.request_invoice(rental=other, details=COMPANY)
    finance_client.post(issue_url(invoice), {"invoice_number": "SAME1", "issued_on": "2026-03-09"})

    response = finance_client.post(issue_url(second), {"invoice_number": "SAME1", "issued_on": "2026-03-09"})

    assert response.status_code == 400
    second.refresh_from_db()
    assert second.status == "REQUESTED"


def test_an_issued_request_is_not_issued_or_rejected_again(finance_client, invoice):
    finance_client.post(issue_url(invoice), {"invoice_number": "FIRST1", "issued_on": "2026-03-09"})

    again = finance_client.post(issue_url(invoice), {"invoice_number": "SECOND2", "issued_on": "2026-03-09"})
    reject = finance_client.post(reject_url(invoice), {"reason": "late"})

    assert again.status_code == reject.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.status, invoice.invoice_number, invoice.reject_reason) == ("ISSUED", "FIRST1", "")
    assert Notification.objects.filter(kind__startswith="invoice_").count() == 1


def test_counter_staff_get_403_for_issue_and_reject(counter_client, invoice):
    for url in (issue_url(invoice), reject_url(invoice)):
        assert counter_client.get(url).status_code == 403
    assert (
        counter_client.post(issue_url(invoice), {"invoice_number": "X1", "issued_on": "2026-03-09"}).status_code == 403
    )
    assert counter_client.post(reject_url(invoice), {"reason": "no"}).status_code == 403
    assert counter_client.get(reverse("admin:accounts_invoicerequest_changelist")).status_code == 403
    assert counter_client.get(reverse("admin:accounts_invoicerequest_export") + "?month=2026-03").status_code == 403
    invoice.refresh_from_db()
    assert invoice.status == "REQUESTED"
    assert not Notification.objects.filter(kind__startswith="invoice_").exists()


def test_the_admin_changes_nothing_by_itself(finance_client, invoice):
    change = reverse("admin:accounts_invoicerequest_change", args=[invoice.pk])
    finance_client.post(change, {"title": "改掉", "status": "ISSUED"})

    invoice.refresh_from_db()
    assert (invoice.title, invoice.status) == ("福州某某科技有限公司", "REQUESTED")
    assert finance_client.get(reverse("admin:accounts_invoicerequest_add")).status_code == 403


# --- the list, the CSV and the dashboard -------------------------------------------------


def test_the_list_filters_by_status(finance_client, invoice, staff_user):
    other = completed_with_fees(vehicle=VehicleFactory(), customer=CustomerFactory(), staff=staff_user)
    issued = invoices.request_invoice(rental=other, details=COMPANY)
    invoices.issue_invoice(invoice_id=issued.pk, invoice_number="N1", issued_at=NOW, by_user=staff_user)
    url = reverse("admin:accounts_invoicerequest_changelist")

    waiting = finance_client.get(url + "?status__exact=REQUESTED")
    done = finance_client.get(url + "?status__exact=ISSUED")

    assert [row.pk for row in waiting.context["cl"].result_list] == [invoice.pk]
    assert [row.pk for row in done.context["cl"].result_list] == [issued.pk]


def test_the_csv_lists_a_months_requests_with_chinese_headers(finance_client, invoice, staff_user, time_machine):
    # another request made in April is not in March's file
    time_machine.move_to(NOW + timedelta(days=30), tick=False)
    april = completed_with_fees(vehicle=VehicleFactory(), customer=CustomerFactory(), staff=staff_user)
    invoices.request_invoice(rental=april, details=COMPANY)

    response = finance_client.get(reverse("admin:accounts_invoicerequest_export") + "?month=2026-03")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="invoice_requests_202603.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == [
        "订单", "客户", "发票类型", "发票抬头", "统一社会信用代码", "电子邮箱", "金额",
        "状态", "发票号码", "开票日期", "驳回原因", "申请时间",
    ]  # fmt: skip
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["订单"] == str(invoice.rental_id)
    assert (row["发票类型"], row["统一社会信用代码"], row["金额"], row["状态"]) == (
        "企业",
        CREDIT_CODE,
        "1250.00",
        "已申请",
    )
    assert row["申请时间"] == "2026-03-10 10:00:00"


def test_the_csv_speaks_english_to_english_staff(finance_client, invoice):
    finance_client.cookies["django_language"] = "en"
    response = finance_client.get(reverse("admin:accounts_invoicerequest_export") + "?month=2026-03")

    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Order", "Customer", "Invoice for"]
    assert rows[1][2] == "Company"


@pytest.mark.parametrize("month", ["", "2026-13", "March", "2026-3"])
def test_a_bad_month_goes_back_to_the_list(finance_client, invoice, month):
    response = finance_client.get(reverse("admin:accounts_invoicerequest_export") + f"?month={month}")

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:accounts_invoicerequest_changelist")


def test_the_dashboard_counts_the_requests_waiting(finance_client, invoice, staff_user):
    for _ in range(2):
        rental = completed_with_fees(vehicle=VehicleFactory(), customer=CustomerFactory(), staff=staff_user)
        done = invoices.request_invoice(rental=rental, details=COMPANY)
    invoices.reject_invoice(invoice_id=done.pk, reason="重复申请", by_user=staff_user)

    response = finance_client.get(reverse("admin:accounts_payment_dashboard"))

    assert response.status_code == 200
    assert response.context["invoices_waiting"] == 2
    page = response.content.decode()
    assert 'id="invoices-waiting" data-value="2"' in page
    assert "2 条发票申请待处理" in page
    assert f'href="{reverse("admin:accounts_invoicerequest_changelist")}?status__exact=REQUESTED"' in page


def test_the_amount_is_read_again_at_issue(finance_client, invoice):
    from accounts.tests.factories import RefundFactory

    RefundFactory(rental=invoice.rental, amount=Decimal("50.00"), goodwill_amount=Decimal("50.00"))
    invoice.rental.refresh_financials()

    finance_client.post(issue_url(invoice), {"invoice_number": "AMT1", "issued_on": "2026-03-09"})

    invoice.refresh_from_db()
    assert invoice.amount == Decimal("1200.00")
