"""update_historical_orders (SPEC §9): statuses by time, refunds still due on
closed orders, stored financials from the ledger — in batches, idempotent, with
a faithful dry run and one bad order never spoiling the others."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from accounts.models import Notification, Payment, PaymentEvent
from accounts.services import refund_amount_due
from accounts.tests.assertions import assert_ledger_consistent
from accounts.tests.factories import PaymentFactory, RefundFactory
from customers.tests.factories import CustomerFactory, WalkInCustomerFactory
from rentals import ops, ops_refunds
from rentals.models import Rental, RentalEvent
from rentals.ops import Correction, HistoryRunAborted, ManualRefund, RefundLine, StatusMove, update_historical_orders
from rentals.tests.factories import RentalFactory, pay
from vehicles.models import Vehicle
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def _frozen_clock_in_english(time_machine):
    time_machine.move_to(NOW, tick=False)
    with translation.override("en"):
        yield


def _rental(status, *, customer=None, start=NOW - 10 * DAY, days=3, **fields) -> Rental:
    """A ¥300/day, ¥2,000-deposit order (order total ¥2,900 for three days)."""
    return RentalFactory(
        customer=customer or CustomerFactory(),
        vehicle=VehicleFactory(daily_rate=Decimal("300.00"), deposit_amount=Decimal("2000.00")),
        status=status,
        start_time=start,
        end_time=start + days * DAY,
        **fields,
    )


@dataclass
class History:
    pending_started: Rental  # PENDING, start passed → ONGOING
    pending_ended: Rental  # PENDING, end passed → OVERDUE
    ongoing_late: Rental  # ONGOING, end passed → OVERDUE
    completed_owing: Rental  # COMPLETED, paid 2,900, deposit never refunded → refund 2,000
    completed_with_fees: Rental  # COMPLETED, overdue fee 900 → refund 1,100
    cancelled_paid: Rental  # CANCELLED, paid 2,900 → refund 2,900
    walk_in: Rental  # COMPLETED, walk-in paid in cash → needs manual handling
    wrong_figures: Rental  # COMPLETED and square, stored figures corrupted → corrected
    settled: Rental  # COMPLETED and square → untouched

    def all(self):
        return list(vars(self).values())


@pytest.fixture
def history() -> History:
    pending_started = _rental(Rental.Status.PENDING, start=NOW - DAY)
    pay(pending_started, "100.00")  # a paid booking moves by time; an unpaid one lapses
    pending_ended = _rental(Rental.Status.PENDING, start=NOW - 5 * DAY)
    pay(pending_ended, "100.00")
    ongoing_late = _rental(Rental.Status.ONGOING, start=NOW - 4 * DAY)
    pay(ongoing_late, "2900.00")
    completed_owing = _rental(Rental.Status.COMPLETED)
    pay(completed_owing, "2900.00")
    completed_with_fees = _rental(Rental.Status.COMPLETED, overdue_fee=Decimal("900.00"))
    pay(completed_with_fees, "2900.00")
    cancelled_paid = _rental(Rental.Status.CANCELLED, cancel_reason="plans changed", cancelled_at=NOW - 11 * DAY)
    pay(cancelled_paid, "2900.00")
    walk_in = _rental(Rental.Status.COMPLETED, customer=WalkInCustomerFactory())
    pay(walk_in, "2900.00", user=None, payment_method=Payment.Method.CASH)
    wrong_figures = _rental(Rental.Status.COMPLETED)
    pay(wrong_figures, "2900.00")
    RefundFactory(rental=wrong_figures, amount=Decimal("2000.00"))
    wrong_figures.refresh_financials()
    Rental.objects.filter(pk=wrong_figures.pk).update(
        amount_paid=Decimal("0.00"),
        amount_refunded=Decimal("0.00"),
        settlement_status=Rental.SettlementStatus.UNSETTLED,
        settled_at=None,
    )
    settled = _rental(Rental.Status.COMPLETED)
    pay(settled, "900.00")
    return History(
        pending_started=pending_started,
        pending_ended=pending_ended,
        ongoing_late=ongoing_late,
        completed_owing=completed_owing,
        completed_with_fees=completed_with_fees,
        cancelled_paid=cancelled_paid,
        walk_in=walk_in,
        wrong_figures=wrong_figures,
        settled=settled,
    )


def snapshot():
    """Everything the command could write."""
    return {
        "rentals": list(Rental.objects.order_by("pk").values()),
        "payments": list(Payment.objects.order_by("pk").values()),
        "vehicles": list(Vehicle.objects.order_by("pk").values_list("pk", "status")),
        "rental_events": RentalEvent.objects.count(),
        "payment_events": PaymentEvent.objects.count(),
        "notifications": Notification.objects.count(),
    }


def squeeze(text: str) -> str:
    return " ".join(text.split())


def refunds_of(rental) -> list[Payment]:
    return list(Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND))


def test_dry_run_changes_nothing_and_reports_what_the_real_run_then_does(history):
    # given
    before = snapshot()

    # when
    planned = update_historical_orders(dry_run=True)

    # then nothing was written
    assert snapshot() == before
    h = history
    assert planned.scanned == 9
    assert sorted(planned.status_moves) == [
        StatusMove(h.pending_started.pk, "PENDING", "ONGOING"),
        StatusMove(h.pending_ended.pk, "PENDING", "OVERDUE"),
        StatusMove(h.ongoing_late.pk, "ONGOING", "OVERDUE"),
    ]
    assert sorted(planned.refunds) == [
        RefundLine(h.completed_owing.pk, Decimal("2000.00"), "deposit", h.completed_owing.customer.user_id),
        RefundLine(h.completed_with_fees.pk, Decimal("1100.00"), "deposit", h.completed_with_fees.customer.user_id),
        RefundLine(h.cancelled_paid.pk, Decimal("2900.00"), "cancellation", h.cancelled_paid.customer.user_id),
    ]
    assert planned.refund_total == Decimal("6000.00")
    assert planned.manual == [ManualRefund(h.walk_in.pk, Decimal("2000.00"))]
    assert [c.rental_id for c in planned.corrections] == [h.wrong_figures.pk]
    assert planned.errors == []

    # and the real run does exactly that
    done = update_historical_orders()
    assert done.plan() == planned.plan()
    assert [(r.amount, r.description_text[:14]) for r in refunds_of(h.completed_owing)] == [
        (Decimal("2000.00"), "Deposit refund")
    ]
    assert [r.amount for r in refunds_of(h.completed_with_fees)] == [Decimal("1100.00")]
    assert [r.amount for r in refunds_of(h.cancelled_paid)] == [Decimal("2900.00")]
    for rental in h.all():
        assert_ledger_consistent(rental)


def test_dry_run_command_prints_every_change_and_writes_nothing(history):
    before = snapshot()
    out = StringIO()

    call_command("update_historical_orders", "--dry-run", stdout=out)

    assert snapshot() == before
    text = out.getvalue()
    h = history
    assert f"#{h.pending_started.pk:<8} status    Pending pick-up → Ongoing" in text
    assert f"#{h.ongoing_late.pk:<8} status    Ongoing → Overdue" in text
    assert (
        f"#{h.completed_with_fees.pk:<8} refund    ¥1,100.00 to user {h.completed_with_fees.customer.user_id} (deposit)"
        in text
    )
    assert f"#{h.cancelled_paid.pk:<8} refund    ¥2,900.00" in text
    assert f"#{h.walk_in.pk:<8} manual    ¥2,000.00 due back, nobody to refund: needs manual handling" in text
    assert (
        f"#{h.wrong_figures.pk:<8} figures   amount_paid ¥0.00 → ¥2,900.00; amount_refunded ¥0.00 → ¥2,000.00" in text
    )
    assert f"#{h.settled.pk:<8}" not in text
    assert "DRY RUN" in text
    assert "refunds written 3 total ¥6,000.00" in squeeze(text)


def test_real_run_prints_the_summary_table(history):
    out = StringIO()

    call_command("update_historical_orders", stdout=out)

    assert out.getvalue().splitlines()[0] == "Done:"
    table = squeeze(out.getvalue())
    assert "orders scanned 9 " in table
    assert "statuses moved 3 → ONGOING 1, → OVERDUE 2, unpaid bookings released 0 " in table
    assert "refunds written 3 total ¥6,000.00 " in table
    assert "financial rows corrected 1 " in table
    assert f"needs manual handling 1 #{history.walk_in.pk} " in table
    assert table.endswith("errors 0")
    assert f"#{history.completed_owing.pk} refund" not in table  # listed on a dry run or -v 2 only


def test_second_real_run_changes_nothing(history):
    first = update_historical_orders()
    assert first.changed_anything
    after_first = snapshot()

    second = update_historical_orders()

    assert not second.changed_anything
    assert (second.status_moves, second.refunds, second.corrections, second.errors) == ([], [], [], [])
    assert snapshot() == after_first
    # Still waiting for staff, so still reported — but not written again.
    assert second.manual == [ManualRefund(history.walk_in.pk, Decimal("2000.00"))]


def test_status_step_moves_cars_and_writes_audit_rows(history):
    update_historical_orders(skip_deposit_refund=True, skip_financial_refresh=True)

    h = history
    for rental, status in [
        (h.pending_started, "ONGOING"),
        (h.pending_ended, "OVERDUE"),
        (h.ongoing_late, "OVERDUE"),
    ]:
        rental.refresh_from_db()
        assert rental.status == status
        assert rental.vehicle.status == Vehicle.Status.RENTED
        assert RentalEvent.objects.filter(rental=rental, event="status_by_time", to_status=status).count() == 1
    assert Notification.objects.filter(
        rental=h.ongoing_late, notification_type=Notification.Type.RENTAL_OVERDUE
    ).exists()


@pytest.mark.parametrize("flag", ["skip_status_update", "skip_deposit_refund", "skip_financial_refresh"])
def test_each_skip_flag_skips_exactly_its_step(history, flag):
    h = history
    refunds_before = Payment.objects.filter(transaction_type=Payment.TransactionType.REFUND).count()

    summary = update_historical_orders(**{flag: True})

    statuses = {r.pk: r.status for r in Rental.objects.all()}
    new_refunds = Payment.objects.filter(transaction_type=Payment.TransactionType.REFUND).count() - refunds_before
    h.wrong_figures.refresh_from_db()
    h.walk_in.refresh_from_db()

    statuses_moved = statuses[h.pending_started.pk] == "ONGOING" and statuses[h.ongoing_late.pk] == "OVERDUE"
    assert statuses_moved == (flag != "skip_status_update")
    assert bool(summary.status_moves) == (flag != "skip_status_update")

    refunded = new_refunds == 3 and h.walk_in.requires_manual_refund
    assert refunded == (flag != "skip_deposit_refund")
    if flag == "skip_deposit_refund":
        assert new_refunds == 0 and not h.walk_in.requires_manual_refund
        assert summary.refunds == [] and summary.manual == []

    corrected = h.wrong_figures.amount_paid == Decimal("2900.00")
    assert corrected == (flag != "skip_financial_refresh")
    if flag == "skip_financial_refresh":
        assert summary.corrections == []
        assert h.wrong_figures.settlement_status == Rental.SettlementStatus.UNSETTLED


def test_an_order_whose_stored_figures_disagree_with_its_ledger_is_corrected(history):
    rental = history.wrong_figures

    summary = update_historical_orders()

    [correction] = [c for c in summary.corrections if c.rental_id == rental.pk]
    assert correction == Correction(
        rental.pk,
        (
            ("amount_paid", Decimal("0.00"), Decimal("2900.00")),
            ("amount_refunded", Decimal("0.00"), Decimal("2000.00")),
            ("settlement_status", "UNSETTLED", "SETTLED"),
            ("settled_at", None, NOW),
        ),
    )
    figures = assert_ledger_consistent(rental)
    assert figures["settlement_status"] == "SETTLED"
    assert refunds_of(rental) and len(refunds_of(rental)) == 1  # nothing refunded again


def test_matching_orders_cost_no_write_and_queries_do_not_grow_with_orders(django_assert_max_num_queries, time_machine):
    rentals = [_rental(Rental.Status.COMPLETED) for _ in range(30)]
    for rental in rentals:
        pay(rental, "900.00")
    Rental.objects.filter(pk__in=[r.pk for r in rentals[:10]]).update(amount_paid=Decimal("0.00"))
    before = {r["pk"]: r["updated_at"] for r in Rental.objects.values("pk", "updated_at")}
    time_machine.move_to(NOW + timedelta(hours=1), tick=False)

    # head; the batch's transaction (a savepoint here, inside the test's own
    # transaction) holding: active orders, locked rows, grouped ledger sums,
    # savepoint + one bulk UPDATE + release; the empty head that ends the loop
    with django_assert_max_num_queries(10):
        summary = update_historical_orders(batch_size=100)

    assert sorted(c.rental_id for c in summary.corrections) == sorted(r.pk for r in rentals[:10])
    after = {r["pk"]: r["updated_at"] for r in Rental.objects.values("pk", "updated_at")}
    assert sorted(pk for pk in before if before[pk] != after[pk]) == sorted(r.pk for r in rentals[:10])
    for rental in rentals:
        assert_ledger_consistent(rental)


def test_an_order_needing_manual_handling_is_reported_not_refunded(history):
    rental = history.walk_in
    out = StringIO()

    call_command("update_historical_orders", stdout=out)

    assert refunds_of(rental) == []
    rental.refresh_from_db()
    assert rental.requires_manual_refund
    assert RentalEvent.objects.filter(rental=rental, event="manual_refund_required").count() == 1
    assert f"needs manual handling 1 #{rental.pk}" in squeeze(out.getvalue())
    figures = assert_ledger_consistent(rental)
    assert figures["refund_due"] == Decimal("2000.00")


def test_refund_goes_to_the_user_who_paid(history):
    # A cancelled order paid by someone else's login: money goes back the way it came.
    payer = CustomerFactory().user
    rental = _rental(Rental.Status.CANCELLED, cancel_reason="sick")
    pay(rental, "500.00", user=payer)

    planned = update_historical_orders(dry_run=True, rental_id=rental.pk)
    done = update_historical_orders(rental_id=rental.pk)

    assert planned.refunds == done.refunds == [RefundLine(rental.pk, Decimal("500.00"), "cancellation", payer.pk)]
    assert [r.user_id for r in refunds_of(rental)] == [payer.pk]


def test_rental_option_processes_one_order_only(history):
    h = history

    summary = update_historical_orders(rental_id=h.completed_owing.pk)

    assert summary.scanned == 1
    assert [r.amount for r in refunds_of(h.completed_owing)] == [Decimal("2000.00")]
    assert refunds_of(h.cancelled_paid) == []
    h.pending_started.refresh_from_db()
    assert h.pending_started.status == Rental.Status.PENDING
    h.wrong_figures.refresh_from_db()
    assert h.wrong_figures.amount_paid == Decimal("0.00")


def test_an_exception_on_one_order_is_reported_and_the_others_are_done(history, monkeypatch):
    h = history
    bad = h.completed_with_fees
    real_build = ops_refunds.build_refund

    def build_or_fail(case, *args, **kwargs):
        if case.pk == bad.pk:
            raise RuntimeError("provider timeout")
        return real_build(case, *args, **kwargs)

    monkeypatch.setattr(ops_refunds, "build_refund", build_or_fail)
    bad_before = Rental.objects.filter(pk=bad.pk).values().get()

    summary = update_historical_orders(batch_size=4)

    assert [(e.rental_id, e.step) for e in summary.errors] == [(bad.pk, "refund")]
    assert "provider timeout" in summary.errors[0].message
    assert refunds_of(bad) == []
    assert Rental.objects.filter(pk=bad.pk).values().get() == bad_before
    # Every other order is done and consistent.
    assert [r.amount for r in refunds_of(h.completed_owing)] == [Decimal("2000.00")]
    assert [r.amount for r in refunds_of(h.cancelled_paid)] == [Decimal("2900.00")]
    for rental in h.all():
        if rental.pk != bad.pk:
            assert_ledger_consistent(rental)
    h.pending_started.refresh_from_db()
    assert h.pending_started.status == Rental.Status.ONGOING

    # and the next run, the fault gone, finishes it
    monkeypatch.setattr(ops_refunds, "build_refund", real_build)
    rerun = update_historical_orders()
    assert rerun.refunds == [RefundLine(bad.pk, Decimal("1100.00"), "deposit", bad.customer.user_id)]
    assert_ledger_consistent(bad)


def test_when_the_bulk_refund_fails_each_order_is_refunded_alone_in_its_savepoint(history, monkeypatch):
    h = history
    bad = h.completed_with_fees
    real_refund = ops_refunds.refund_due_rows

    def bulk_fails(built, *, now):
        raise RuntimeError("bulk insert refused")

    def refund_then_fail(*, rental, **kwargs):
        due = real_refund(rental=rental, **kwargs)
        if rental.pk == bad.pk:
            raise RuntimeError("provider timeout")
        return due

    monkeypatch.setattr(ops_refunds, "write_refunds", bulk_fails)
    monkeypatch.setattr(ops_refunds, "refund_due_rows", refund_then_fail)
    bad_before = Rental.objects.filter(pk=bad.pk).values().get()

    summary = update_historical_orders()

    assert [(e.rental_id, e.step) for e in summary.errors] == [(bad.pk, "refund")]
    # The refund written before the failure was rolled back with its savepoint.
    assert refunds_of(bad) == []
    assert not PaymentEvent.objects.filter(rental=bad).exists()
    assert Rental.objects.filter(pk=bad.pk).values().get() == bad_before
    assert sorted(r.rental_id for r in summary.refunds) == [h.completed_owing.pk, h.cancelled_paid.pk]
    assert summary.manual == [ManualRefund(h.walk_in.pk, Decimal("2000.00"))]
    for rental in h.all():
        if rental.pk != bad.pk:
            assert_ledger_consistent(rental)


def _twin_refunds(first, second):
    """The rows the refund of ``first`` and of ``second`` wrote, minus what must differ."""

    def rows(rental):
        payment = Payment.objects.filter(rental=rental, transaction_type="REFUND").values().get()
        # online refunds: asked of the provider, then confirmed by it (SPEC §11)
        event = PaymentEvent.objects.filter(rental=rental, event="refund_requested").values().get()
        notice = Notification.objects.filter(rental=rental, notification_type="REFUND_ISSUED").values().get()
        # each refund gives back its own order's charge
        assert payment.pop("refund_of_id") == Payment.objects.get(rental=rental, transaction_type="CHARGE").pk
        for key in ("id", "rental_id", "transaction_id", "created_at", "updated_at", "paid_at", "provider_reference"):
            payment.pop(key)
        for key in ("id", "rental_id", "payment_id", "created_at"):
            event.pop(key)
            notice.pop(key, None)
        for colon in (":", "："):
            notice["message"] = notice["message"].replace(f"#{rental.pk}{colon}", f"#…{colon}")
        notice["params"].pop("order")
        stored = Rental.objects.filter(pk=rental.pk).values(*ops.FINANCIAL_FIELDS).get()
        return payment, event, notice, stored

    return rows(first), rows(second)


@pytest.mark.parametrize("status", [Rental.Status.COMPLETED, Rental.Status.CANCELLED])
def test_bulk_refunds_write_exactly_what_refund_amount_due_writes(status):
    customer = CustomerFactory()
    twins = []
    for _ in range(2):
        rental = _rental(status, customer=customer, overdue_fee=Decimal("450.00"), cancel_reason="plans changed")
        pay(rental, "2900.00", payment_method=Payment.Method.WECHAT)
        twins.append(rental)
    by_hand, by_command = twins

    refund_amount_due(rental=by_hand, reason=ops.REFUND_REASONS[status])
    update_historical_orders(rental_id=by_command.pk)

    expected, got = _twin_refunds(by_hand, by_command)
    assert got == expected
    # the audit row points at the refund it records
    for rental in twins:
        refund = Payment.objects.get(rental=rental, transaction_type="REFUND")
        # online: asked of the provider (SPEC §11), then confirmed by it
        assert PaymentEvent.objects.get(rental=rental, event="refund_requested").payment_id == refund.pk
        assert refund.status == Payment.Status.REFUNDED
    assert expected[0]["payment_method"] == "WECHAT"
    assert expected[0]["amount"] == (Decimal("1550.00") if status == "COMPLETED" else Decimal("2900.00"))


def test_bulk_manual_flag_writes_what_refund_amount_due_writes():
    twins = [_rental(Rental.Status.COMPLETED, customer=WalkInCustomerFactory()) for _ in range(2)]
    for rental in twins:
        pay(rental, "2900.00", user=None, payment_method=Payment.Method.CASH)
    by_hand, by_command = twins

    refund_amount_due(rental=by_hand, reason="deposit")
    update_historical_orders(rental_id=by_command.pk)

    def state(rental):
        event = (
            RentalEvent.objects.filter(rental=rental, event="manual_refund_required")
            .values("event", "payload", "actor_id")
            .get()
        )
        return event, Rental.objects.filter(pk=rental.pk).values(*ops.FINANCIAL_FIELDS).get()

    assert state(by_command) == state(by_hand)
    assert state(by_command)[1]["requires_manual_refund"] is True


def test_an_exception_computing_one_orders_figures_spares_the_rest(history, monkeypatch):
    h = history
    bad = h.wrong_figures
    real_figures_for = Rental.figures_for

    def figures_for(self, *args, **kwargs):
        if self.pk == bad.pk:
            raise ValueError("corrupt row")
        return real_figures_for(self, *args, **kwargs)

    monkeypatch.setattr(Rental, "figures_for", figures_for)

    summary = update_historical_orders()

    assert [(e.rental_id, e.step) for e in summary.errors] == [(bad.pk, "financials")]
    bad.refresh_from_db()
    assert bad.amount_paid == Decimal("0.00")  # untouched
    for rental in h.all():
        if rental.pk != bad.pk:
            assert_ledger_consistent(rental)


def test_the_command_exits_non_zero_and_names_the_failed_order(history, monkeypatch):
    bad = history.cancelled_paid
    real_build = ops_refunds.build_refund

    def fail(case, *args, **kwargs):
        if case.pk == bad.pk:
            raise RuntimeError("boom")
        return real_build(case, *args, **kwargs)

    monkeypatch.setattr(ops_refunds, "build_refund", fail)
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError) as excinfo:
        call_command("update_historical_orders", "--skip-status-update", stdout=out, stderr=err)

    assert excinfo.value.returncode == 1
    assert f"#{bad.pk:<8} error (refund): RuntimeError: boom" in err.getvalue()
    assert f"#{bad.pk}" in out.getvalue().splitlines()[-1]  # the errors row of the table


def _owing_orders(count):
    """Cancelled orders each owed a ¥500 refund, plus stored figures left stale."""
    rentals = []
    for _ in range(count):
        rental = _rental(Rental.Status.CANCELLED, cancel_reason="changed plans")
        PaymentFactory(rental=rental, amount=Decimal("500.00"))  # figures deliberately not refreshed
        rentals.append(rental)
    return rentals


def test_a_crash_between_batches_keeps_finished_batches_and_the_rerun_finishes(monkeypatch):
    rentals = _owing_orders(10)
    batches_done = []

    class Crash(Exception):
        pass

    def crash_after_second_batch(count):
        batches_done.append(count)
        if len(batches_done) == 2:
            raise Crash

    # when the process dies after batch 2 has committed
    with pytest.raises(Crash):
        update_historical_orders(batch_size=3, progress=crash_after_second_batch)

    # then batches 1–2 are finished and the rest untouched
    done, untouched = rentals[:6], rentals[6:]
    for rental in done:
        assert [r.amount for r in refunds_of(rental)] == [Decimal("500.00")]
        assert_ledger_consistent(rental)
    for rental in untouched:
        assert refunds_of(rental) == []
        rental.refresh_from_db()
        assert rental.amount_paid == Decimal("0.00")

    # and the rerun finishes the job, refunding nobody twice
    rerun = update_historical_orders(batch_size=3)
    assert sorted(r.rental_id for r in rerun.refunds) == [r.pk for r in untouched]
    for rental in rentals:
        assert [r.amount for r in refunds_of(rental)] == [Decimal("500.00")]
        assert_ledger_consistent(rental)


def test_a_batch_failing_as_a_whole_is_rolled_back_alone(monkeypatch):
    rentals = _owing_orders(4)
    late = _rental(Rental.Status.ONGOING, start=NOW - 4 * DAY)  # in the failing batch
    real_sums = ops.ledger_sums
    calls = []

    def sums_fail_in_second_batch(payments):
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("database went away")
        return real_sums(payments)

    monkeypatch.setattr(ops, "ledger_sums", sums_fail_in_second_batch)

    with pytest.raises(HistoryRunAborted) as excinfo:
        update_historical_orders(batch_size=3)

    assert excinfo.value.after_id == rentals[2].pk
    assert len(excinfo.value.summary.refunds) == 3
    for rental in rentals[:3]:
        assert_ledger_consistent(rental)
    assert refunds_of(rentals[3]) == []
    late.refresh_from_db()
    assert late.status == Rental.Status.ONGOING  # its status move was rolled back with the batch

    monkeypatch.setattr(ops, "ledger_sums", real_sums)
    rerun = update_historical_orders(batch_size=3)
    assert [m.rental_id for m in rerun.status_moves] == [late.pk]
    assert [r.rental_id for r in rerun.refunds] == [rentals[3].pk]
    for rental in [*rentals, late]:
        assert_ledger_consistent(rental)


def test_the_command_reports_an_aborted_batch_and_exits_non_zero(monkeypatch):
    _owing_orders(2)

    def fail(payments):
        raise ConnectionError("database went away")

    monkeypatch.setattr(ops, "ledger_sums", fail)
    out = StringIO()

    with pytest.raises(CommandError) as excinfo:
        call_command("update_historical_orders", stdout=out)

    assert excinfo.value.returncode == 1
    assert "run the command again to finish" in str(excinfo.value)
    assert out.getvalue().startswith("Stopped early")
    assert "orders scanned 0 " in squeeze(out.getvalue())


def test_batch_size_must_be_positive():
    with pytest.raises(CommandError):
        call_command("update_historical_orders", "--batch-size", "0")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_refund_each_order_once():
    import threading

    from django.db import connection

    rentals = _owing_orders(12)
    errors = []
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            update_historical_orders(batch_size=4)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    for rental in rentals:
        assert [r.amount for r in refunds_of(rental)] == [Decimal("500.00")]
        assert_ledger_consistent(rental)


def test_rental_option_for_an_order_that_does_not_exist_exits_1_saying_so():
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError) as excinfo:
        call_command("update_historical_orders", "--rental", "999999", stdout=out, stderr=err)

    assert excinfo.value.returncode == 1
    assert str(excinfo.value) == "Order #999999 does not exist."
    assert "scanned" not in out.getvalue()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_three_concurrent_runs_report_each_status_move_once(monkeypatch):
    """Three runs plan the same six moves; each reports only the moves its own
    UPDATE made, so the reports add up to the six rows written."""
    import threading

    from django.db import connection

    orders = [_rental(Rental.Status.PENDING, start=NOW - DAY, days=3) for _ in range(3)]
    for order in orders:
        pay(order, "100.00")  # paid bookings move by time (unpaid ones lapse)
    orders += [_rental(Rental.Status.ONGOING, start=NOW - 5 * DAY, days=3) for _ in range(3)]
    runs = 3
    planned = threading.Barrier(runs)
    still_to_move = ops._still_to_move

    def after_everyone_planned(moves):
        # every run has read its plan before any of them takes the locks
        planned.wait(timeout=20)
        return still_to_move(moves)

    monkeypatch.setattr(ops, "_still_to_move", after_everyone_planned)
    summaries, errors = [], []

    def run():
        try:
            summaries.append(update_historical_orders(skip_deposit_refund=True, skip_financial_refresh=True, now=NOW))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(summaries) == runs
    reported = [move.rental_id for summary in summaries for move in summary.status_moves]
    assert sorted(reported) == sorted(order.pk for order in orders)
    assert RentalEvent.objects.filter(event="status_by_time").count() == 6
    for order in orders:
        order.refresh_from_db()
        assert order.status == (Rental.Status.ONGOING if order.start_time == NOW - DAY else Rental.Status.OVERDUE)
