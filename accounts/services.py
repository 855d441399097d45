"""Writes to the payment ledger, its audit trail and notifications.

Every function here that changes money runs in ``transaction.atomic`` with the
rental row locked before any amount is read (lock order: customer → vehicle →
rental → payment, see ``rentals/locks.py``), writes its audit row in the same
transaction, and leaves the rental's stored figures equal to the ledger.
"""

import logging
import secrets
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import selectors
from accounts.exceptions import InvalidPaymentTransition, PaymentError, RefundError
from accounts.locks import lock_open_charges
from accounts.models import Notification, Payment, PaymentEvent
from car_rental_system.money import ZERO, format_cny, quantize_money
from rentals.locks import lock_rental
from rentals.models import Rental

logger = logging.getLogger(__name__)


# --- building blocks ------------------------------------------------------------


def new_transaction_id(prefix: str) -> str:
    """``PAY…``/``REF…`` + UTC timestamp + 40 random bits: sortable for people,
    unguessable and collision-free without relying on the clock alone."""
    return f"{prefix}{timezone.now():%Y%m%d%H%M%S}{secrets.token_hex(5).upper()}"


def record_payment_event(
    *,
    event: str,
    payment: Payment | None = None,
    rental: Rental | None = None,
    from_status: str = "",
    to_status: str = "",
    provider: str = "",
    actor=None,
    payload: dict | None = None,
) -> PaymentEvent:
    if rental is None and payment is not None:
        rental = payment.rental
    return PaymentEvent.objects.create(
        payment=payment,
        rental=rental,
        event=event,
        from_status=from_status,
        to_status=to_status,
        provider=provider or (payment.provider if payment else ""),
        actor=actor if getattr(actor, "pk", None) else None,
        payload=payload or {},
    )


def notify(*, user, notification_type: str, title: str, message: str = "", rental: Rental | None = None):
    """Write an in-app notification; customers without a login get none."""
    if user is None:
        return None
    return Notification.objects.create(
        user=user, rental=rental, notification_type=notification_type, title=title, message=message
    )


def transition_payment(
    *, payment: Payment, to_status: str, event: str = "status_changed", actor=None, payload=None, **fields
) -> Payment:
    """Move a (locked) payment along its transition table and audit the move."""
    if not payment.can_transition_to(to_status):
        raise InvalidPaymentTransition(
            _("Payment %(tx)s cannot go from %(from)s to %(to)s.")
            % {"tx": payment.transaction_id, "from": payment.status, "to": to_status},
            code="invalid_payment_transition",
        )
    from_status = payment.status
    payment.status = to_status
    for name, value in fields.items():
        setattr(payment, name, value)
    payment.save(update_fields=["status", *fields.keys(), "updated_at"])
    record_payment_event(
        event=event,
        payment=payment,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        payload=payload,
    )
    return payment


def cancel_open_charges(*, rental: Rental, reason: str, actor=None) -> list[Payment]:
    """Close every charge the customer could still complete (rental already locked).

    A provider may still report success for one of them later; handle_callback
    then records the money and refunds what the order can't use.
    """
    charges = lock_open_charges(rental.pk)
    for charge in charges:
        transition_payment(
            payment=charge,
            to_status=Payment.Status.CANCELLED,
            event="charge_cancelled",
            actor=actor,
            payload={"reason": reason},
            failure_reason=reason[:255],
        )
    return charges


def issue_refund(
    *,
    rental: Rental,
    amount: Decimal,
    user,
    description: str,
    method: str | None = None,
    actor=None,
    event: str = "refund_issued",
    payload: dict | None = None,
) -> Payment:
    """Write one REFUND row, REFUNDED at once, on a rental the caller has locked.

    Refuses to take net paid below zero. Notifies the receiving user. The
    caller refreshes the rental's financials.
    """
    amount = quantize_money(amount)
    if amount <= ZERO:
        raise RefundError(_("A refund must be more than zero."), code="refund_not_positive")
    figures = rental.money_figures()
    if amount > figures.net_paid:
        raise RefundError(
            _("A refund of %(amount)s would exceed the %(net)s actually paid.")
            % {"amount": format_cny(amount), "net": format_cny(figures.net_paid)},
            code="refund_exceeds_paid",
        )
    now = timezone.now()
    refund = Payment.objects.create(
        rental=rental,
        user=user,
        amount=amount,
        payment_method=method or selectors.refund_method(rental),
        transaction_type=Payment.TransactionType.REFUND,
        status=Payment.Status.REFUNDED,
        transaction_id=new_transaction_id("REF"),
        provider="internal",
        description=description[:255],
        paid_at=now,
    )
    record_payment_event(
        event=event,
        payment=refund,
        to_status=Payment.Status.REFUNDED,
        actor=actor,
        payload={"amount": str(amount), "description": description, **(payload or {})},
    )
    notify(
        user=user,
        rental=rental,
        notification_type=Notification.Type.REFUND_ISSUED,
        title=_("Refund of %(amount)s issued") % {"amount": format_cny(amount)},
        message=_("Order #%(order)s: %(description)s. The money goes back to your %(method)s.")
        % {"order": rental.pk, "description": description, "method": refund.get_payment_method_display()},
    )
    return refund


# --- staff flows ----------------------------------------------------------------


def _require_staff(by_user) -> None:
    if by_user is None or not getattr(by_user, "is_staff", False):
        raise PaymentError(_("Only staff can do this."), code="staff_only")


COUNTER_METHODS = (Payment.Method.CASH, Payment.Method.BANK)


@transaction.atomic
def record_counter_payment(*, rental: Rental, amount: Decimal, method: str, by_user) -> Payment:
    """Staff takes cash or a card-terminal payment: a PAID charge at once.

    At most the remaining amount. Open online charges are cancelled first so a
    late provider success can't make the order pay twice (it is then refunded).
    The charge's user is the customer's user (None for a walk-in); the staff
    member is the event's actor. Locks: rental → payments.
    """
    _require_staff(by_user)
    amount = quantize_money(amount)
    if method not in COUNTER_METHODS:
        raise PaymentError(_("At the counter you can take cash or a bank card."), code="bad_method")
    if amount <= ZERO:
        raise PaymentError(_("The amount must be more than zero."), code="amount_not_positive")
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
        provider="counter",
        description=_("Paid at the counter"),
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
        title=_("Payment of %(amount)s received") % {"amount": format_cny(amount)},
        message=_("Order #%(order)s was paid at the counter.") % {"order": locked.pk},
    )
    rental.refresh_from_db()
    return charge


@transaction.atomic
def record_manual_refund(
    *, rental: Rental, amount: Decimal, reason: str, by_user, user=None, method: str | None = None
) -> Payment:
    """Staff gives money back by hand: at most net paid, with a reason.

    Used for goodwill refunds and for orders flagged ``requires_manual_refund``
    (no user to refund automatically). ``user`` receives it; None → the §5
    fallback (which may be nobody for a walk-in paid back in cash).
    Locks: rental.
    """
    _require_staff(by_user)
    reason = (reason or "").strip()
    if not reason:
        raise RefundError(_("Please give a reason for the refund."), code="reason_required")
    locked = lock_rental(rental.pk)
    recipient = user if user is not None else selectors.refund_recipient(locked)
    refund = issue_refund(
        rental=locked,
        amount=amount,
        user=recipient,
        method=method,
        description=_("Manual refund: %(reason)s") % {"reason": reason},
        actor=by_user,
        event="manual_refund",
        payload={"reason": reason, "staff": by_user.get_username()},
    )
    locked.refresh_financials()
    rental.refresh_from_db()
    return refund
