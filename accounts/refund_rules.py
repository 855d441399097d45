"""How money goes back (SPEC §5, §16 "refunds follow the money"): which PAID
charges still have money to give back, how a refund is spread over them and
who receives each part. Pure rules plus the two reads they need; used by
``accounts.services.refund_due_rows``, the previews of ``rentals.selectors``
and the batch job (``rentals.ops``). Imports models only."""

from dataclasses import dataclass
from decimal import Decimal

from accounts.models import Payment
from car_rental_system.money import ZERO, quantize_money
from rentals.models import Rental


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


def is_counter_money(*, method: str, provider: str = "") -> bool:
    """Money that goes back at the counter (SPEC §16, §17): cash, and any
    charge staff took at the counter (``record_counter_payment``: cash or the
    card terminal, provider ``counter``). No provider gives it back, so no job
    and no customer's own cancel may mark its refund REFUNDED: it is left for
    staff (``requires_manual_refund``) until they record it as handed over.
    The one rule of ``route_refund`` and the refund previews."""
    return method == Payment.Method.CASH or provider == Payment.COUNTER_PROVIDER


def charges_left(*, charges: list, refunds: list) -> list[ChargeLeft]:
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


def split_refund(*, charges: list[ChargeLeft], amount: Decimal, first_charge_id: int | None = None) -> list[RefundPart]:
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


def receiver_id(
    *, charge_user_id: int | None, customer_user_id: int | None, recipient_id: int | None = None
) -> int | None:
    """Who receives money given back from a charge (SPEC §5, §16): ``recipient_id``
    when staff name someone, else the charge's payer, else the customer's user;
    None: nobody (a walk-in), the money is handed back by hand. The one rule of
    ``route_refund`` and ``refund_recipient``."""
    return recipient_id or charge_user_id or customer_user_id


def route_refund(
    *, parts: list[RefundPart], customer_user_id: int | None, recipient_id: int | None = None, at_counter: bool
) -> tuple[list[RefundPart], list[RefundPart]]:
    """Who receives each part of a refund (SPEC §5, §16; pure): ``receiver_id``.
    Returns (parts to write, with ``user_id`` set to their receiver; parts left
    for staff to hand back). A part is left for staff when nobody can receive
    it (a walk-in) or when it gives back counter money (``is_counter_money``:
    cash or the card terminal) and no clerk is at the counter handing it over
    (``at_counter`` False: a customer's own cancel, a job)."""
    to_write: list[RefundPart] = []
    for_staff: list[RefundPart] = []
    for part in parts:
        user_id = receiver_id(charge_user_id=part.user_id, customer_user_id=customer_user_id, recipient_id=recipient_id)
        if user_id is None or (is_counter_money(method=part.method, provider=part.provider) and not at_counter):
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
    parts = split_refund(charges=charges, amount=amount, first_charge_id=first_charge_id)
    return route_refund(
        parts=parts, customer_user_id=customer_user_id, recipient_id=recipient_id, at_counter=at_counter
    )


def refundable_charges(*, rental: Rental) -> list[ChargeLeft]:
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
    return {pk: charges_left(charges=charges[pk], refunds=refunds[pk]) for pk in rental_ids}
