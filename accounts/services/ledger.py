"""Building blocks of every money write: transaction ids, the payment audit row, status moves of a payment, closing open charges, the staff check."""

import logging
import secrets
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import providers
from accounts.exceptions import InvalidPaymentTransition, PaymentError
from accounts.locks import lock_open_charges
from accounts.models import Payment, PaymentEvent
from rentals.models import Rental

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
            % {"tx": payment.transaction_id, "from": payment.status, "to": to_status},
            code="invalid_payment_transition",
        )
    from_status = payment.status
    payment.status = to_status
    if payment.closing_as and to_status not in Payment.OPEN_STATUSES:
        fields = {**fields, "closing_as": ""}  # closed, paid or failed: no longer closing
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


def close_open_charge(
    *,
    charge: Payment,
    to_status: str,
    reason: str,
    actor: Any = None,
    payload: dict | None = None,
    ask_after_commit: bool = True,
) -> None:
    """Expire or cancel an open charge (locked, with its rental) the customer
    must no longer complete (SPEC §17).

    A charge of an online provider is closed there first: it becomes
    "closing" now (``closing_as`` = ``to_status``; it can't be paid or reused
    here and no longer blocks a new charge) and, after commit, its provider
    is asked to close it; only then does it become ``to_status``, or PAID if
    the provider says it was paid (``accounts.services.closing``). Until
    then ``sync_payments`` keeps asking. Any other charge moves at once.
    ``ask_after_commit`` False: the caller asks the provider itself.
    """
    if to_status not in Payment.CLOSING_OUTCOMES:
        raise ValueError(f"a charge is closed as EXPIRED or CANCELLED, not {to_status}")
    details = {"reason": reason, **(payload or {})}
    event = "charge_expired" if to_status == Payment.Status.EXPIRED else "charge_cancelled"
    if not providers.is_online(charge.provider):
        transition_payment(
            payment=charge, to_status=to_status, event=event, actor=actor, payload=details, failure_reason=reason[:255]
        )
        return
    if charge.closing_as:
        return  # already being closed
    charge.closing_as = to_status
    charge.failure_reason = reason[:255]
    charge.save(update_fields=["closing_as", "failure_reason", "updated_at"])
    record_payment_event(event="charge_closing", payment=charge, actor=actor, payload={"then": to_status, **details})
    if ask_after_commit:
        enqueue_close(charge.pk)


def finish_closing(*, charge: Payment, source: str) -> None:
    """A closing charge (locked, with its rental) that its provider has closed,
    or never had: it becomes what it was closing as."""
    to_status = charge.closing_as
    # The move is audited as the one who closed it (the customer, staff, a job).
    started = PaymentEvent.objects.filter(payment=charge, event="charge_closing").select_related("actor").last()
    actor = started.actor if started is not None else None
    record_payment_event(event="charge_closed", payment=charge, payload={"source": source})
    transition_payment(
        payment=charge,
        to_status=to_status,
        event="charge_expired" if to_status == Payment.Status.EXPIRED else "charge_cancelled",
        actor=actor,
        payload={"reason": charge.failure_reason, "source": source, "closed_at_provider": True},
    )


def enqueue_close(charge_id: int) -> None:
    """Ask the charge's provider to close it once the current transaction commits."""
    from accounts.services.closing import close_at_provider  # it imports this module
    from car_rental_system import jobs

    jobs.after_commit("accounts.tasks.close_charge", charge_id, run_now=lambda: close_at_provider(payment_id=charge_id))


def cancel_open_charges(*, rental: Rental, reason: str, actor: Any = None) -> list[Payment]:
    """Close every charge the customer could still complete (rental already locked):
    each is closed at its provider, then CANCELLED (:func:`close_open_charge`).

    A provider may still report success for one of them later; handle_callback
    then records the money and refunds what the order can't use.
    """
    charges = lock_open_charges(rental.pk)
    for charge in charges:
        close_open_charge(charge=charge, to_status=Payment.Status.CANCELLED, reason=reason, actor=actor)
    return charges


def _require_staff(by_user: Any) -> None:
    if by_user is None or not getattr(by_user, "is_staff", False):
        raise PaymentError(_("Only staff can do this."), code="staff_only")
