"""Reads of the payment ledger."""

from dataclasses import dataclass
from decimal import Decimal

from accounts.models import Payment
from car_rental_system.money import ZERO, format_cny, quantize_money
from rentals.models import MoneyFigures, Rental


def get_payment_summary(rental: Rental) -> dict[str, Decimal]:
    """The §4 figures of a rental, straight from its Payment rows."""
    figures = rental.money_figures()
    return {
        "paid_amount": figures.paid,
        "refunded_amount": figures.refunded,
        "net_paid": figures.net_paid,
        "order_total_amount": figures.order_total,
        "remaining_amount": figures.remaining,
        "refund_due": figures.refund_due,
        "refund_in_flight": figures.refund_in_flight,
    }


@dataclass(frozen=True)
class ChargeLeft:
    """A PAID charge and what of it has not been given back yet."""

    charge_id: int
    method: str
    user_id: int | None
    left: Decimal
    provider: str = ""


@dataclass(frozen=True)
class RefundPart:
    """One refund row to write: ``amount`` of the money that came in through ``charge_id``."""

    charge_id: int
    method: str
    user_id: int | None
    amount: Decimal
    provider: str = ""


def charges_left(charges, refunds) -> list[ChargeLeft]:
    """What each PAID charge still has to give back, newest first (SPEC §16
    "refunds follow the money"; pure, no query).

    ``charges``: ``(id, method, user_id, amount, paid_at[, provider])`` of the PAID charges;
    ``refunds``: ``(refund_of_id, method, amount)`` of the refunds that count
    (REFUNDED, and those in flight: PENDING or PROCESSING; a FAILED one frees
    its amount). A refund tied to a charge takes from that charge; one that is
    not (older rows, counter refunds) from the newest charges of its own method
    first, then from the newest of any. Charges with nothing left are left out.
    """
    ordered = sorted(charges, key=lambda c: (c[4] is not None, c[4], c[0]), reverse=True)
    left = {c[0]: quantize_money(c[3]) for c in ordered}
    unlinked = []
    for refund_of_id, method, amount in refunds:
        if refund_of_id in left:
            left[refund_of_id] -= amount
        else:
            unlinked.append((method, amount))
    for method, amount in unlinked:
        for same_method_only in (True, False):
            for charge_id, charge_method, *_rest in ordered:
                if amount <= ZERO:
                    break
                if same_method_only and charge_method != method:
                    continue
                take = min(amount, max(ZERO, left[charge_id]))
                left[charge_id] -= take
                amount -= take
    return [
        ChargeLeft(
            charge_id=c[0],
            method=c[1],
            user_id=c[2],
            left=quantize_money(left[c[0]]),
            provider=c[5] if len(c) > 5 else "",
        )
        for c in ordered
        if left[c[0]] > ZERO
    ]


def split_refund(charges: list[ChargeLeft], amount: Decimal, *, first_charge_id=None) -> list[RefundPart]:
    """Spread a refund of ``amount`` over the charges with money left, newest
    first (``first_charge_id`` before all others), each part at most what is
    left of its charge. The parts add up to ``amount`` unless the charges hold
    less (never expected: refund_due ≤ net paid = Σ left)."""
    if first_charge_id is not None:
        charges = sorted(charges, key=lambda c: c.charge_id != first_charge_id)
    parts, amount = [], quantize_money(amount)
    for charge in charges:
        if amount <= ZERO:
            break
        take = min(amount, charge.left)
        parts.append(RefundPart(charge.charge_id, charge.method, charge.user_id, take, charge.provider))
        amount -= take
    return parts


def receiver_id(*, charge_user_id: int | None, customer_user_id: int | None, recipient_id: int | None = None) -> int | None:
    """Who receives money given back from a charge (SPEC §5, §16): ``recipient_id``
    when staff name someone, else the charge's payer, else the customer's user;
    None: nobody (a walk-in), the money is handed back by hand. The one rule of
    ``route_refund`` and ``refund_recipient``."""
    return recipient_id or charge_user_id or customer_user_id


def route_refund(
    parts: list[RefundPart], *, customer_user_id: int | None, recipient_id: int | None = None, at_counter: bool
) -> tuple[list[RefundPart], list[RefundPart]]:
    """Who receives each part of a refund (SPEC §5, §16; pure): ``receiver_id``.
    Returns (parts to write, with ``user_id`` set to their receiver; parts left
    for staff to hand back). A part is left for staff when nobody can receive
    it (a walk-in) or when it gives back cash and no clerk is at the counter
    handing it over (``at_counter`` False: a customer's own cancel, a job)."""
    to_write: list[RefundPart] = []
    for_staff: list[RefundPart] = []
    for part in parts:
        user_id = receiver_id(charge_user_id=part.user_id, customer_user_id=customer_user_id, recipient_id=recipient_id)
        if user_id is None or (part.method == Payment.Method.CASH and not at_counter):
            for_staff.append(part)
        else:
            to_write.append(RefundPart(part.charge_id, part.method, user_id, part.amount, part.provider))
    return to_write, for_staff


def plan_refund(
    *,
    charges: list[ChargeLeft],
    amount: Decimal,
    customer_user_id: int | None,
    recipient_id: int | None = None,
    at_counter: bool,
    first_charge_id: int | None = None,
) -> tuple[list[RefundPart], list[RefundPart]]:
    """How a refund of ``amount`` goes back (SPEC §16 "refunds follow the money"):
    spread over ``charges`` newest first (``split_refund``), each part to its
    receiver (``route_refund``). Returns (parts to write, parts left for
    staff). The one rule of ``accounts.services.refund_due_rows``, the
    cancel and return previews and the batch job."""
    if amount <= ZERO:
        return [], []
    parts = split_refund(charges, amount, first_charge_id=first_charge_id)
    return route_refund(parts, customer_user_id=customer_user_id, recipient_id=recipient_id, at_counter=at_counter)


def refundable_charges(rental: Rental) -> list[ChargeLeft]:
    """The rental's PAID charges with money left to give back, newest first (two queries)."""
    return refundable_charges_by_rental(rental_ids=[rental.pk])[rental.pk]


def refundable_charges_by_rental(*, rental_ids: list[int]) -> dict[int, list[ChargeLeft]]:
    """{rental id: its PAID charges with money left, newest first} in two
    queries, whatever the number of rentals (the batch job's form)."""
    charges: dict[int, list] = {pk: [] for pk in rental_ids}
    refunds: dict[int, list] = {pk: [] for pk in rental_ids}
    payments = Payment.objects.filter(rental_id__in=rental_ids)
    for pk, *row in payments.filter(
        transaction_type=Payment.TransactionType.CHARGE, status=Payment.Status.PAID
    ).values_list("rental_id", "pk", "payment_method", "user_id", "amount", "paid_at", "provider"):
        charges[pk].append(tuple(row))
    for pk, *row in payments.filter(
        transaction_type=Payment.TransactionType.REFUND, status__in=Payment.REFUND_TAKING_STATUSES
    ).values_list("rental_id", "refund_of_id", "payment_method", "amount"):
        refunds[pk].append(tuple(row))
    return {pk: charges_left(charges[pk], refunds[pk]) for pk in rental_ids}


def refund_recipient(rental: Rental):
    """Who gets money back by hand (SPEC §5, §16): ``receiver_id`` for the
    newest charge that still has money left to give back, else the
    customer's user, else None (nobody: handed back in cash)."""
    from django.contrib.auth import get_user_model

    charges = refundable_charges(rental)
    user_id = receiver_id(
        charge_user_id=charges[0].user_id if charges else None, customer_user_id=rental.customer.user_id
    )
    if user_id is None:
        return None
    if user_id == rental.customer.user_id:
        return rental.customer.user
    return get_user_model().objects.get(pk=user_id)


def refund_method(rental: Rental) -> str:
    """Money goes back the way it came: the method of the newest charge with
    money left to give back; BANK when there is none."""
    charges = refundable_charges(rental)
    return charges[0].method if charges else Payment.Method.BANK


def open_charge(rental: Rental) -> Payment | None:
    return Payment.objects.filter(
        rental=rental, transaction_type=Payment.TransactionType.CHARGE, status__in=Payment.OPEN_STATUSES
    ).first()


# --- customer pages --------------------------------------------------------------
# Every list below loads a customer's rentals with their payments in two queries
# (rentals joined to car, stores and review; one prefetch of all their payments),
# so Rental.ledger_sums() reads the prefetch and the query count does not grow
# with the number of orders.

from django.db.models import Prefetch, QuerySet  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.utils.translation import gettext, gettext_lazy  # noqa: E402

from accounts.models import Notification  # noqa: E402

BADGE_TO_PAY = "to_pay"
BADGE_PAID = "paid"
BADGE_REFUND_PENDING = "refund_pending"
BADGE_REFUND_IN_PROGRESS = "refund_in_progress"
BADGE_SETTLED = "settled"
BADGE_OVERDUE = "overdue"
BADGE_LABELS = {
    BADGE_TO_PAY: gettext_lazy("To pay"),
    BADGE_PAID: gettext_lazy("Paid in full"),
    BADGE_REFUND_PENDING: gettext_lazy("Refund pending"),
    BADGE_REFUND_IN_PROGRESS: gettext_lazy("Refund in progress"),
    BADGE_SETTLED: gettext_lazy("Settled"),
}
# Orders a customer may pay online (SPEC §5 "Paying"), when something remains.
PAYABLE_STATUSES = (
    Rental.Status.PENDING,
    Rental.Status.ONGOING,
    Rental.Status.OVERDUE,
    Rental.Status.COMPLETED,
)


def remaining_so_far(figures, overdue_so_far: Decimal) -> Decimal:
    """What the customer would owe if the car came back now (SPEC §16
    "overdue so far"): §4 ``remaining`` with the late fee accrued so far added
    to what the order owes."""
    if overdue_so_far <= ZERO:
        return figures.remaining
    return max(ZERO, quantize_money(figures.owed + overdue_so_far - figures.net_paid))


def payment_badge(rental: Rental, figures, overdue_so_far: Decimal | None = None) -> tuple[str, str]:
    """SPEC §10: 待退款 when money is due back, 已逾期 while an overdue order
    is accruing a late fee (§16), 退款中 while a refund is with the provider
    (§11), 待支付 while something remains, 已结清 once SETTLED, else 已付清
    (paid in full, order still open)."""
    if overdue_so_far is None:
        overdue_so_far = rental.overdue_fee_so_far()
    if overdue_so_far > ZERO and figures.refund_due == ZERO:
        key = BADGE_OVERDUE
    elif figures.refund_due > ZERO:
        key = BADGE_REFUND_PENDING
    elif figures.refund_in_flight > ZERO:
        key = BADGE_REFUND_IN_PROGRESS
    elif figures.remaining > ZERO:
        key = BADGE_TO_PAY
    elif figures.settlement_status == Rental.SettlementStatus.SETTLED:
        key = BADGE_SETTLED
    else:
        key = BADGE_PAID
    if key == BADGE_OVERDUE:
        return key, gettext("Overdue: %(amount)s so far") % {"amount": format_cny(overdue_so_far)}
    return key, BADGE_LABELS[key]


def can_pay(*, rental: Rental, figures: MoneyFigures | None = None) -> bool:
    """Whether accounts.services.start_payment would accept this order now:
    one of PAYABLE_STATUSES and something remains to pay."""
    if figures is None:
        figures = rental.money_figures()
    return rental.status in PAYABLE_STATUSES and figures.remaining > ZERO


def lapsed_unpaid(rental: Rental) -> bool:
    """Whether the order was cancelled because it was not paid in time (SPEC §16)."""
    return rental.status == Rental.Status.CANCELLED and rental.events.filter(event="lapsed").exists()


def can_review(rental: Rental) -> bool:
    if rental.status != Rental.Status.COMPLETED:
        return False
    try:
        rental.review
    except Rental.review.RelatedObjectDoesNotExist:
        return True
    return False


def is_money_movement(payment: Payment) -> bool:
    """Charges that took money and refunds that gave it back."""
    return (payment.transaction_type, payment.status) in {
        (Payment.TransactionType.CHARGE, Payment.Status.PAID),
        (Payment.TransactionType.REFUND, Payment.Status.REFUNDED),
    }


@dataclass(frozen=True)
class OrderRow:
    rental: Rental
    figures: object  # rentals.models.MoneyFigures
    breakdown: dict
    payments: list
    badge: str
    can_pay: bool
    can_cancel: bool
    can_review: bool
    overdue_so_far: Decimal = ZERO
    remaining_so_far: Decimal = ZERO
    deposit_held: Decimal = ZERO
    spent: Decimal = ZERO

    @property
    def refund_notes(self) -> list[tuple[str, Decimal]]:
        """What the refunds of this order were, for the customer: ``(kind,
        amount)`` with kind ``deposit`` (the deposit, less any fees taken from
        it), ``goodwill`` (a staff refund above what was due), ``cancellation``
        or ``other``."""
        goodwill = self.figures.goodwill
        plain = quantize_money(self.figures.refunded - goodwill)
        notes = []
        if plain > ZERO:
            if self.rental.status == Rental.Status.CANCELLED:
                notes.append(("cancellation", plain))
            elif self.rental.status == Rental.Status.COMPLETED and self.rental.deposit > ZERO:
                deposit_part = min(plain, self.rental.deposit)
                notes.append(("deposit", deposit_part))
                if plain > deposit_part:
                    notes.append(("other", quantize_money(plain - deposit_part)))
            else:
                notes.append(("other", plain))
        if goodwill > ZERO:
            notes.append(("goodwill", goodwill))
        return notes

    @property
    def movements(self) -> list:
        """The flow of money: PAID charges and REFUNDED refunds, oldest first."""
        return [p for p in self.payments if is_money_movement(p)]

    @property
    def latest_failed_charge(self) -> Payment | None:
        """The last charge when it did not go through (so the page can say why)."""
        charges = [p for p in self.payments if p.transaction_type == Payment.TransactionType.CHARGE]
        if charges and charges[-1].status in (
            Payment.Status.FAILED,
            Payment.Status.CANCELLED,
            Payment.Status.EXPIRED,
        ):
            return charges[-1]
        return None


def customer_rentals(customer) -> QuerySet:
    """A customer's rentals, newest first, with car, stores, review and payments loaded."""
    return (
        Rental.objects.filter(customer=customer)
        .select_related("vehicle", "vehicle__location", "pickup_location", "return_location", "review")
        .prefetch_related(Prefetch("payments", queryset=Payment.objects.order_by("created_at", "id")))
        .order_by("-created_at", "-id")
    )


def deposit_held(rental: Rental, figures) -> Decimal:
    """Deposit money the company holds on an open order: what was paid beyond
    the rent and fees, up to the deposit (the finance dashboard's rule)."""
    if rental.status not in Rental.ACTIVE_STATUSES or rental.deposit <= ZERO:
        return ZERO
    charges = max(ZERO, figures.owed - rental.deposit)
    return min(rental.deposit, max(ZERO, quantize_money(figures.net_paid - charges)))


def order_row(rental: Rental, now=None) -> OrderRow:
    """Figures, badge and allowed actions of one rental (no query when payments are prefetched)."""
    from rentals import selectors as rental_selectors

    figures = rental.money_figures()
    so_far = rental.overdue_fee_so_far(now)
    held = deposit_held(rental, figures)
    return OrderRow(
        rental=rental,
        figures=figures,
        breakdown=rental.get_order_amount_breakdown(),
        payments=list(rental.payments.all()),
        badge=payment_badge(rental, figures, so_far)[0],
        can_pay=can_pay(rental=rental, figures=figures),
        can_cancel=rental_selectors.can_cancel(rental=rental, now=now),
        can_review=can_review(rental),
        overdue_so_far=so_far,
        remaining_so_far=remaining_so_far(figures, so_far),
        deposit_held=held,
        # What the customer will not get back: net paid less the deposit
        # still held and any refund still due.
        spent=quantize_money(figures.net_paid - held - figures.refund_due),
    )


def customer_order_rows(customer) -> list[OrderRow]:
    now = timezone.now()
    return [order_row(rental, now) for rental in customer_rentals(customer)]


def consumption_report(customer) -> dict:
    """Per order the fee split, paid, refunded, remaining and money flow; totals
    over all orders; net paid per month (local time) for the chart.

    ``remaining`` counts the late fee accrued so far on overdue orders
    (``overdue_so_far`` says how much of it that is); ``spent`` is what the
    customer will not get back, ``deposit_held`` the deposits still held."""
    rows = customer_order_rows(customer)
    totals = {
        "order_total": ZERO,
        "owed": ZERO,
        "paid": ZERO,
        "refunded": ZERO,
        "net_paid": ZERO,
        "refund_due": ZERO,
    }
    totals.update(remaining=ZERO, overdue_so_far=ZERO, deposit_held=ZERO, spent=ZERO)
    monthly: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        for name in ("order_total", "owed", "paid", "refunded", "net_paid", "refund_due"):
            totals[name] += getattr(row.figures, name)
        totals["remaining"] += row.remaining_so_far
        totals["overdue_so_far"] += row.overdue_so_far
        totals["deposit_held"] += row.deposit_held
        totals["spent"] += row.spent
        for payment in row.movements:
            when = timezone.localtime(payment.paid_at or payment.created_at)
            month = monthly.setdefault(f"{when:%Y-%m}", {"paid": ZERO, "refunded": ZERO})
            key = "paid" if payment.transaction_type == Payment.TransactionType.CHARGE else "refunded"
            month[key] += payment.amount
    return {
        "rows": rows,
        "totals": {name: quantize_money(value) for name, value in totals.items()},
        "order_count": len(rows),
        "refunded_order_count": sum(1 for row in rows if row.figures.refunded > ZERO),
        "monthly": [
            {
                "month": month,
                "paid": str(quantize_money(monthly[month]["paid"])),
                "refunded": str(quantize_money(monthly[month]["refunded"])),
                "net_paid": str(quantize_money(monthly[month]["paid"] - monthly[month]["refunded"])),
            }
            for month in sorted(monthly)
        ],
    }


def unread_notification_count(user) -> int:
    return Notification.objects.filter(user=user, is_read=False).count()


def notifications_for(user) -> QuerySet:
    return Notification.objects.filter(user=user).select_related("rental").order_by("-created_at", "-id")
