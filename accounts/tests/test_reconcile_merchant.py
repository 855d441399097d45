"""Statements belong to us (SPEC §17): ``reconcile_payments`` refuses a
statement of another merchant — WeChat Pay's 商户号 against
``WECHATPAY_MCHID``, the account an Alipay bill names (#账号) against
``ALIPAY_PID`` — with a clear error, exit 2 and no run stored; the bills are
fetched through the fake gateways' bill APIs."""

from decimal import Decimal

import pytest

from accounts.models import ReconciliationRun
from accounts.reconciliation import parsers
from accounts.tests.fake_wechatpay import MCHID
from accounts.tests.statements import ALIPAY_PID, PID, Line, alipay_detail_csv, alipay_zip, at, wechat_bill
from accounts.tests.test_reconcile import DAY, ledger, lines_of, run_command

pytestmark = pytest.mark.django_db

OTHER_MCHID = "1900000002"


def test_a_wechat_pay_bill_of_another_merchant_is_refused_and_the_days_run_is_kept(wechat_gateway, tmp_path):
    first, second, refund = ledger("wechatpay")
    wechat_gateway.bill_csv = wechat_bill(lines_of(first, second, refund))
    assert run_command("wechatpay", None, tmp_path)[0] == 0
    kept = ReconciliationRun.objects.get()

    wechat_gateway.bill_csv = wechat_bill(lines_of(first, second, refund), mchid=OTHER_MCHID)
    code, _out, error = run_command("wechatpay", None, tmp_path)

    assert code == 2
    assert f"merchant {OTHER_MCHID}" in error and f"ours ({MCHID})" in error and "Nothing was stored" in error
    assert list(ReconciliationRun.objects.values_list("pk", "statement_sha256")) == [(kept.pk, kept.statement_sha256)]


def test_a_wechat_pay_bill_with_one_row_of_another_merchant_is_refused_from_a_file(settings, tmp_path):
    settings.WECHATPAY_MCHID = MCHID
    first, second, refund = ledger("wechatpay")
    ours = wechat_bill(lines_of(first, second, refund)).split(b"\r\n")
    theirs = wechat_bill(lines_of(first, second, refund), mchid=OTHER_MCHID).split(b"\r\n")
    mixed = b"\r\n".join([*ours[:3], theirs[3], *ours[4:]])

    code, _out, error = run_command("wechatpay", mixed, tmp_path)

    assert code == 2 and "Line 4" in error and f"merchant {OTHER_MCHID}" in error
    assert not ReconciliationRun.objects.exists()


def test_a_wechat_pay_bill_without_its_merchant_column_is_refused_when_the_merchant_is_set(settings):
    settings.WECHATPAY_MCHID = MCHID
    bill = wechat_bill([Line("PAYX1", Decimal("10.00"), at(DAY))]).replace("商户号,".encode(), "商户编号,".encode(), 1)
    with pytest.raises(parsers.StatementError, match="商户号"):
        list(parsers.parse_statement("wechatpay", bill, day=DAY, merchant=MCHID))


def test_an_alipay_bill_of_another_account_is_refused(fake_alipay, settings, tmp_path):
    settings.ALIPAY_PID = "2088000000000099"
    first, second, refund = ledger("alipay")
    fake_alipay.bills[DAY.isoformat()] = alipay_zip(DAY, lines_of(first, second, refund))

    code, _out, error = run_command("alipay", None, tmp_path)

    assert code == 2
    assert f"account {PID}" in error and "ALIPAY_PID 2088000000000099" in error and "Nothing was stored" in error
    assert not ReconciliationRun.objects.exists()


@pytest.mark.parametrize("account", [PID, ALIPAY_PID])  # the PID with Alipay's account suffix, or bare
def test_an_alipay_bill_of_our_account_is_reconciled(fake_alipay, settings, tmp_path, account):
    settings.ALIPAY_PID = ALIPAY_PID
    first, second, refund = ledger("alipay")
    lines = lines_of(first, second, refund)
    fake_alipay.bills[DAY.isoformat()] = alipay_zip(DAY, lines, detail=alipay_detail_csv(DAY, lines, account=account))

    code, out, error = run_command("alipay", None, tmp_path)

    assert code == 0, (out, error)
    assert ReconciliationRun.objects.get().matched_count == 3


def test_an_alipay_bill_that_names_no_account_is_refused_when_the_pid_is_set(settings, tmp_path):
    first, second, refund = ledger("alipay")
    lines = lines_of(first, second, refund)
    data = alipay_zip(DAY, lines, detail=alipay_detail_csv(DAY, lines, account=None))
    assert run_command("alipay", data, tmp_path)[0] == 0  # ALIPAY_PID unset: not checked
    ReconciliationRun.objects.all().delete()

    settings.ALIPAY_PID = ALIPAY_PID
    code, _out, error = run_command("alipay", data, tmp_path)

    assert code == 2 and "#账号" in error
    assert not ReconciliationRun.objects.exists()
