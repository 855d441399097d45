"""reconcile_payments (SPEC §14): the providers' statements in their documented
layouts, built here, matched with a ledger made with the factories."""

from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from accounts.models import Discrepancy, Payment, ReconciliationRun
from accounts.reconciliation import parsers
from accounts.tests.factories import PaymentFactory, RefundFactory
from accounts.tests.statements import (
    Line,
    alipay_detail_csv,
    alipay_zip,
    at,
    wechat_bill,
)

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 1)
METHOD = {"alipay": Payment.Method.ALIPAY, "wechatpay": Payment.Method.WECHAT}


def ledger(provider: str):
    """A day of money through ``provider``: two charges, one refund of the first."""
    method = METHOD[provider]
    first = PaymentFactory(
        provider=provider, payment_method=method, transaction_id=f"PAY{provider.upper()}1",
        amount=Decimal("2900.00"), paid_at=at(DAY, 9, 30),
    )  # fmt: skip
    second = PaymentFactory(
        provider=provider, payment_method=method, transaction_id=f"PAY{provider.upper()}2",
        amount=Decimal("765.00"), paid_at=at(DAY, 11, 5, 9),
    )  # fmt: skip
    refund = RefundFactory(
        provider=provider, payment_method=method, transaction_id=f"REF{provider.upper()}1",
        amount=Decimal("2000.00"), paid_at=at(DAY, 18), refund_of=first, rental=first.rental,
    )  # fmt: skip
    return first, second, refund


def lines_of(*payments, fee=Decimal("0.60")) -> list[Line]:
    out = []
    for p in payments:
        if p.transaction_type == Payment.TransactionType.REFUND:
            out.append(Line(p.refund_of.transaction_id, p.amount, p.paid_at, refund_id=p.transaction_id))
        else:
            out.append(Line(p.transaction_id, p.amount, p.paid_at, fee=fee))
    return out


def statement(provider: str, lines: list[Line], day: date = DAY) -> bytes:
    return alipay_zip(day, lines) if provider == "alipay" else wechat_bill(lines)


def run_command(provider: str, data: bytes | None, tmp_path, day: date = DAY) -> tuple[int, str, str]:
    """(exit code, stdout, error message)."""
    args = ["--provider", provider, "--date", day.isoformat()]
    if data is not None:
        path = tmp_path / f"statement-{provider}"
        path.write_bytes(data)
        args += ["--file", str(path)]
    out = StringIO()
    try:
        with translation.override("en"):
            call_command("reconcile_payments", *args, stdout=out)
    except SystemExit as exc:
        return exc.code, out.getvalue(), ""
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)
    return 0, out.getvalue(), ""


@pytest.mark.parametrize("provider", ["alipay", "wechatpay"])
def test_a_documented_statement_matching_the_ledger_is_clean(provider, tmp_path):
    first, second, refund = ledger(provider)
    code, out, _ = run_command(provider, statement(provider, lines_of(first, second, refund)), tmp_path)
    assert code == 0, out
    run = ReconciliationRun.objects.get(provider=provider, day=DAY)
    assert run.discrepancies.count() == 0
    assert (run.statement_charge_count, run.statement_charge_total) == (2, Decimal("3665.00"))
    assert (run.ledger_charge_count, run.ledger_charge_total) == (2, Decimal("3665.00"))
    assert (run.statement_refund_count, run.statement_refund_total) == (1, Decimal("2000.00"))
    assert (run.ledger_refund_count, run.ledger_refund_total) == (1, Decimal("2000.00"))
    assert run.matched_count == 3 and run.statement_rows == 3
    assert run.fees_total == Decimal("1.20")  # information, never a difference
    assert "Clean" in out and "¥3,665.00" in out


def test_the_alipay_detail_csv_alone_is_read_too(tmp_path):
    first, second, refund = ledger("alipay")
    code, out, _ = run_command("alipay", alipay_detail_csv(DAY, lines_of(first, second, refund)), tmp_path)
    assert code == 0, out


def test_a_gzip_wechat_bill_is_read_and_a_cut_one_refused(tmp_path):
    import gzip

    first, second, refund = ledger("wechatpay")
    packed = gzip.compress(wechat_bill(lines_of(first, second, refund)))
    assert run_command("wechatpay", packed, tmp_path)[0] == 0
    code, _, error = run_command("wechatpay", packed[:-12], tmp_path, day=DAY)
    assert code == 2 and "gzip statement is cut" in error


def test_an_alipay_csv_saved_again_as_utf8_is_read_too(tmp_path):
    first, second, refund = ledger("alipay")
    detail = alipay_detail_csv(DAY, lines_of(first, second, refund)).decode("gbk").encode("utf-8")
    assert run_command("alipay", detail, tmp_path)[0] == 0


def test_an_alipay_refund_row_without_its_request_number_is_not_taken_for_the_charge(tmp_path):
    first, second, refund = ledger("alipay")
    # The charge itself is not on the statement; a 退款 row with no 退款批次号/请求号 carries its 商户订单号.
    lines = [*lines_of(second), Line(first.transaction_id, refund.amount, refund.paid_at, refund=True)]
    code, _, _ = run_command("alipay", alipay_zip(DAY, lines), tmp_path)
    assert code == 1
    found = {(d.kind, d.transaction_type, d.transaction_id) for d in Discrepancy.objects.all()}
    assert found == {
        ("missing_there", "CHARGE", first.transaction_id),
        ("missing_there", "REFUND", refund.transaction_id),
        ("missing_here", "REFUND", first.transaction_id),
    }


def test_money_is_read_exactly():
    rows = list(parsers.parse_statement("wechatpay", wechat_bill([Line("PAYX", Decimal("0.10"), at(DAY))]), day=DAY))
    assert rows[0].amount == Decimal("0.10") and isinstance(rows[0].amount, Decimal)


@pytest.mark.parametrize("provider", ["alipay", "wechatpay"])
def test_each_kind_of_discrepancy_is_found_and_only_it(provider, tmp_path):
    method = METHOD[provider]
    first, second, refund = ledger(provider)
    only_here = PaymentFactory(
        provider=provider, payment_method=method, transaction_id="PAYONLYHERE", amount=Decimal("300.00"),
        paid_at=at(DAY, 20),
    )  # fmt: skip
    lines = lines_of(first, second, refund)
    lines[1] = Line(second.transaction_id, Decimal("765.01"), second.paid_at)  # off by ¥0.01
    lines.append(Line("PAYONLYTHERE", Decimal("120.00"), at(DAY, 21)))
    if provider == "wechatpay":
        lines[2] = Line(first.transaction_id, refund.amount, refund.paid_at, refund_id=refund.transaction_id,
                        refund_status="ABNORMAL")  # fmt: skip
    code, out, _ = run_command(provider, statement(provider, lines), tmp_path)
    assert code == 1
    found = {
        (d.kind, d.transaction_id, d.our_amount, d.their_amount, d.our_status, d.their_status)
        for d in Discrepancy.objects.filter(run__provider=provider)
    }
    expected = {
        ("missing_there", "PAYONLYHERE", Decimal("300.00"), None, "PAID", ""),
        ("missing_here", "PAYONLYTHERE", None, Decimal("120.00"), "", "交易" if provider == "alipay" else "SUCCESS"),
        ("amount_differs", second.transaction_id, Decimal("765.00"), Decimal("765.01"), "PAID",
         "交易" if provider == "alipay" else "SUCCESS"),
    }  # fmt: skip
    if provider == "wechatpay":
        expected.add(
            ("status_differs", refund.transaction_id, Decimal("2000.00"), Decimal("2000.00"), "REFUNDED", "ABNORMAL")
        )
    assert found == expected
    assert only_here.transaction_id in out and "PAYONLYTHERE" in out and "OPEN" in out
    # Nothing about money changed.
    assert Payment.objects.get(pk=second.pk).amount == Decimal("765.00")
    assert Payment.objects.get(pk=refund.pk).status == Payment.Status.REFUNDED


def test_a_refund_the_sandbox_shows_failed_that_we_show_refunded(tmp_path):
    charge = PaymentFactory(provider="sandbox", transaction_id="PAYSBX1", amount=Decimal("100.00"), paid_at=at(DAY, 9))
    refund = RefundFactory(
        provider="sandbox", transaction_id="REFSBX1", amount=Decimal("100.00"), paid_at=at(DAY, 10),
        refund_of=charge, rental=charge.rental,
    )  # fmt: skip
    data = parsers.build_sandbox_statement(
        DAY,
        [
            ("PAYSBX1", "charge", "succeeded", Decimal("100.00"), Decimal(0), at(DAY, 9)),
            ("REFSBX1", "refund", "refund_failed", Decimal("100.00"), Decimal(0), at(DAY, 10)),
        ],
    )
    code, _, _ = run_command("sandbox", data, tmp_path)
    assert code == 1
    (d,) = Discrepancy.objects.all()
    assert (d.kind, d.transaction_id, d.our_status, d.their_status) == (
        "status_differs", refund.transaction_id, "REFUNDED", "refund_failed"
    )  # fmt: skip


def _cut_row(bill: bytes) -> bytes:
    """The header, one row and the start of the next."""
    parts = bill.split(b"\r\n")
    return parts[0] + b"\r\n" + parts[1] + b"\r\n" + parts[2][:40]


def _without_totals(detail: bytes) -> bytes:
    text = detail.decode("gbk")
    return text[: text.index("#交易合计")].encode("gbk")


def _cut(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


@pytest.mark.parametrize(
    "provider,make,message",
    [
        ("alipay", lambda lines: _cut(alipay_zip(DAY, lines)), "damaged or truncated"),
        ("alipay", lambda lines: alipay_zip(DAY, lines, detail=alipay_detail_csv(DAY, lines, cut_after=2)), "cut"),
        ("alipay", lambda lines: _without_totals(alipay_detail_csv(DAY, lines)), "no #交易合计 line"),
        ("wechatpay", lambda lines: wechat_bill(lines, with_summary=False), "ends before its totals"),
        ("wechatpay", lambda lines: wechat_bill(lines, summary_count=5), "says 5 rows"),
        ("wechatpay", lambda lines: _cut_row(wechat_bill(lines)), "values, the header"),
        ("wechatpay", lambda lines: wechat_bill(lines)[:-9], "cut"),
        ("wechatpay", lambda lines: b"hello,world\n", "not a statement"),
        ("alipay", lambda lines: alipay_zip(DAY, lines).replace(b"PK\x01\x02", b"XX\x01\x02"), "damaged"),
    ],
)
def test_a_malformed_or_truncated_statement_is_refused_and_nothing_stored(provider, make, message, tmp_path):
    lines = lines_of(*ledger(provider))
    code, _, error = run_command(provider, make(lines), tmp_path)
    assert code == 2
    assert message in error and "Nothing was stored" in error
    assert not ReconciliationRun.objects.exists()


@pytest.mark.parametrize("provider", ["alipay", "wechatpay", "sandbox"])
def test_a_statement_of_another_day_is_refused(provider, tmp_path):
    other = DAY - timedelta(days=1)
    lines = [Line("PAYX1", Decimal("10.00"), at(other, 12))]
    data = {
        "alipay": lambda: alipay_zip(other, lines),
        "wechatpay": lambda: wechat_bill(lines),
        "sandbox": lambda: parsers.build_sandbox_statement(other, []),
    }[provider]()
    code, _, error = run_command(provider, data, tmp_path)
    assert code == 2 and other.isoformat() in error and DAY.isoformat() in error
    assert not ReconciliationRun.objects.exists()


@pytest.mark.parametrize(
    "provider,data,said",
    [
        ("alipay", lambda: wechat_bill([]), "This is a WeChat Pay statement, not a Alipay one."),
        ("wechatpay", lambda: alipay_zip(DAY, []), "This is a Alipay statement, not a WeChat Pay one."),
        ("sandbox", lambda: alipay_detail_csv(DAY, []), "This is a Alipay statement, not a sandbox one."),
    ],
)
def test_a_statement_of_the_other_provider_is_refused(provider, data, said, tmp_path):
    code, _, error = run_command(provider, data(), tmp_path)
    assert code == 2 and said in error
    assert not ReconciliationRun.objects.exists()


def test_a_rerun_replaces_the_day_and_keeps_staff_resolutions(tmp_path, staff_user):
    first, second, refund = ledger("wechatpay")
    lines = lines_of(first, second)  # the refund is missing there
    assert run_command("wechatpay", wechat_bill(lines), tmp_path)[0] == 1
    assert run_command("wechatpay", wechat_bill(lines), tmp_path)[0] == 1
    assert ReconciliationRun.objects.count() == 1
    (d,) = Discrepancy.objects.all()
    assert d.kind == "missing_there" and d.transaction_id == refund.transaction_id
    d.resolved, d.note, d.resolved_by = True, "Refund paid from the other account", staff_user
    d.save()
    code, out, _ = run_command("wechatpay", wechat_bill(lines), tmp_path)
    assert code == 0 and "resolved" in out
    (again,) = Discrepancy.objects.all()
    assert again.pk != d.pk and again.resolved and again.note == "Refund paid from the other account"
    # The statement now agrees: a clean run with nothing left.
    assert run_command("wechatpay", wechat_bill(lines_of(first, second, refund)), tmp_path)[0] == 0
    assert ReconciliationRun.objects.count() == 1 and not Discrepancy.objects.exists()


def test_money_that_moved_around_midnight_is_matched_on_the_statement_day(tmp_path):
    """The provider paid at 23:59:58; our callback came at 00:00:03 the next day."""
    late = PaymentFactory(
        provider="wechatpay", payment_method=Payment.Method.WECHAT, transaction_id="PAYMIDNIGHT",
        amount=Decimal("50.00"), paid_at=at(DAY + timedelta(days=1), 0, 0, 3),
    )  # fmt: skip
    assert (
        run_command("wechatpay", wechat_bill([Line(late.transaction_id, late.amount, at(DAY, 23, 59, 58))]), tmp_path)[
            0
        ]
        == 0
    )
    run = ReconciliationRun.objects.get(day=DAY)
    assert run.matched_elsewhere == ["PAYMIDNIGHT"]
    # The next day's statement lacks it, and that is no difference.
    assert run_command("wechatpay", wechat_bill([]), tmp_path, day=DAY + timedelta(days=1))[0] == 0


def test_a_row_reported_missing_is_closed_when_the_next_days_statement_has_it(tmp_path):
    late = PaymentFactory(
        provider="wechatpay", payment_method=Payment.Method.WECHAT, transaction_id="PAYLATE",
        amount=Decimal("50.00"), paid_at=at(DAY, 23, 59, 59),
    )  # fmt: skip
    assert run_command("wechatpay", wechat_bill([]), tmp_path)[0] == 1
    next_day = DAY + timedelta(days=1)
    assert (
        run_command(
            "wechatpay",
            wechat_bill([Line(late.transaction_id, late.amount, at(next_day, 0, 0, 1))]),
            tmp_path,
            day=next_day,
        )[0]
        == 0
    )
    d = Discrepancy.objects.get(run__day=DAY)
    assert d.resolved and next_day.isoformat() in d.note


@pytest.mark.django_db(transaction=True)
def test_the_command_says_when_another_run_holds_the_lock(tmp_path):
    """Another run (another thread, so another database session on PostgreSQL) holds the lock."""
    import threading

    from django.db import connection
    from django.utils import translation

    from car_rental_system.joblock import single_run

    holding, release = threading.Event(), threading.Event()

    def other_run():
        try:
            with single_run("reconcile_payments") as acquired:
                assert acquired
                holding.set()
                assert release.wait(timeout=30)
        finally:
            holding.set()
            connection.close()

    thread = threading.Thread(target=other_run)
    thread.start()
    assert holding.wait(timeout=30)
    try:
        with translation.override("en"):
            code, out, _ = run_command("wechatpay", wechat_bill([]), tmp_path)
    finally:
        release.set()
        thread.join(timeout=30)
    assert code == 0 and "Another run of reconcile_payments holds the lock" in out
    assert not ReconciliationRun.objects.exists()
    assert run_command("wechatpay", wechat_bill([]), tmp_path)[0] == 0
    assert ReconciliationRun.objects.count() == 1
