"""Staff money at the counter: cash and card-terminal payments, manual refunds."""

import logging
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import selectors
from accounts.exceptions import PaymentError, RefundError
from accounts.models import Notification, Payment
from accounts.services.ledger import _require_staff, cancel_open_charges, new_transaction_id, record_payment_event
from accounts.services.notices import notify, payment_note
from accounts.services.refunds import issue_refund
from accounts.wording import Words
from car_rental_system import bounds
from car_rental_system.money import ZERO, format_cny, quantize_money
from rentals.locks import lock_rental
from rentals.models import Rental

logger = logging.getLogger(__name__)


COUNTER_METHODS = (Payment.Method.CASH, Payment.Method.BANK)


@transaction.atomic
def record_counter_payment(*, rental: Rental, amount: Decimal, method: str, by_user: Any) -> Payment:
    """Staff takes cash or a card-terminal payment: a PAID charge at once.

    At most the remaining amount. Open online charges are cancelled first so a
    late provider success can't make the order pay twice (it is then refunded).
    The charge's user is the customer's user (None for a walk-in); the staff
    member is the event's actor. Locks: rental → payments.
    """
    _require_staff(by_user)
    amount = bounds.clean_money(amount, error=PaymentError)
    if method not in COUNTER_METHODS:
        raise PaymentError(_("At the counter you can take cash or a bank card."), code="bad_method")
    if amount <= ZERO:
        raise PaymentError(_("The amount must be more than zero."), code="amount_not_positive")
    if bounds.exceeds_max_order_total(amount):
        raise PaymentError(bounds.amount_too_large_message(_("counter payment")), code="amount_too_large")
    locked = lock_rental(rental.pk)
    remaining = locked.money_figures().remaining
    if remaining <= ZERO:
        raise PaymentError(_("This order owes nothing."), code="nothing_owed")
    if amount > remaining:
        raise PaymentError(
            _("The amount %(amount)s is more than the %(remaining)s still owed.")
            % {"amount": format_cny(amount), "remaining": format_cny(remaining)},
            code="amount_exceeds_remaining",
        )
    cancel_open_charges(rental=locked, reason=_("Paid at the counter"), actor=by_user)
    now = timezone.now()
    charge = Payment.objects.create(
        rental=locked,
        user=locked.customer.user,
        amount=amount,
        payment_method=method,
        transaction_type=Payment.TransactionType.CHARGE,
        status=Payment.Status.PAID,
        transaction_id=new_transaction_id("PAY"),
        provider=Payment.COUNTER_PROVIDER,
        **payment_note(Words("counter_payment")),
        paid_at=now,
    )
    record_payment_event(
        event="counter_payment",
        payment=charge,
        to_status=Payment.Status.PAID,
        actor=by_user,
        payload={"amount": str(amount), "method": method, "staff": by_user.get_username()},
    )
    locked.refresh_financials()
    notify(
        user=locked.customer.user,
        rental=locked,
        notification_type=Notification.Type.PAYMENT_SUCCESS,
        kind="counter_payment_received",
        params={"order": locked.pk, "amount": str(amount)},
    )
    rental.refresh_from_db()
    return charge


def _charge_refunded(charges: list, *, amount: Decimal, method: str | None) -> Any:
    """The charge a staff refund gives back: the newest with ``amount`` left
    (of ``method`` when one is named). A named method no charge with money
    left came in by is refused, and so is more than is left of that money:
    a refund goes back only the way the money came (SPEC §16)."""
    charge = next((c for c in charges if c.left >= amount and method in (None, c.method)), None)
    if method is None or charge is not None:
        return charge
    label = Payment.Method(method).label if method in Payment.Method.values else method
    same = [c for c in charges if c.method == method]
    if not same:
        ways = ", ".join(sorted({str(Payment.Method(c.method).label) for c in charges})) or "—"
        raise RefundError(
            _("No money of this order came in by %(method)s, so it can't go back that way (it came by: %(ways)s).")
            % {"method": label, "ways": ways},
            code="method_not_paid",
        )
    raise RefundError(
        _("At most %(left)s of this order's money came in by %(method)s and is left to give back that way.")
        % {"left": format_cny(max(c.left for c in same)), "method": label},
        code="method_amount_exceeded",
    )


@transaction.atomic
def record_manual_refund(
    *, rental: Rental, amount: Decimal, reason: str, by_user: Any, user: Any = None, method: str | None = None
) -> Payment:
    """Staff gives money back by hand: at most net paid, with a reason.

    Used for goodwill refunds and for orders flagged ``requires_manual_refund``
    (nobody to refund automatically, or cash to hand back at the counter).
    The part above what is due (``refund_due``) is goodwill (SPEC §16): it is
    kept on the refund row and lowers what the order owes, so it never turns
    into a debt and a settled order stays settled. ``user`` receives it; None
    → the payer of the newest charge with money left, else the customer's user
    (nobody for a walk-in paid back in cash). ``method`` None → that charge's
    method; a named method must be a way the money came (SPEC §16): a charge
    of that method with the amount still left on it, else refused. Locks: rental.
    """
    _require_staff(by_user)
    reason = (reason or "").strip()
    if not reason:
        raise RefundError(_("Please give a reason for the refund."), code="reason_required")
    amount = bounds.clean_money(amount, error=RefundError)
    if bounds.exceeds_max_order_total(amount):
        raise RefundError(bounds.amount_too_large_message(_("refund")), code="amount_too_large")
    locked = lock_rental(rental.pk)
    goodwill = max(ZERO, quantize_money(amount - locked.money_figures().refund_due))
    charges = selectors.refundable_charges(rental=locked)
    charge = _charge_refunded(charges, amount=amount, method=method)
    recipient = user if user is not None else selectors.refund_recipient(rental=locked)
    refund = issue_refund(
        rental=locked,
        amount=amount,
        user=recipient,
        method=method or (charges[0].method if charges else None),
        refund_of_id=charge.charge_id if charge else None,
        goodwill_amount=goodwill,
        provider=Payment.INTERNAL_PROVIDER,
        description=Words("manual_refund", {"reason": reason}),
        actor=by_user,
        event="manual_refund",
        payload={"reason": reason, "staff": by_user.get_username(), "goodwill": str(goodwill)},
    )
    locked.refresh_financials()
    rental.refresh_from_db()
    return refund
