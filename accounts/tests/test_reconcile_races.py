"""Two reconciliations of the same provider and day at once (PostgreSQL row
locks; the command and the daily job also hold the job lock, this is the
service underneath): both finish, one run is left, whole."""

from datetime import date
from decimal import Decimal

import pytest

from accounts.models import Discrepancy, Payment, ReconciliationRun
from accounts.reconciliation import service
from accounts.tests.factories import PaymentFactory
from accounts.tests.statements import Line, at, wechat_bill
from rentals.tests.test_races import run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DAY = date(2026, 3, 1)


@pytest.mark.parametrize("existing", [False, True], ids=["first run", "rerun"])
def test_the_same_day_twice_at_once_leaves_one_whole_run(existing):
    PaymentFactory(
        provider="wechatpay", payment_method=Payment.Method.WECHAT, transaction_id="PAYRACE1",
        amount=Decimal("300.00"), paid_at=at(DAY, 10),
    )  # fmt: skip
    data = wechat_bill([Line("PAYRACE2", Decimal("20.00"), at(DAY, 11))])
    if existing:
        service.reconcile(provider="wechatpay", day=DAY, data=data)

    results = run_at_once([lambda: service.reconcile(provider="wechatpay", day=DAY, data=data)] * 2)

    assert [kind for kind, _value in results] == ["ok", "ok"], results
    run = ReconciliationRun.objects.get()
    assert sorted(run.discrepancies.values_list("kind", flat=True)) == ["missing_here", "missing_there"]
    assert Discrepancy.objects.count() == 2
