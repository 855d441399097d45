"""expire_payments, reconcile_payments and payment_providers speak the active language, as
sync_payments and update_expired_rentals do: Chinese by default, English
when asked."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone, translation

from accounts import services
from accounts.models import Payment
from rentals.services import cancel_rental
from rentals.tests.clock import NOW

pytestmark = pytest.mark.django_db

DAY = NOW.date()
ENGLISH_WORD = re.compile(r"\b[A-Za-z]{3,}\b")
# Data the lines name as they are: transaction ids, the provider, its own status words.
DATA_WORDS = {"sandbox", "succeeded", "refunded", "refund_failed"}


def _run(name: str, *args, language: str) -> str:
    out = StringIO()
    with translation.override(language):
        try:
            call_command(name, *args, stdout=out)
        except SystemExit:
            pass
    return out.getvalue()


def _english_words(text: str) -> set[str]:
    words = set(ENGLISH_WORD.findall(text))
    return {w for w in words if w not in DATA_WORDS and not re.fullmatch(r"(PAY|REF)[0-9A-Z]+", w)}


def _paid_then_cancelled(client, rental) -> None:
    client.force_login(rental.customer.user)
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=rental.customer.user)
    client.post(reverse("payments:sandbox_checkout", args=[charge.transaction_id]), {"outcome": "succeeded"})
    cancel_rental(rental=rental, reason="plans changed", by_user=rental.customer.user)


def test_expire_payments_speaks_chinese_by_default_and_english_when_asked(booked_rental, time_machine):
    assert _run("expire_payments", language="zh-hans").strip() == "没有需要过期的支付。"
    assert _run("expire_payments", language="en").strip() == "No charges to expire."
    services.start_payment(rental=booked_rental, method=Payment.Method.ALIPAY, user=booked_rental.customer.user)
    time_machine.move_to(timezone.now() + timedelta(hours=1), tick=False)

    dry = _run("expire_payments", "--dry-run", language="zh-hans")
    done = _run("expire_payments", language="zh-hans")

    assert dry.splitlines()[0] == "试运行：将有 1 笔支付过期。"
    assert done.splitlines()[0] == "已将 1 笔支付标记为已过期。"
    assert _english_words(dry + done) == set()


def test_reconcile_payments_reports_in_chinese(client, booked_rental, settings):
    _paid_then_cancelled(client, booked_rental)

    out = _run("reconcile_payments", "--provider", "sandbox", "--date", DAY.isoformat(), language="zh-hans")

    assert out.splitlines()[0].startswith(f"对账 sandbox {DAY.isoformat()}（运行 #")
    assert "对账单：支付 1 笔 ¥2,900.00，退款 1 笔 ¥2,900.00" in out
    assert "账本：支付 1 笔 ¥2,900.00，退款 1 笔 ¥2,900.00" in out
    assert "已核平：没有未解决的差异（已解决 0 个）。" in out
    assert _english_words(out) == set()


def test_reconcile_payments_names_a_difference_by_its_labels(client, booked_rental, settings):
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "refund_failed"
    _paid_then_cancelled(client, booked_rental)
    refund = Payment.objects.get(transaction_type=Payment.TransactionType.REFUND)
    Payment.objects.filter(pk=refund.pk).update(status=Payment.Status.REFUNDED, paid_at=NOW)

    zh = _run("reconcile_payments", "--provider", "sandbox", "--date", DAY.isoformat(), language="zh-hans")
    en = _run("reconcile_payments", "--provider", "sandbox", "--date", DAY.isoformat(), language="en")

    assert f"未解决 状态不符 退款 {refund.transaction_id} 我方 ¥2,900.00 已退款 / 对方 ¥2,900.00 refund_failed" in zh
    assert "1 个差异中有 1 个未解决。" in zh
    assert _english_words(zh) == set()
    assert f"OPEN Status differs Refund {refund.transaction_id} ours ¥2,900.00 Refunded / theirs" in en


def test_reconcile_payments_refuses_a_bad_date_in_chinese():
    with translation.override("zh-hans"), pytest.raises(CommandError) as raised:
        call_command("reconcile_payments", "--provider", "sandbox", "--date", "yesterday", stdout=StringIO())

    assert str(raised.value) == "--date 须为 YYYY-MM-DD 格式，而非 'yesterday'。"


def test_payment_providers_speaks_chinese_by_default(settings):
    settings.ALIPAY_APP_ID = ""

    out = _run("payment_providers", language="zh-hans")

    lines = out.splitlines()
    assert lines[0] == "支付方式："
    assert "  ALIPAY  → sandbox（可用）" in lines
    assert "支付渠道：" in lines
    assert "  sandbox: 可用" in lines
    assert "usable" not in out and "Methods" not in out
