"""Property-based test of the money core (issue 2, acceptance 3).

A hypothesis state machine books random rentals (regular, member, VIP and
walk-in customers, same store or one-way) and then runs random sequences of
charges (counter payments, provider-paid charges, late provider successes on
closed orders), manual refunds (goodwill above what is due included), time
travel with status refreshes (unpaid bookings lapse), pick-ups, returns
(random lateness, store and damage), customer and staff cancels (with fees)
and deposit refunds. Online refunds go to the sandbox provider after each
flow "commits" (SPEC §11), whose outcome a rule switches between confirming,
refusing and holding; further rules deliver its signed refund notifications
and let staff retry a refused refund. After every step, for every rental:

* the stored amount_paid / amount_refunded / settlement_status / settled_at
  equal what the Payment ledger gives (``assert_ledger_consistent``, which
  recomputes SPEC §4 on its own, so SETTLED is checked against the spec);
* refunded never exceeds paid, net paid is never negative;
* a closed order owes a refund only when nobody can receive it (and is then
  flagged for manual handling), no charge is refunded twice for one reason,
  and no charge gives back more than it took;
* a car is RENTED exactly when one of its rentals is on the road.

Every move's validity is predicted from the rules; a move the rules forbid
must raise ValidationError with a readable message and change nothing, and a
move they allow must succeed.
"""

import os
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from accounts import selectors
from accounts.models import Notification, Payment, PaymentEvent
from accounts.providers import sandbox
from accounts.services import (
    handle_callback,
    record_counter_payment,
    record_manual_refund,
    refund_amount_due,
    retry_failed_refund,
)
from accounts.tests.assertions import assert_ledger_consistent
from accounts.tests.factories import PaymentFactory
from car_rental_system.money import ZERO, quantize_money
from customers.tests.factories import CustomerFactory, StaffUserFactory, UserFactory, WalkInCustomerFactory
from rentals import pricing
from rentals.locks import lock_rental
from rentals.models import Rental, RentalEvent
from rentals.selectors import cancel_terms
from rentals.services import (
    advance_statuses,
    cancel_rental,
    create_rental,
    overlapping_rentals,
    pickup_rental,
    process_return,
    unpaid_bookings,
)
from vehicles.models import Vehicle
from vehicles.tests.factories import LocationFactory, VehicleFactory

pytestmark = pytest.mark.django_db

BASE = datetime(2026, 3, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
MAX_RENTALS = 8
# The depth comes from the hypothesis profiles of conftest.py: 40 sequences of
# up to 50 steps in CI (~30-60 s on SQLite), a short run locally; raise it for a
# longer hunt: LEDGER_EXAMPLES=500 pytest ...
LEDGER_PROFILE = "ledger-ci" if os.environ.get("CI") else "ledger-local"
CUSTOMER_KINDS = ["WALK_IN", "REGULAR", "VIP", "SILVER", "GOLD"]
PICK = st.sampled_from(["fit", "fit", "fit", "fit", "any"])
AMOUNT_KINDS = ["all", "half", "cent", "third", "random", "over", "zero"]


def _snapshot():
    """Everything a refused move must leave untouched."""
    return (
        list(Rental.objects.order_by("pk").values()),
        list(Payment.objects.order_by("pk").values()),
        list(Vehicle.objects.order_by("pk").values()),
        RentalEvent.objects.count(),
        PaymentEvent.objects.count(),
        Notification.objects.count(),
    )


def _stored(rental: Rental):
    """The §4 figures from the stored sums (no query); the invariants check
    after every step that these equal the ledger."""
    return rental.stored_figures()


def _amount(kind: str, limit: Decimal, cents: int) -> Decimal:
    """An amount relative to ``limit`` (what may be paid or refunded)."""
    if kind == "all":
        return limit
    if kind == "half":
        return quantize_money(limit / 2)
    if kind == "third":
        return quantize_money(limit / 3)
    if kind == "cent":
        return Decimal("0.01")
    if kind == "over":
        return limit + Decimal("0.01")
    if kind == "zero":
        return ZERO
    return quantize_money(Decimal(cents) / 100)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # Each example runs inside a savepoint that is rolled back at teardown,
        # and on its own frozen clock.
        self._atomic = transaction.atomic()
        # It stands for the test's own transaction: a flow's outermost block
        # ending well counts as its commit, so its refund jobs run (conftest).
        self._atomic._from_testcase = True
        self._atomic.__enter__()
        self._refund_outcome = settings.PAYMENT_SANDBOX_REFUND_OUTCOME
        self._travel = time_machine.travel(BASE, tick=False)
        self._clock = self._travel.start()
        cache.clear()
        self.store = LocationFactory(name="Store A")
        self.other_store = LocationFactory(name="Store B")
        self.staff = StaffUserFactory(username="prop-clerk")
        self.someone_else = UserFactory(username="prop-payer")
        self.cars = [
            VehicleFactory(location=self.store, daily_rate=Decimal("300.00"), deposit_amount=Decimal("2000.00")),
            VehicleFactory(location=self.store, daily_rate=Decimal("199.99"), deposit_amount=Decimal("1500.00")),
        ]
        self.customers = {kind: CustomerFactory(member_level=kind) for kind in ("REGULAR", "SILVER", "GOLD", "VIP")}
        self.customers["WALK_IN"] = WalkInCustomerFactory()
        self.rental_ids: list[int] = []

    def teardown(self):
        settings.PAYMENT_SANDBOX_REFUND_OUTCOME = self._refund_outcome
        self._travel.stop()
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers -----------------------------------------------------------------

    @property
    def now(self):
        return timezone.now()

    def _rental(self, index: int, pick: str = "any", fits=None) -> Rental:
        """One of the rentals: with ``pick == "fit"`` preferably one for which
        the move is plausible (so that sequences go somewhere), else any."""
        rentals = list(
            Rental.objects.filter(pk__in=self.rental_ids).select_related("customer__user", "vehicle").order_by("pk")
        )
        if pick == "fit" and fits is not None:
            rentals = [r for r in rentals if fits(r)] or rentals
        return rentals[index % len(rentals)]

    def _attempt(self, expect_ok: bool, call):
        """Run ``call``; a refusal must be a readable ValidationError that
        changed nothing, and must happen exactly when the rules say."""
        before = _snapshot()
        try:
            result = call()
        except ValidationError as exc:
            assert not expect_ok, f"a valid move was refused: {exc.messages}"
            assert exc.messages and all(isinstance(m, str) and m for m in exc.messages)
            assert _snapshot() == before, "a refused move changed something"
            return None
        assert expect_ok, "an invalid move was accepted"
        return result

    # --- booking -------------------------------------------------------------------

    @initialize(kind=st.sampled_from(CUSTOMER_KINDS), start_in_hours=st.integers(1, 48), hours=st.integers(1, 120))
    def first_booking(self, kind, start_in_hours, hours):
        self.book(kind=kind, car=0, start_in_hours=start_in_hours, hours=hours, one_way=False)
        assert len(self.rental_ids) == 1

    @precondition(lambda self: len(self.rental_ids) < MAX_RENTALS)
    @rule(
        kind=st.sampled_from(CUSTOMER_KINDS),
        car=st.integers(0, 1),
        # a year and a day ahead breaks SPEC §16's booking horizon
        start_in_hours=st.one_of(st.integers(-3, 48), st.just(24 * 366)),
        hours=st.integers(1, 24 * 5),
        one_way=st.booleans(),
    )
    def book(self, kind, car, start_in_hours, hours, one_way):
        vehicle = Vehicle.objects.get(pk=self.cars[car].pk)
        start = self.now + timedelta(hours=start_in_hours)
        end = start + timedelta(hours=hours)
        pickup = vehicle.location
        return_store = self.other_store if (one_way and pickup == self.store) else self.store
        clash = overlapping_rentals(vehicle_id=vehicle.pk, start_time=start, end_time=end).exists()
        unpaid = unpaid_bookings(customer=self.customers[kind]).count()
        expect_ok = (
            self.now < start <= self.now + timedelta(days=settings.BOOKING_HORIZON_DAYS)
            and not clash
            and vehicle.is_bookable
            and unpaid < settings.MAX_UNPAID_BOOKINGS
        )
        rental = self._attempt(
            expect_ok,
            lambda: create_rental(
                customer=self.customers[kind],
                vehicle=vehicle,
                start_time=start,
                end_time=end,
                pickup_location=pickup,
                return_location=return_store,
            ),
        )
        if rental is not None:
            self.rental_ids.append(rental.pk)
            assert rental.status == Rental.Status.PENDING
            assert rental.deposit == (ZERO if kind == "VIP" else vehicle.deposit_amount)

    # --- charges -------------------------------------------------------------------

    @precondition(lambda self: self.rental_ids)
    @rule(
        index=st.integers(0, 99),
        pick=PICK,
        kind=st.sampled_from(AMOUNT_KINDS),
        cents=st.integers(1, 400_000),
        method=st.sampled_from([Payment.Method.CASH, Payment.Method.BANK]),
    )
    def counter_payment(self, index, pick, kind, cents, method):
        rental = self._rental(index, pick, lambda r: _stored(r).remaining > ZERO)
        remaining = rental.money_figures().remaining
        amount = _amount(kind, remaining, cents)
        expect_ok = ZERO < amount <= remaining
        self._attempt(
            expect_ok,
            lambda: record_counter_payment(rental=rental, amount=amount, method=method, by_user=self.staff),
        )

    @precondition(lambda self: self.rental_ids)
    @rule(
        index=st.integers(0, 99),
        pick=PICK,
        kind=st.sampled_from(["all", "half", "cent", "third", "random"]),
        cents=st.integers(1, 400_000),
        payer=st.sampled_from(["customer", "nobody", "someone_else"]),
        method=st.sampled_from([Payment.Method.ALIPAY, Payment.Method.WECHAT, Payment.Method.BANK]),
    )
    def provider_paid_charge(self, index, pick, kind, cents, payer, method):
        """A PAID online charge, as a provider's success callback records it.
        On a closed order (a late success) what it can't use is refunded at
        once, at most the charge's amount (SPEC §6)."""
        rental = self._rental(index, pick, lambda r: _stored(r).remaining > ZERO)
        user = {"customer": rental.customer.user, "nobody": None, "someone_else": self.someone_else}[payer]
        closed = rental.status in Rental.CLOSED_STATUSES
        remaining = rental.money_figures().remaining
        amount = _amount(kind, remaining, cents)
        if not closed:
            amount = min(amount, remaining)
        if amount <= ZERO:
            return
        with transaction.atomic():
            locked = lock_rental(rental.pk)
            PaymentFactory(rental=locked, amount=amount, user=user, payment_method=method, paid_at=self.now)
            locked.refresh_financials()
            if closed:
                refund_amount_due(rental=locked, reason="late_payment", cap=amount)

    # --- refunds -------------------------------------------------------------------

    @precondition(lambda self: self.rental_ids)
    @rule(
        index=st.integers(0, 99),
        pick=PICK,
        kind=st.sampled_from(["due", "due", *AMOUNT_KINDS]),
        cents=st.integers(1, 400_000),
        reason=st.sampled_from(["Goodwill", "Goodwill", "", "  "]),
    )
    def manual_refund(self, index, pick, kind, cents, reason):
        # first the orders waiting for a manual refund, then any that holds money
        flagged = Rental.objects.filter(pk__in=self.rental_ids, requires_manual_refund=True).exists()
        if flagged and pick == "fit":
            rental = self._rental(index, pick, lambda r: r.requires_manual_refund)
        else:
            rental = self._rental(index, pick, lambda r: _stored(r).net_paid > ZERO)
        figures = rental.money_figures()
        # what may still go back: net paid less the refunds in flight (SPEC §11)
        net_paid = figures.net_paid - figures.refund_in_flight
        if kind == "due":
            amount = figures.refund_due or net_paid
        else:
            amount = _amount(kind, net_paid, cents)
        expect_ok = bool(reason.strip()) and ZERO < amount <= net_paid
        self._attempt(
            expect_ok,
            lambda: record_manual_refund(rental=rental, amount=amount, reason=reason, by_user=self.staff),
        )

    @precondition(lambda self: self.rental_ids)
    @rule(index=st.integers(0, 99), pick=PICK)
    def refund_deposit(self, index, pick):
        rental = self._rental(index, pick, lambda r: r.status in Rental.CLOSED_STATUSES)
        rental.refund_deposit()

    # --- the provider's word on refunds (SPEC §11) ---------------------------------------

    @rule(outcome=st.sampled_from(["refunded", "refunded", "refund_failed", "hold"]))
    def provider_refund_outcome(self, outcome):
        settings.PAYMENT_SANDBOX_REFUND_OUTCOME = outcome

    @precondition(lambda self: self.rental_ids)
    @rule(
        index=st.integers(0, 99),
        status=st.sampled_from(["refunded", "refunded", "refund_failed"]),
        replay=st.booleans(),
    )
    def provider_notifies_refund(self, index, status, replay):
        open_refunds = list(
            Payment.objects.filter(
                rental_id__in=self.rental_ids,
                transaction_type=Payment.TransactionType.REFUND,
                status__in=Payment.OPEN_STATUSES,
            ).order_by("pk")
        )
        if not open_refunds:
            return
        refund = open_refunds[index % len(open_refunds)]
        headers, body = sandbox.build_callback(
            transaction_id=refund.transaction_id,
            status=status,
            amount=refund.amount,
            failure_reason="Account closed" if status == "refund_failed" else "",
            event_id=f"evt-{refund.pk}-{status}",
        )
        for _ in range(2 if replay else 1):
            http_status, answer = handle_callback(provider="sandbox", headers=headers, body=body)
            assert http_status == 200, answer
        expected = Payment.Status.REFUNDED if status == "refunded" else Payment.Status.FAILED
        assert Payment.objects.get(pk=refund.pk).status == expected

    @precondition(lambda self: self.rental_ids)
    @rule(index=st.integers(0, 99))
    def staff_retry_failed_refund(self, index):
        failed = list(
            Payment.objects.filter(
                rental_id__in=self.rental_ids,
                transaction_type=Payment.TransactionType.REFUND,
                status=Payment.Status.FAILED,
            ).order_by("pk")
        )
        if not failed:
            return
        refund = failed[index % len(failed)]
        rental = Rental.objects.get(pk=refund.rental_id)
        left = {c.charge_id: c.left for c in selectors.refundable_charges(rental=rental)}.get(refund.refund_of_id, ZERO)
        expect_ok = min(refund.amount, rental.money_figures().refund_due, left) > ZERO
        self._attempt(expect_ok, lambda: retry_failed_refund(refund=refund, by_user=self.staff))

    # --- time and status --------------------------------------------------------------

    @rule(
        hours=st.sampled_from([0, 1, 5, 12, 24, 26, 49, 72]),
        minutes=st.sampled_from([0, 1, 30, 59, 61]),
        refresh=st.sampled_from(["none", "one", "all"]),
        index=st.integers(0, 99),
    )
    def time_passes(self, hours, minutes, refresh, index):
        self._clock.shift(timedelta(hours=hours, minutes=minutes))
        if refresh == "one" and self.rental_ids:
            rental = self._rental(index)
            expected = rental.status_by_time(self.now)
            rental.auto_update_status()
            assert Rental.objects.get(pk=rental.pk).status == expected
        elif refresh == "all":
            advance_statuses()
            for rental in Rental.objects.all():
                assert rental.status_by_time(self.now) == rental.status

    @precondition(lambda self: self.rental_ids)
    @rule(index=st.integers(0, 99), pick=PICK)
    def pickup(self, index, pick):
        rental = self._rental(index, pick, lambda r: r.status == Rental.Status.PENDING)
        car = rental.vehicle
        other_on_road = (
            Rental.objects.filter(vehicle=car, status__in=Rental.ON_ROAD_STATUSES).exclude(pk=rental.pk).exists()
        )
        expect_ok = (
            rental.status == Rental.Status.PENDING
            and car.status not in (Vehicle.Status.MAINTENANCE, Vehicle.Status.RETIRED)
            and not other_on_road
            and self.now >= rental.start_time - timedelta(minutes=settings.EARLY_PICKUP_MINUTES)
        )
        self._attempt(expect_ok, lambda: pickup_rental(rental=rental, by_user=self.staff))

    # --- returns and cancels -------------------------------------------------------------

    @precondition(lambda self: self.rental_ids)
    @rule(
        index=st.integers(0, 99),
        pick=PICK,
        late_minutes=st.sampled_from([-600, -1, 0, 50, 60, 61, 1440, 1441, 1500, 4000]),
        wait=st.booleans(),
        back_minutes=st.integers(0, 300),
        other_store=st.booleans(),
        # the last two break SPEC §16's bounds: a fee, or the order total, above MAX_ORDER_TOTAL
        damage=st.sampled_from(["0", "0", "150.55", "2500", "999999.99", "1000000.01"]),
    )
    def return_car(self, index, pick, late_minutes, wait, back_minutes, other_store, damage):
        rental = self._rental(index, pick, lambda r: r.status in Rental.ACTIVE_STATUSES)
        # back at a chosen lateness: if that moment hasn't come, either wait
        # for it (the clock moves on) or return "a while ago" instead
        returned_at = rental.end_time + timedelta(minutes=late_minutes)
        if returned_at > self.now:
            if wait:
                self._clock.move_to(returned_at)
            else:
                returned_at = self.now - timedelta(minutes=back_minutes)
        now = self.now
        effective = rental.status
        if effective == Rental.Status.PENDING:
            effective = rental.status_by_time(now)
        handed_over = min(filter(None, [rental.picked_up_at, rental.start_time]))
        store = self.other_store if other_store else self.store
        total_after = (
            rental.total_amount
            + rental.deposit
            + pricing.cross_location_fee_for(rental.pickup_location_id, store.pk)
            + pricing.overdue_fee_for(rental.end_time, returned_at, rental.daily_rate)
            + Decimal(damage)
        )
        expect_ok = (
            effective in Rental.ON_ROAD_STATUSES
            and returned_at >= handed_over
            and total_after <= settings.MAX_ORDER_TOTAL
        )
        self._attempt(
            expect_ok,
            lambda: process_return(
                rental=rental,
                returned_at=returned_at,
                location=self.other_store if other_store else self.store,
                damage_fee=Decimal(damage),
                by_user=self.staff,
            ),
        )

    @precondition(lambda self: self.rental_ids)
    @rule(index=st.integers(0, 99), pick=PICK, reason=st.sampled_from(["Plans changed", "Plans changed", ""]))
    def customer_cancels(self, index, pick, reason):
        rental = self._rental(index, pick, lambda r: r.status == Rental.Status.PENDING)
        expect_ok = (
            bool(reason)
            and rental.status == Rental.Status.PENDING
            and rental.status_by_time(self.now) not in Rental.ON_ROAD_STATUSES
        )
        self._attempt(expect_ok, lambda: cancel_rental(rental=rental, reason=reason, by_user=rental.customer.user))

    @precondition(lambda self: self.rental_ids)
    @rule(
        index=st.integers(0, 99),
        pick=PICK,
        fee_kind=st.sampled_from(["zero", "zero", "half", "all", "over", "random"]),
        cents=st.integers(1, 400_000),
    )
    def staff_cancels(self, index, pick, fee_kind, cents):
        rental = self._rental(index, pick, lambda r: r.status in Rental.ACTIVE_STATUSES)
        fee = _amount(fee_kind, rental.order_total, cents)
        # within the order total and the policy's bounds now (SPEC §19)
        expect_ok = (
            rental.status in Rental.ACTIVE_STATUSES
            and ZERO <= fee <= rental.order_total
            and fee <= cancel_terms(rental=rental, now=self.now).ceiling
        )
        self._attempt(
            expect_ok,
            lambda: cancel_rental(rental=rental, reason="Staff decision", by_user=self.staff, cancellation_fee=fee),
        )

    # --- what must always hold ------------------------------------------------------------

    @invariant()
    def money_and_cars_are_consistent(self):
        if not self.rental_ids:
            return
        rentals = list(Rental.objects.filter(pk__in=self.rental_ids).order_by("pk"))
        ledger = {}
        in_flight = {}  # rental id → refunds asked of the provider, not yet answered
        given_back = {}  # charge id → what its refunds took (refunded or in flight)
        charges = {}
        for rental_id, pk, kind, status, amount, goodwill, refund_of in Payment.objects.filter(
            rental_id__in=self.rental_ids
        ).values_list("rental_id", "pk", "transaction_type", "status", "amount", "goodwill_amount", "refund_of_id"):
            paid, refunded, goodwill_sum = ledger.get(rental_id, (ZERO, ZERO, ZERO))
            if (kind, status) == ("CHARGE", "PAID"):
                paid += amount
                charges[pk] = amount
            elif (kind, status) == ("REFUND", "REFUNDED"):
                refunded += amount
                goodwill_sum += goodwill
                assert ZERO <= goodwill <= amount, (pk, goodwill, amount)
                if refund_of is not None:
                    given_back[refund_of] = given_back.get(refund_of, ZERO) + amount
            elif kind == "REFUND" and status in Payment.OPEN_STATUSES:
                in_flight[rental_id] = in_flight.get(rental_id, ZERO) + amount
                assert refund_of is not None, ("an online refund names its charge", pk)
                given_back[refund_of] = given_back.get(refund_of, ZERO) + amount
            ledger[rental_id] = (paid, refunded, goodwill_sum)
        for charge_id, amount in given_back.items():
            assert amount <= charges[charge_id], ("a charge gave back more than it took", charge_id, amount)
        for rental in rentals:
            if rental.pk == self.rental_ids[-1] or rental.updated_at == self.now:
                # what the last step touched goes through the shared full check
                assert_ledger_consistent(rental)
            paid, refunded, goodwill = ledger.get(rental.pk, (ZERO, ZERO, ZERO))
            flying = in_flight.get(rental.pk, ZERO)
            stored = (
                rental.amount_paid,
                rental.amount_refunded,
                rental.goodwill_amount,
                rental.amount_refund_in_flight,
            )
            assert stored == (paid, refunded, goodwill, flying), (rental.pk, paid, refunded, goodwill, flying)
            figures = rental.figures_for(paid, refunded, goodwill, flying)
            assert rental.settlement_status == figures.settlement_status, (rental.pk, figures)
            assert (rental.settled_at is not None) == (figures.settlement_status == "SETTLED"), rental.pk
            assert refunded + flying <= paid and figures.net_paid >= ZERO, (rental.pk, figures)
            if flying > ZERO:
                assert figures.settlement_status != "SETTLED", (rental.pk, figures)
            # An order owes money back only when nobody can receive it (a walk-in
            # after the return, a cancel, or a hand-over that dropped the one-way
            # fee), or when the provider refused a refund (staff retry it).
            refused = Payment.objects.filter(
                rental=rental, transaction_type=Payment.TransactionType.REFUND, status=Payment.Status.FAILED
            ).exists()
            if rental.requires_manual_refund:
                assert figures.refund_due > ZERO, (rental.pk, rental.status, figures)
            if figures.refund_due > ZERO:
                assert rental.requires_manual_refund or refused, (rental.pk, rental.status, figures)

        # no charge is ever refunded twice for one reason (a refused refund is not a refund)
        reasons = list(
            PaymentEvent.objects.filter(rental_id__in=self.rental_ids, event__in=["refund_issued", "refund_requested"])
            .exclude(payment__status=Payment.Status.FAILED)
            .values_list("payment__refund_of_id", "payload__reason")
        )
        for reason in ("cancellation", "deposit"):
            per_charge = [charge_id for charge_id, r in reasons if r == reason]
            assert len(per_charge) == len(set(per_charge)), (reason, reasons)

        # a car is RENTED exactly while one of its rentals is on the road
        on_road = {r.vehicle_id for r in rentals if r.status in Rental.ON_ROAD_STATUSES}
        for car_id, status in Vehicle.objects.values_list("pk", "status"):
            assert (status == Vehicle.Status.RENTED) == (car_id in on_road), (car_id, status, on_road)


def test_the_ledger_holds_under_random_sequences():
    with translation.override("en"):
        run_state_machine_as_test(
            LedgerMachine,
            settings=hypothesis_settings.get_profile(LEDGER_PROFILE),
        )
