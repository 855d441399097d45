"""Reads of the payment ledger."""

from dataclasses import dataclass
from decimal import Decimal

from accounts.models import Payment
from car_rental_system.money import ZERO, format_cny, quantize_money
from rentals.models import Rental


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


def route_refund(
    parts: list[RefundPart], *, customer_user_id, recipient_id=None, at_counter: bool
) -> tuple[list[RefundPart], list[RefundPart]]:
    """Who receives each part of a refund (SPEC §5, §16; pure): ``recipient_id``
    when given, else the payer of the part's charge, else the customer's user.
    Returns (parts to write, with ``user_id`` set to their receiver; parts left
    for staff to hand back). A part is left for staff when nobody can receive
    it (a walk-in) or when it gives back cash and no clerk is at the counter
    handing it over (``at_counter`` False: a customer's own cancel, a job)."""
    to_write, for_staff = [], []
    for part in parts:
        user_id = recipient_id or part.user_id or customer_user_id
        if user_id is None or (part.method == Payment.Method.CASH and not at_counter):
            for_staff.append(part)
        else:
            to_write.append(RefundPart(part.charge_id, part.method, user_id, part.amount, part.provider))
    return to_write, for_staff


def refundable_charges(rental: Rental) -> list[ChargeLeft]:
    """The rental's PAID charges with money left to give back, newest first (two queries)."""
    base = Payment.objects.filter(rental_id=rental.pk)
    charges = base.filter(
        transaction_type=Payment.TransactionType.CHARGE, status=Payment.Status.PAID
    ).values_list("pk", "payment_method", "user_id", "amount", "paid_at", "provider")
    refunds = base.filter(
        transaction_type=Payment.TransactionType.REFUND, status__in=Payment.REFUND_TAKING_STATUSES
    ).values_list("refund_of_id", "payment_method", "amount")
    return charges_left(list(charges), list(refunds))


def refund_recipient(rental: Rental):
    """Who gets money back (SPEC §5, §16): the payer of the newest charge that
    still has money left to give back, else the customer's user, else None
    (manual handling)."""
    from django.contrib.auth import get_user_model

    for charge in refundable_charges(rental):
        if charge.user_id is not None:
            return get_user_model().objects.get(pk=charge.user_id)
        break
    return rental.customer.user


def refund_method(rental: Rental) -> str:
    """Money goes back the way it came: the method of the newest charge with
    money left to give back; BANK when there is none."""
    charges = refundable_charges(rental)
    return charges[0].method if charges else Payment.Method.BANK


ONLINE_METHODS = (Payment.Method.ALIPAY, Payment.Method.WECHAT, Payment.Method.BANK)


def available_methods() -> list[str]:
    """The online methods the pay page offers: those whose provider (SPEC §13
    ``provider_for_method``) can take a charge now. With the sandbox switched
    off in production, a method that would land on it (a bank card, Alipay
    without ``ALIPAY_APP_ID``) is not offered."""
    from accounts import providers

    methods = []
    for method in ONLINE_METHODS:
        try:
            usable = providers.provider_for_method(method).is_usable()
        except providers.ProviderError:  # a provider this build does not have
            usable = False
        if usable:
            methods.append(method)
    return methods


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


def can_pay(rental: Rental, figures) -> bool:
    """Whether accounts.services.start_payment would accept this order now."""
    return rental.status in PAYABLE_STATUSES and figures.remaining > ZERO


def can_cancel(rental: Rental) -> bool:
    """Customers cancel PENDING orders only; staff end the others at the counter."""
    return rental.status == Rental.Status.PENDING


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


def rentals_page(rentals: QuerySet, number, per_page: int, count: int | None = None):
    """One page of ``rentals`` (a customer_rentals() queryset, maybe filtered),
    as a Django Page whose object_list is the page's rentals with their car,
    stores, review and payments.

    The page's order numbers are picked from the (customer, created_at) index
    in a subquery and only those rows are joined and read, so a far page
    costs about what the first one does. ``count``, when known, spares the
    COUNT query."""
    from django.core.paginator import Paginator

    paginator = Paginator(rentals.only("pk"), per_page)
    if count is not None:
        paginator.count = count
    page = paginator.get_page(number)
    if paginator.count:
        offset = (page.number - 1) * per_page
        ids = rentals.order_by("-created_at", "-id").values("pk")[offset : offset + per_page]
        page.object_list = list(_rentals_by_ids(ids))
    else:
        page.object_list = []
    return page


def _rentals_by_ids(ids) -> QuerySet:
    return (
        Rental.objects.filter(pk__in=ids)
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
    figures = rental.money_figures()
    so_far = rental.overdue_fee_so_far(now)
    held = deposit_held(rental, figures)
    return OrderRow(
        rental=rental,
        figures=figures,
        breakdown=rental.get_order_amount_breakdown(),
        payments=list(rental.payments.all()),
        badge=payment_badge(rental, figures, so_far)[0],
        can_pay=can_pay(rental, figures),
        can_cancel=can_cancel(rental),
        can_review=can_review(rental),
        overdue_so_far=so_far,
        remaining_so_far=remaining_so_far(figures, so_far),
        deposit_held=held,
        # What the customer will not get back: net paid less the deposit
        # still held and any refund still due.
        spent=quantize_money(figures.net_paid - held - figures.refund_due),
    )


def unread_notification_count(user) -> int:
    return Notification.objects.filter(user=user, is_read=False).count()


def notifications_for(user) -> QuerySet:
    return Notification.objects.filter(user=user).select_related("rental").order_by("-created_at", "-id")
