"""The reconciliation runs and discrepancies in the admin (read-only but for
the resolution) and on the finance dashboard."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Discrepancy, Payment, ReconciliationRun
from accounts.reconciliation import service
from accounts.tests.factories import PaymentFactory
from accounts.tests.statements import Line, at, wechat_bill
from rentals.tests.admin_support import staff_in_group

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 1)
RUNS = "/admin/accounts/reconciliationrun/"
DISCREPANCIES = "/admin/accounts/discrepancy/"
DASHBOARD = "/admin/accounts/payment/dashboard/"


@pytest.fixture
def run():
    """A WeChat Pay day with one charge missing on the statement and one missing here."""
    PaymentFactory(
        provider="wechatpay", payment_method=Payment.Method.WECHAT, transaction_id="PAYHERE1",
        amount=Decimal("300.00"), paid_at=at(DAY, 10),
    )  # fmt: skip
    return service.reconcile(
        provider="wechatpay", day=DAY, data=wechat_bill([Line("PAYTHERE1", Decimal("88.00"), at(DAY, 11))])
    )


@pytest.fixture
def finance_client(client):
    client.force_login(staff_in_group("finance"))
    return client


def test_runs_list_and_change_page_are_read_only_with_discrepancies_inline(finance_client, run):
    listing = finance_client.get(RUNS)
    assert listing.status_code == 200
    assert "2026-03-01" in listing.content.decode() or "2026年3月1日" in listing.content.decode()
    page = finance_client.get(f"{RUNS}{run.pk}/change/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "PAYHERE1" in body and "PAYTHERE1" in body
    assert 'name="_save"' not in body
    assert finance_client.post(f"{RUNS}{run.pk}/change/", {"provider": "sandbox"}).status_code == 403
    assert finance_client.get(f"{RUNS}add/").status_code == 403
    assert finance_client.post(f"{RUNS}{run.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ReconciliationRun.objects.get(pk=run.pk).provider == "wechatpay"


def test_resolving_a_discrepancy_saves_only_the_note_and_flag(finance_client, run):
    d = run.discrepancies.get(transaction_id="PAYHERE1")
    page = finance_client.get(f"{DISCREPANCIES}{d.pk}/change/").content.decode()
    assert 'name="note"' in page and 'name="resolved"' in page and 'name="transaction_id"' not in page
    response = finance_client.post(
        f"{DISCREPANCIES}{d.pk}/change/",
        {"resolved": "on", "note": "Paid through the old merchant account", "transaction_id": "PAYFORGED",
         "our_amount": "1.00", "kind": "amount_differs"},
    )  # fmt: skip
    assert response.status_code == 302
    d.refresh_from_db()
    assert d.resolved and d.note == "Paid through the old merchant account"
    assert d.resolved_by.username == "finance-clerk" and d.resolved_at is not None
    assert (d.transaction_id, d.our_amount, d.kind) == ("PAYHERE1", Decimal("300.00"), "missing_there")
    # Re-opening clears who and when.
    finance_client.post(f"{DISCREPANCIES}{d.pk}/change/", {"note": "Not that account after all"})
    d.refresh_from_db()
    assert not d.resolved and d.resolved_by is None and d.resolved_at is None


def test_discrepancies_cannot_be_added_or_deleted(finance_client, run):
    d = run.discrepancies.first()
    assert finance_client.get(f"{DISCREPANCIES}add/").status_code == 403
    assert finance_client.post(f"{DISCREPANCIES}{d.pk}/delete/", {"post": "yes"}).status_code == 403
    finance_client.post(DISCREPANCIES, {"action": "delete_selected", "_selected_action": [d.pk], "post": "yes"})
    assert Discrepancy.objects.filter(pk=d.pk).exists()


def test_discrepancies_filter_by_kind_and_state(finance_client, run):
    run.discrepancies.filter(transaction_id="PAYHERE1").update(resolved=True, resolved_at=timezone.now())

    def listed(query: str) -> set[str]:
        body = finance_client.get(f"{DISCREPANCIES}?{query}").content.decode()
        return {tx for tx in ("PAYHERE1", "PAYTHERE1") if tx in body}

    assert listed("state=open") == {"PAYTHERE1"}
    assert listed("state=resolved") == {"PAYHERE1"}
    assert listed("kind__exact=missing_there") == {"PAYHERE1"}
    assert listed("kind__exact=missing_here") == {"PAYTHERE1"}
    assert listed("kind__exact=amount_differs") == set()


def test_the_dashboard_shows_the_last_run_per_provider_and_the_open_count(finance_client, run):
    older = ReconciliationRun.objects.create(provider="wechatpay", day=date(2026, 2, 27))
    sandbox_run = service.reconcile(
        provider="sandbox", day=DAY, data=service.get_provider("sandbox").fetch_statement(day=DAY)
    )
    body = finance_client.get(DASHBOARD).content.decode()
    assert f'href="{RUNS}{run.pk}/change/"' in body
    assert f'href="{RUNS}{sandbox_run.pk}/change/"' in body
    assert f'href="{RUNS}{older.pk}/change/"' not in body
    assert f'href="{DISCREPANCIES}?state=open"' in body
    assert 'data-provider="wechatpay"' in body and 'data-value="2"' in body
    assert "2 open discrepancies" in body or "2 个未解决的差异" in body


@pytest.mark.parametrize("note", ["", "   \n "])
def test_a_discrepancy_is_not_resolved_without_a_note(finance_client, run, note):
    d = run.discrepancies.get(transaction_id="PAYHERE1")
    response = finance_client.post(
        f"{DISCREPANCIES}{d.pk}/change/", {"resolved": "on", "note": note}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200  # the form again, with the error on the note
    body = response.content.decode()
    assert "Say in the note how this difference was settled before marking it resolved." in body
    assert response.context["adminform"].form.errors["note"]
    d.refresh_from_db()
    assert not d.resolved and d.resolved_by is None and d.resolved_at is None


def test_the_note_required_message_in_chinese(finance_client, run):
    d = run.discrepancies.get(transaction_id="PAYHERE1")
    response = finance_client.post(
        f"{DISCREPANCIES}{d.pk}/change/", {"resolved": "on", "note": ""}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    body = response.content.decode()
    assert "标记为已解决前，请在备注中说明此差异是如何处理的。" in body
    assert "标记为已解决时必填：说明此差异是如何处理的。" in body  # the note's help text


def test_the_model_refuses_a_resolution_without_a_note(run):
    from django.core.exceptions import ValidationError

    d = run.discrepancies.get(transaction_id="PAYHERE1")
    d.resolved = True
    with pytest.raises(ValidationError) as refused:
        d.full_clean()
    assert refused.value.error_dict["note"][0].code == "note_required"
    d.note = "  Paid through the old merchant account  "
    d.full_clean()
    assert d.note == "Paid through the old merchant account"
