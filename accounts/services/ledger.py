"""Building blocks of every money write: transaction ids, the payment audit row, status moves of a payment, closing open charges, the staff check."""

import logging
import secrets
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.exceptions import InvalidPaymentTransition, PaymentError
from accounts.locks import lock_open_charges
from accounts.models import Payment, PaymentEvent
from rentals.models import Rental, status_label

logger = logging.getLogger(__name__)


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
    actor: Any = None,
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


def transition_payment(
    *,
    payment: Payment,
    to_status: str,
    event: str = "status_changed",
    actor: Any = None,
    payload: dict | None = None,
    **fields: Any,
) -> Payment:
    """Move a (locked) payment along its transition table and audit the move."""
    if not payment.can_transition_to(to_status):
        raise InvalidPaymentTransition(
            _("Payment %(tx)s cannot go from %(from)s to %(to)s.")
            % {
                "tx": payment.transaction_id,
                "from": status_label(Payment.Status, payment.status),
                "to": status_label(Payment.Status, to_status),
            },
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


def cancel_open_charges(*, rental: Rental, reason: str, actor: Any = None) -> list[Payment]:
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


def _require_staff(by_user: Any) -> None:
    if by_user is None or not getattr(by_user, "is_staff", False):
        raise PaymentError(_("Only staff can do this."), code="staff_only")
