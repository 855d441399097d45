"""reconcile_payments through the sandbox's own statement (its bill API), and
the daily job that runs yesterday's reconciliation."""

from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts import services, tasks
from accounts.models import Discrepancy, Payment, ReconciliationRun
from accounts.providers import get_provider
from accounts.reconciliation import parsers
from rentals.services import cancel_rental
from rentals.tests.clock import NOW

pytestmark = pytest.mark.django_db

DAY = NOW.date()  # 2026-03-01 in Shanghai


def _paid_then_cancelled(client, rental):
    """Paid through the sandbox checkout page, then cancelled: a charge and its refund, both at the sandbox."""
    client.force_login(rental.customer.user)
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=rental.customer.user)
    client.post(reverse("payments:sandbox_checkout", args=[charge.transaction_id]), {"outcome": "succeeded"})
    cancel_rental(rental=rental, reason="plans changed", by_user=rental.customer.user)
    charge.refresh_from_db()
    refund = Payment.objects.get(transaction_type=Payment.TransactionType.REFUND)
    assert (charge.status, refund.status) == (Payment.Status.PAID, Payment.Status.REFUNDED)
    return charge, refund


def _command(day: date) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("reconcile_payments", "--provider", "sandbox", "--date", day.isoformat(), stdout=out)
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


def test_the_sandbox_statement_lists_the_days_charges_and_refunds(client, booked_rental):
    charge, refund = _paid_then_cancelled(client, booked_rental)
    rows = list(parsers.parse_statement("sandbox", get_provider("sandbox").fetch_statement(day=DAY), day=DAY))
    assert [(r.kind, r.transaction_id, r.amount, r.raw_status) for r in rows] == [
        ("charge", charge.transaction_id, Decimal("2900.00"), "succeeded"),
        ("refund", refund.transaction_id, Decimal("2900.00"), "refunded"),
    ]
    assert get_provider("sandbox").fetch_statement(day=DAY - timedelta(days=1)).count(b"\n") == 3  # title, header, end


def test_the_command_reconciles_a_sandbox_day_through_its_bill_api(client, booked_rental):
    _paid_then_cancelled(client, booked_rental)
    code, out = _command(DAY)
    assert code == 0, out
    run = ReconciliationRun.objects.get(provider="sandbox", day=DAY)
    assert run.source == "api" and run.matched_count == 2 and not run.discrepancies.exists()
    assert (run.statement_charge_total, run.ledger_charge_total) == (Decimal("2900.00"), Decimal("2900.00"))
    assert (run.statement_refund_total, run.ledger_refund_total) == (Decimal("2900.00"), Decimal("2900.00"))


def test_a_refund_the_sandbox_refused_shows_as_missing_there(client, booked_rental, settings):
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "refund_failed"
    client.force_login(booked_rental.customer.user)
    charge = services.start_payment(
        rental=booked_rental, method=Payment.Method.ALIPAY, user=booked_rental.customer.user
    )
    client.post(reverse("payments:sandbox_checkout", args=[charge.transaction_id]), {"outcome": "succeeded"})
    cancel_rental(rental=booked_rental, reason="plans changed", by_user=booked_rental.customer.user)
    refund = Payment.objects.get(transaction_type=Payment.TransactionType.REFUND)
    assert refund.status == Payment.Status.FAILED
    # Both sides agree the refund failed: nothing to report.
    assert _command(DAY)[0] == 0
    # Someone marks it refunded here by hand: the statement disagrees.
    Payment.objects.filter(pk=refund.pk).update(status=Payment.Status.REFUNDED, paid_at=NOW)
    code, out = _command(DAY)
    assert code == 1 and refund.transaction_id in out
    (d,) = Discrepancy.objects.all()
    assert (d.kind, d.our_status, d.their_status) == ("status_differs", "REFUNDED", "refund_failed")


def test_the_daily_job_reconciles_yesterday_for_each_configured_provider(client, booked_rental, time_machine):
    _paid_then_cancelled(client, booked_rental)
    time_machine.move_to(NOW + timedelta(days=1, hours=1), tick=False)  # 10:00 the next day
    assert tasks.reconcile_payments.apply().get() == {"sandbox": 0}
    run = ReconciliationRun.objects.get()
    assert (run.provider, run.day, run.matched_count) == ("sandbox", DAY, 2)


def test_the_daily_job_is_in_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["reconcile_payments"]
    assert entry["task"] == tasks.reconcile_payments.name
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({10}, {0})
    assert settings.CELERY_TIMEZONE == "Asia/Shanghai"


def test_the_command_fails_clearly_when_the_sandbox_is_off(settings):
    settings.DEBUG = False
    settings.PAYMENT_SANDBOX_ENABLED = False
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as raised:
        call_command("reconcile_payments", "--provider", "sandbox", "--date", DAY.isoformat(), stdout=StringIO())
    assert raised.value.returncode == 2 and "switched off" in str(raised.value)
    assert not ReconciliationRun.objects.exists()


def test_seed_demo_shows_a_clean_day_and_a_day_with_discrepancies():
    call_command("seed_demo", stdout=StringIO())
    clean, messy = sorted(ReconciliationRun.objects.filter(provider="sandbox"), key=lambda r: r.discrepancies.count())
    assert clean.discrepancies.count() == 0 and clean.matched_count > 0
    assert sorted(messy.discrepancies.values_list("kind", flat=True)) == [
        "amount_differs",
        "missing_here",
        "missing_there",
    ]
    call_command("seed_demo", stdout=StringIO())
    assert ReconciliationRun.objects.count() == 2


def test_the_daily_job_goes_on_when_a_providers_statement_is_not_out_yet(
    client, booked_rental, time_machine, settings, monkeypatch, caplog
):
    from accounts.providers import PROVIDERS, PaymentProvider, ProviderUnavailable

    class NotYet(PaymentProvider):
        name = "wechatpay"

        def fetch_statement(self, *, day):
            raise ProviderUnavailable(detail="bill not generated yet")

    monkeypatch.setitem(PROVIDERS, "wechatpay", NotYet)
    settings.WECHATPAY_MCHID = "1900000001"
    _paid_then_cancelled(client, booked_rental)
    time_machine.move_to(NOW + timedelta(days=1, hours=1), tick=False)
    results = tasks.reconcile_payments()
    assert results["sandbox"] == 0 and "bill not generated yet" in results["wechatpay"]
    assert list(ReconciliationRun.objects.values_list("provider", flat=True)) == ["sandbox"]
    assert "statement unavailable" in caplog.text
