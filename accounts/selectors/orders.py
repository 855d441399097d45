"""Reads for the customer's pages: order rows with their figures, badges and allowed actions, paging, notifications.

Every list below loads a customer's rentals with their payments in two queries
(rentals joined to car, stores and review; one prefetch of all their payments),
so Rental.ledger_sums() reads the prefetch and the query count does not grow
with the number of orders.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.paginator import Page
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_lazy

from accounts.figures import REMAINING_SO_FAR, MoneyFigures, deposit_way, evaluate, so_far_figures
from accounts.models import Notification, Payment
from accounts.selectors import holds
from accounts.wording import join_sentences
from car_rental_system.compiled_queries import CompiledQuery
from car_rental_system.money import ZERO, format_cny, quantize_money
from rentals.models import Rental

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


def remaining_so_far(*, figures: MoneyFigures, overdue_so_far: Decimal) -> Decimal:
    """What the customer would owe if the car came back now (SPEC §16
    "overdue so far"): §4 ``remaining`` with the late fee accrued so far added
    to what the order owes."""
    if overdue_so_far <= ZERO:
        return figures.remaining
    return evaluate(
        REMAINING_SO_FAR,
        None,
        {"overdue_so_far": quantize_money(overdue_so_far)},
        {"owed": figures.owed, "net_paid": figures.net_paid},
    )


@dataclass(frozen=True)
class OwedSoFar:
    """SPEC §16 "overdue so far" of one order: the late fee accrued until now,
    what the customer would owe if the car came back now, and how the deposit
    meets it (taken from the deposit so far, owed beyond it). Zero fee (and
    §4 ``remaining``) unless the order is OVERDUE. The customer's pages and the
    staff pages read it from here."""

    overdue_fee: Decimal
    remaining: Decimal
    from_deposit: Decimal = ZERO
    beyond_deposit: Decimal = ZERO


def owed_so_far(*, rental: Rental, figures: MoneyFigures, now: datetime | None = None) -> OwedSoFar:
    fee = rental.overdue_fee_so_far(now)
    if fee <= ZERO:
        return OwedSoFar(overdue_fee=fee, remaining=figures.remaining)
    split = so_far_figures(rental, figures, fee)
    return OwedSoFar(
        overdue_fee=fee,
        remaining=split["remaining_so_far"],
        from_deposit=split["overdue_from_deposit"],
        beyond_deposit=split["due_at_return_so_far"],
    )


def payment_badge(
    *, rental: Rental, figures: MoneyFigures, overdue_so_far: Decimal | None = None
) -> tuple[str, str | Promise]:
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


def lapsed_unpaid(*, rental: Rental) -> bool:
    """Whether the order was cancelled because it was not paid in time (SPEC §16)."""
    return rental.status == Rental.Status.CANCELLED and rental.events.filter(event="lapsed").exists()


def can_review(*, rental: Rental) -> bool:
    if rental.status != Rental.Status.COMPLETED:
        return False
    try:
        rental.review  # noqa: B018 (raises when the order has no review)
    except Rental.review.RelatedObjectDoesNotExist:
        return True
    return False


def is_money_movement(*, payment: Payment) -> bool:
    """Charges that took money and refunds that gave it back."""
    return (payment.transaction_type, payment.status) in {
        (Payment.TransactionType.CHARGE, Payment.Status.PAID),
        (Payment.TransactionType.REFUND, Payment.Status.REFUNDED),
    }


def _methods(payments: list, statuses: tuple) -> str:
    """The payment methods of the refunds in ``statuses``, in the active language."""
    labels: list[str] = []
    for payment in payments:
        if payment.transaction_type == Payment.TransactionType.REFUND and payment.status in statuses:
            label = str(payment.get_payment_method_display())
            if label not in labels:
                labels.append(label)
    return " / ".join(labels)


@dataclass(frozen=True)
class RefundStatus:
    """Where the order's refunds stand now (SPEC §11, §17): money back (its
    refunds REFUNDED), money in flight (asked of the provider, not yet
    answered) and money whose refund was refused (FAILED: due again, staff
    will contact the customer). ``lines`` says each in words, the banner of
    the order page and of the cancel confirmation."""

    back: Decimal
    in_flight: Decimal
    failed: Decimal
    back_methods: str = ""
    in_flight_methods: str = ""

    @property
    def lines(self) -> list[tuple[str, str]]:
        lines = []
        if self.failed > ZERO:
            lines.append(
                (
                    "failed",
                    gettext(
                        "The refund of %(amount)s did not go through; our staff will contact you, or you can "
                        "collect it at the store counter."
                    )
                    % {"amount": format_cny(self.failed)},
                )
            )
        if self.in_flight > ZERO:
            lines.append(
                (
                    "in_flight",
                    gettext(
                        "A refund of %(amount)s to your %(method)s is in progress; we will tell you when it arrives."
                    )
                    % {"amount": format_cny(self.in_flight), "method": self.in_flight_methods},
                )
            )
        if self.back > ZERO:
            lines.append(
                (
                    "back",
                    gettext("%(amount)s has been refunded to your %(method)s.")
                    % {"amount": format_cny(self.back), "method": self.back_methods},
                )
            )
        return lines

    @property
    def state(self) -> str:
        """The worst news first: ``failed``, ``in_flight``, ``back`` or ``""``."""
        return self.lines[0][0] if self.lines else ""


def refund_status(*, figures: MoneyFigures, payments: list) -> RefundStatus:
    """The order's RefundStatus from its §4/§11 figures and its ledger rows:
    back = refunded, in flight = refund in flight, failed = the refund due
    again after a refusal (what is due while a FAILED refund has not been
    given back by a retry or by hand)."""
    refused = any(
        p.transaction_type == Payment.TransactionType.REFUND and p.status == Payment.Status.FAILED for p in payments
    )
    return RefundStatus(
        back=figures.refunded,
        in_flight=figures.refund_in_flight,
        failed=figures.refund_due if refused else ZERO,
        back_methods=_methods(payments, (Payment.Status.REFUNDED,)),
        in_flight_methods=_methods(payments, tuple(Payment.OPEN_STATUSES)),
    )


@dataclass(frozen=True)
class OrderRow:
    rental: Rental
    figures: MoneyFigures
    breakdown: dict
    payments: list
    badge: str
    can_pay: bool
    can_cancel: bool
    can_review: bool
    overdue_so_far: Decimal = ZERO
    remaining_so_far: Decimal = ZERO
    overdue_from_deposit: Decimal = ZERO
    due_at_return_so_far: Decimal = ZERO
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
    def deposit_way(self) -> dict[str, Decimal]:
        """A returned order's deposit: paid, fees taken from it, back to the
        customer (``accounts.figures.deposit_way``); empty when none was paid."""
        return deposit_way(self.rental, self.figures)

    @property
    def overdue_note(self) -> str:
        """What an overdue order's page says of the late fee so far: how much,
        that the deposit in hand pays it at the return, and what is owed
        beyond the deposit, if anything."""
        if self.overdue_so_far <= ZERO:
            return ""
        end = date_format(timezone.localtime(self.rental.end_time), "Y-m-d H:i")
        first = gettext(
            "The car was due back at %(end)s. The overdue fee so far is %(fee)s; it grows with every started day "
            "until the car is returned."
        ) % {"end": end, "fee": format_cny(self.overdue_so_far)}
        beyond = format_cny(self.due_at_return_so_far)
        if self.due_at_return_so_far <= ZERO:
            second = gettext(
                "It will be taken from your deposit (%(held)s held) at the return: nothing is owed beyond the "
                "deposit so far."
            ) % {"held": format_cny(self.deposit_held)}
        elif self.overdue_from_deposit > ZERO:
            second = gettext(
                "%(part)s of it will be taken from your deposit at the return; %(beyond)s beyond the deposit is to "
                "be paid then."
            ) % {"part": format_cny(self.overdue_from_deposit), "beyond": beyond}
        else:
            second = gettext("There is no deposit to take it from: %(beyond)s is to be paid at the return.") % {
                "beyond": beyond
            }
        return join_sentences(first, second)

    @property
    def refund_status(self) -> RefundStatus:
        return refund_status(figures=self.figures, payments=self.payments)

    @property
    def movements(self) -> list:
        """The flow of money: PAID charges and REFUNDED refunds, oldest first."""
        return [p for p in self.payments if is_money_movement(payment=p)]

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


def customer_rentals(*, customer: Any) -> QuerySet:
    """A customer's rentals, newest first, with car, stores, review and payments loaded."""
    return (
        Rental.objects.filter(customer=customer)
        .select_related("vehicle", "vehicle__location", "pickup_location", "return_location", "review")
        .prefetch_related(Prefetch("payments", queryset=Payment.objects.order_by("created_at", "id")))
        .order_by("-created_at", "-id")
    )


ORDER_PAGE_RENTAL = CompiledQuery(
    lambda customer_id, pk: (
        Rental.objects.filter(customer_id=customer_id, pk=pk)
        .select_related(
            "vehicle", "vehicle__location", "pickup_location", "return_location", "review", "policy", "invoice_request"
        )
        .order_by()
    )
)
RENTAL_PAYMENTS = CompiledQuery(
    lambda rental_id: Payment.objects.filter(rental_id=rental_id).order_by("created_at", "id")
)


def order_page_rental(*, customer: Any, pk: int) -> Rental | None:
    """The customer's order ``pk`` as customer_rentals() loads it, plus its
    cancellation policy and invoice request, with its payments; two
    statements, each compiled once per connection (None: not theirs), and a
    third for the deposit holds of a HOLD or CREDIT order."""
    found = ORDER_PAGE_RENTAL.fetch(customer.pk, pk)
    if not found:
        return None
    rental = found[0]
    if holds.shows_holds(rental):  # §18: one more statement, for held-mode orders only
        _attach_payments(rental, holds.HOLD_ORDER_PAYMENTS.fetch(rental.pk))
        holds.attach_holds(rental)
    else:
        _attach_payments(rental, RENTAL_PAYMENTS.fetch(rental.pk))
    return rental


def _attach_payments(rental: Rental, payments: list) -> None:
    """``payments`` as the rental's prefetched payments (what prefetch_related leaves)."""
    for payment in payments:
        payment._state.fields_cache["rental"] = rental
    loaded = rental.payments.all()
    loaded._result_cache = payments
    loaded._prefetch_done = True  # type: ignore[attr-defined]  # as prefetch_related leaves it
    rental._prefetched_objects_cache = {"payments": loaded}  # type: ignore[attr-defined]


_FIRST_PAGES: dict[int, tuple[CompiledQuery, CompiledQuery]] = {}


def _first_page_queries(per_page: int) -> tuple[CompiledQuery, CompiledQuery]:
    if per_page not in _FIRST_PAGES:

        def ids(customer_id):
            return Rental.objects.filter(customer_id=customer_id).order_by("-created_at", "-id").values("pk")[:per_page]

        _FIRST_PAGES[per_page] = (
            CompiledQuery(lambda customer_id: _rentals_by_ids(ids(customer_id)).prefetch_related(None)),
            CompiledQuery(
                lambda customer_id: Payment.objects.filter(rental_id__in=ids(customer_id)).order_by("created_at", "id")
            ),
        )
    return _FIRST_PAGES[per_page]


def first_page_rentals(*, customer_id: int, per_page: int) -> list[Rental]:
    """Page 1 of all of a customer's rentals as rentals_page() loads it (car,
    stores, review, payments), in two statements compiled once per connection."""
    rentals_query, payments_query = _first_page_queries(per_page)
    rentals = rentals_query.fetch(customer_id)
    by_rental: dict[int, list] = {rental.pk: [] for rental in rentals}
    for payment in payments_query.fetch(customer_id):
        by_rental[payment.rental_id].append(payment)
    for rental in rentals:
        _attach_payments(rental, by_rental[rental.pk])
    return rentals


def rentals_page(
    *, rentals: QuerySet, number: Any, per_page: int, count: int | None = None, all_of: int | None = None
) -> Page:
    """One page of ``rentals`` (a customer_rentals() queryset, maybe filtered),
    as a Django Page whose object_list is the page's rentals with their car,
    stores, review and payments.

    The page's order numbers are picked from the (customer, created_at) index
    in a subquery and only those rows are joined and read, so a far page
    costs about what the first one does. ``count``, when known, spares the
    COUNT query. ``all_of``: ``rentals`` are all of that customer's, unfiltered,
    so page 1 is read by first_page_rentals()."""
    from django.core.paginator import Paginator

    paginator = Paginator(rentals.only("pk"), per_page)
    if count is not None:
        paginator.count = count
    page = paginator.get_page(number)
    if paginator.count and all_of is not None and page.number == 1:
        page.object_list = first_page_rentals(customer_id=all_of, per_page=per_page)
    elif paginator.count:
        offset = (page.number - 1) * per_page
        ids = rentals.order_by("-created_at", "-id").values("pk")[offset : offset + per_page]
        page.object_list = list(_rentals_by_ids(ids))
    else:
        page.object_list = []
    return page


def _rentals_by_ids(ids: Any) -> QuerySet:
    return (
        Rental.objects.filter(pk__in=ids)
        .select_related("vehicle", "vehicle__location", "pickup_location", "return_location", "review")
        .prefetch_related(Prefetch("payments", queryset=Payment.objects.order_by("created_at", "id")))
        .order_by("-created_at", "-id")
    )


def order_row(*, rental: Rental, now: datetime | None = None) -> OrderRow:
    """Figures, badge and allowed actions of one rental (no query when payments are prefetched)."""
    from rentals import selectors as rental_selectors

    figures = rental.money_figures()
    owed = owed_so_far(rental=rental, figures=figures, now=now)
    so_far = owed.overdue_fee
    return OrderRow(
        rental=rental,
        figures=figures,
        breakdown=rental.get_order_amount_breakdown(),
        payments=list(rental.payments.all()),
        badge=payment_badge(rental=rental, figures=figures, overdue_so_far=so_far)[0],
        can_pay=can_pay(rental=rental, figures=figures),
        can_cancel=rental_selectors.can_cancel(rental=rental, now=now),
        can_review=can_review(rental=rental),
        overdue_so_far=so_far,
        remaining_so_far=owed.remaining,
        overdue_from_deposit=owed.from_deposit,
        due_at_return_so_far=owed.beyond_deposit,
        deposit_held=figures.deposit_held,
        spent=figures.spent,
    )


def unread_notification_count(*, user: Any) -> int:
    return Notification.objects.filter(user=user, is_read=False).count()


def notifications_for(*, user: Any) -> QuerySet:
    return Notification.objects.filter(user=user).select_related("rental").order_by("-created_at", "-id")
