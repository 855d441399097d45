"""reconcile_payments without ``--file``: each provider's statement is fetched
through its bill API (the SDKs against the fake gateways on 127.0.0.1) and
reconciled with the ledger (SPEC §14)."""

from decimal import Decimal

import pytest

from accounts.models import Discrepancy, Payment, ReconciliationRun
from accounts.tests.factories import RefundFactory
from accounts.tests.statements import Line, alipay_zip, at, wechat_bill
from accounts.tests.test_reconcile import DAY, ledger, lines_of, run_command

pytestmark = pytest.mark.django_db


def test_alipay_statement_fetched_through_the_bill_api_reconciles_cleanly(fake_alipay, tmp_path):
    first, second, refund = ledger("alipay")
    fake_alipay.bills[DAY.isoformat()] = alipay_zip(DAY, lines_of(first, second, refund))

    code, out, error = run_command("alipay", None, tmp_path)

    assert code == 0, (out, error)
    run = ReconciliationRun.objects.get(provider="alipay", day=DAY)
    assert run.matched_count == 3 and run.discrepancies.count() == 0
    assert run.statement_charge_total == run.ledger_charge_total == Decimal("3665.00")
    assert fake_alipay.calls_of("alipay.data.dataservice.bill.downloadurl.query")


def test_wechatpay_statement_fetched_through_the_bill_api_finds_the_one_difference(wechat_gateway, tmp_path):
    first, second, refund = ledger("wechatpay")
    # The provider has the second charge one fen short.
    lines = lines_of(first, second, refund)
    lines[1].amount -= Decimal("0.01")
    wechat_gateway.bill_csv = wechat_bill(lines)

    code, out, error = run_command("wechatpay", None, tmp_path)

    assert code == 1, (out, error)
    run = ReconciliationRun.objects.get(provider="wechatpay", day=DAY)
    [difference] = run.discrepancies.all()
    assert difference.kind == Discrepancy.Kind.AMOUNT_DIFFERS
    assert difference.transaction_id == second.transaction_id


def test_a_bill_the_provider_does_not_have_exits_2_and_stores_nothing(fake_alipay, tmp_path):
    ledger("alipay")
    code, _, error = run_command("alipay", None, tmp_path)
    assert code == 2 and error
    assert not ReconciliationRun.objects.exists()


def test_a_refund_the_bill_shows_in_progress_that_we_hold_as_failed_is_a_status_difference(wechat_gateway, tmp_path):
    first, second, refund = ledger("wechatpay")
    failed = RefundFactory(
        provider="wechatpay", payment_method=Payment.Method.WECHAT, transaction_id="REFWECHATFAILED1",
        amount=Decimal("500.00"), status=Payment.Status.FAILED, paid_at=None, failure_reason="WeChat Pay refund CLOSED",
        refund_of=second, rental=second.rental,
    )  # fmt: skip
    lines = lines_of(first, second, refund)
    lines.append(
        Line(second.transaction_id, failed.amount, at(DAY, 19), refund_id=failed.transaction_id,
             refund_status="PROCESSING")
    )  # fmt: skip
    wechat_gateway.bill_csv = wechat_bill(lines)

    code, out, error = run_command("wechatpay", None, tmp_path)

    assert code == 1, (out, error)
    run = ReconciliationRun.objects.get(provider="wechatpay", day=DAY)
    [difference] = run.discrepancies.all()
    assert (difference.kind, difference.transaction_id, difference.our_status, difference.their_status) == (
        Discrepancy.Kind.STATUS_DIFFERS, failed.transaction_id, "FAILED", "PROCESSING"
    )  # fmt: skip
    assert (difference.our_amount, difference.their_amount) == (Decimal("500.00"), Decimal("500.00"))
    assert run.matched_count == 3
    failed.refresh_from_db()
    assert failed.status == Payment.Status.FAILED  # reconciliation never touches money
