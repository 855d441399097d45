"""Charges we expire or cancel are closed at their provider first (SPEC §17).

``accounts.services.ledger.close_open_charge`` makes a charge "closing";
after commit (and on every ``sync_payments`` run until it is done) the
provider is asked to close it here, and its answer decides what the charge
becomes: closed, or never created, → the status it was closing as (EXPIRED
or CANCELLED); paid → PAID, applied as a late success (SPEC §6), and given
back if the order can no longer use it.
"""

import logging
from typing import Any

from django.db import transaction

from accounts import providers
from accounts.locks import lock_payment
from accounts.models import Payment
from accounts.services.callbacks import _apply_callback
from accounts.services.ledger import finish_closing
from rentals.locks import lock_rental

logger = logging.getLogger(__name__)

# Close answers that say the charge can no longer be paid.
CLOSED_ANSWERS = (
    providers.QueryStatus.CLOSED,
    providers.QueryStatus.NOT_FOUND,  # never created counts as closed
    providers.CallbackStatus.CANCELLED,
    providers.CallbackStatus.FAILED,
)


def _query_event(*, payment: Payment, answer: Any, round_: str = "") -> providers.CallbackEvent:
    """A provider's answer to a query or a close, as the callback it stands for."""
    return providers.CallbackEvent(
        provider=payment.provider,
        event_id=f"query:{payment.transaction_id}:{answer.status}{round_}",
        transaction_id=payment.transaction_id,
        status=answer.status,
        amount=answer.amount if answer.amount is not None else payment.amount,
        failure_reason=answer.failure_reason,
        provider_reference=answer.provider_reference,
    )


def close_at_provider(*, payment_id: int) -> str:
    """Ask the provider of a closing charge to close it and apply the answer.

    Returns the provider's answer (a ``CallbackStatus`` or ``QueryStatus``
    value; "" when the charge was not closing any more). Raises
    :class:`~accounts.providers.ProviderError` when there is no usable answer:
    the charge stays closing and is asked about again. No lock is held across
    the provider call; the answer is applied under rental → payment locks.
    """
    charge = Payment.objects.filter(pk=payment_id).first()
    if charge is None or not charge.is_closing:
        return ""
    answer = providers.get_provider(charge.provider).close_charge(transaction_id=charge.transaction_id)
    if answer.status == providers.CallbackStatus.SUCCEEDED:
        # Paid before the provider could close it: the money is ours (SPEC §6).
        _apply_callback(
            event=_query_event(payment=charge, answer=answer),
            payment_id=charge.pk,
            rental_id=charge.rental_id,
            verdict="queried",
        )
    elif answer.status in CLOSED_ANSWERS:
        _closed(payment_id=charge.pk, rental_id=charge.rental_id)
    else:
        logger.warning("charge %s: close answered %s; still closing", charge.transaction_id, answer.status)
    return answer.status


@transaction.atomic
def _closed(*, payment_id: int, rental_id: int) -> None:
    lock_rental(rental_id)
    charge = lock_payment(payment_id)
    if charge.is_closing:
        finish_closing(charge=charge, source="close")
